"""CivitAI's public models API: turn a model page link or an AIR into what the bot needs to
know about a checkpoint or LoRA, and decide whether a LoRA fits.

Stable API for the commands (e.g. `/lora`):

- `await CivitaiModels(session, base_url=..., token=...).resolve(ref) -> CivitaiModelInfo`, or
  `CivitaiModels.from_config(config, session)` to use `[providers.civitai] models_base_url` and
  the CivitAI token when that provider is enabled. `resolve(ref, session=...)` is the same as a
  plain function.
  `ref` is a civitai.com model page URL (`https://civitai.com/models/{id}[/slug]
  [?modelVersionId={versionId}]`), a download link (`/api/download/models/{versionId}`) or
  an AIR (`urn:air:{ecosystem}:{type}:civitai:{modelId}[@{versionId}]`). Without a version
  the model's newest version is used. A link on the configured models host reads as the same
  link on civitai.com. The info's `download_url` is the version's `downloadUrl`, or
  `{base}/api/download/models/{versionId}` when the API gives none: the link fal and Replicate
  (replicate/cog-flux `weights.py`) load a CivitAI LoRA from; they can't load a page link.
  Raises `InvalidRequest` (shown to the member as is) when the reference is malformed or
  CivitAI has no such model/version, and `ProviderError("civitai", ...)` when the API cannot
  be reached or refuses the token.
- `check_lora_fit(info, *, checkpoint_base_model, allow_nsfw)`: a pure check that raises
  `InvalidRequest` naming the reason when the model is not a LoRA, was made for another base
  model family than the checkpoint, or is NSFW (or blocked) where the server forbids it.

Calls: `GET {base}/api/v1/models/{modelId}` (name, type, nsfw, nsfwLevel, creator, licence
flags and every version), and `GET {base}/api/v1/model-versions/{versionId}` only when the
version asked for is not listed there. Redirects are followed by hand (`netguard`): within the
base's origin or to a public https address, at most three hops, the token never leaving the base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import yarl

from bot.errors import InvalidRequest, ProviderError
from bot.i18n import N_, _
from bot.moderation.netguard import NotPublic, check_public_url, guarded_get
from bot.providers.base import http_tag
from bot.providers.civitai_families import base_model_family
from bot.providers.civitai_families import check_lora_fit as check_lora_fit  # re-exported
from bot.providers.civitai_families import family_name as family_name  # re-exported

if TYPE_CHECKING:
    from bot.config import Config

DEFAULT_MODELS_BASE_URL = "https://civitai.com"
METRICS_TAG = http_tag("civitai")  # its calls go over the bot's session

AIR_PATTERN = re.compile(
    r"^urn:air:(?P<ecosystem>[a-z0-9_.\-]+):(?P<type>[a-z0-9_\-]+):civitai:"
    r"(?P<model>\d+)(?:@(?P<version>\d+))?$",
    re.IGNORECASE,
)
_PAGE_HOSTS = ("civitai.com", "www.civitai.com", "civitai.green", "www.civitai.green")

# CivitAI's nsfwLevel is a bit set over the content: 1 PG, 2 PG-13, 4 R, 8 X, 16 XXX,
# 32 blocked. R and above counts as NSFW here. A version's level is the union of its showcase
# images' and the model's the union of its versions' (civitai/civitai nsfwLevels.service.ts),
# so the version's own level is the one that says what this LoRA is.
NSFW_LEVEL_R = 4
NSFW_LEVEL_X = 8
NSFW_LEVEL_XXX = 16
NSFW_LEVEL_BLOCKED = 32
_NSFW_BITS = NSFW_LEVEL_R | NSFW_LEVEL_X | NSFW_LEVEL_XXX

LORA_TYPES = ("LORA", "LoCon", "DoRA")
# Model type → the AIR's type segment (as civitai.com writes them).
_AIR_TYPES = {
    "Checkpoint": "checkpoint",
    "LORA": "lora",
    "LoCon": "lycoris",
    "DoRA": "dora",
    "TextualInversion": "embedding",
    "Hypernetwork": "hypernet",
    "VAE": "vae",
    "Controlnet": "controlnet",
    "Upscaler": "upscaler",
}


@dataclass(frozen=True)
class CivitaiModelInfo:
    model_id: int
    version_id: int
    name: str  # the model's name
    version_name: str
    type: str  # "LORA", "Checkpoint", "LoCon", ...
    base_model: str  # e.g. "SDXL 1.0", "SD 1.5", "Flux.1 D", "Pony"
    trained_words: tuple[str, ...]  # trigger words to put in the prompt
    nsfw: bool  # the creator's / moderators' NSFW flag
    nsfw_level: int  # bit set, see NSFW_LEVEL_*
    creator: str | None
    allow_commercial_use: tuple[str, ...]  # e.g. ("Image", "RentCivit", "Rent", "Sell")
    allow_derivatives: bool
    allow_no_credit: bool
    allow_different_license: bool
    air: str  # urn:air:{ecosystem}:{type}:civitai:{modelId}@{versionId}
    page_url: str
    download_url: str | None = None

    @property
    def is_lora(self) -> bool:
        return self.type in LORA_TYPES

    @property
    def is_nsfw(self) -> bool:
        return self.nsfw or bool(self.nsfw_level & (_NSFW_BITS | NSFW_LEVEL_BLOCKED))

    @property
    def is_blocked(self) -> bool:
        return bool(self.nsfw_level & NSFW_LEVEL_BLOCKED)

    @property
    def family(self) -> str:
        return base_model_family(self.base_model)


@dataclass(frozen=True)
class ModelRef:
    model_id: int | None  # None: only the version is known (a download link)
    version_id: int | None


def parse_ref(ref: str) -> ModelRef:
    """A model page URL or an AIR → ids; InvalidRequest when it is neither."""
    text = (ref or "").strip().strip("<>")
    match = AIR_PATTERN.match(text)
    if match:
        version = match["version"]
        return ModelRef(int(match["model"]), int(version) if version else None)
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.hostname in _PAGE_HOSTS:
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) >= 2 and segments[0] == "models" and segments[1].isdigit():
            versions = parse_qs(parts.query).get("modelVersionId") or []
            version = versions[0] if versions else None
            if version is not None and not version.isdigit():
                raise InvalidRequest(
                    _(
                        "modelVersionId={version!r} in {link} is not a number.",
                        version=version,
                        link=text,
                    )
                )
            return ModelRef(int(segments[1]), int(version) if version else None)
        download = segments[:3] == ["api", "download", "models"] and len(segments) == 4
        if download and segments[3].isdigit():
            return ModelRef(None, int(segments[3]))
    raise InvalidRequest(
        _(
            "{text!r} is not a CivitAI model link or AIR: paste a link like "
            "https://civitai.com/models/12345 (optionally ?modelVersionId=…) or an AIR like "
            "urn:air:sdxl:lora:civitai:12345@67890.",
            text=text,
        )
    )


class CivitaiModels:
    """A small client for the public models API on the bot's aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str = DEFAULT_MODELS_BASE_URL,
        token: str | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        self._session = session
        self._base = (base_url or DEFAULT_MODELS_BASE_URL).rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=10)

    @classmethod
    def from_config(cls, config: Config, session: aiohttp.ClientSession) -> CivitaiModels:
        settings = config.providers["civitai"]
        key = config.secrets.provider_keys.get("civitai")
        return cls(
            session,
            base_url=settings.models_base_url or DEFAULT_MODELS_BASE_URL,
            token=key.get() if key is not None else None,
        )

    async def resolve(self, ref: str) -> CivitaiModelInfo:
        wanted = parse_ref(self._as_civitai(ref))
        if wanted.model_id is None:
            assert wanted.version_id is not None
            version = await self._get(
                f"/api/v1/model-versions/{wanted.version_id}",
                _("model version {id}", id=wanted.version_id),
            )
            owner = _int(version.get("modelId"))
            if owner is None:
                raise ProviderError(
                    "civitai",
                    _("CivitAI did not say which model that version belongs to"),
                    retryable=False,
                )
            wanted = ModelRef(owner, wanted.version_id)
        model = await self._get(
            f"/api/v1/models/{wanted.model_id}", _("model {id}", id=wanted.model_id)
        )
        versions = [v for v in model.get("modelVersions") or [] if isinstance(v, dict)]
        if wanted.version_id is None:
            if not versions:
                raise InvalidRequest(
                    _("CivitAI model {id} has no published version.", id=wanted.model_id)
                )
            version = versions[0]
        else:
            listed = [v for v in versions if v.get("id") == wanted.version_id]
            if listed:
                version = listed[0]
            else:
                version = await self._get(
                    f"/api/v1/model-versions/{wanted.version_id}",
                    _("model version {id}", id=wanted.version_id),
                )
                owner = version.get("modelId")
                if isinstance(owner, int) and owner != wanted.model_id:
                    raise InvalidRequest(
                        _(
                            "Version {version} belongs to CivitAI model {owner}, not {model}.",
                            version=wanted.version_id,
                            owner=owner,
                            model=wanted.model_id,
                        )
                    )
        return _info(model, version, *self._links(int(model.get("id") or 0), version))

    def _as_civitai(self, ref: str) -> str:
        """A link on the configured models host (a mirror, a proxy, a test's fake) is read as
        the same link on civitai.com: library rows keep download links on that host."""
        ref = (ref or "").strip()
        if self._base != DEFAULT_MODELS_BASE_URL and ref.startswith(self._base + "/"):
            return DEFAULT_MODELS_BASE_URL + ref[len(self._base) :]
        return ref

    def _links(self, model_id: int, version: dict[str, Any]) -> tuple[str, str | None]:
        """The version's page and download link (the API's `downloadUrl`, else built)."""
        url = f"{self._base}/models/{model_id}"
        version_id = version.get("id")
        download = version.get("downloadUrl")
        if not isinstance(version_id, int):
            return url, download if isinstance(download, str) and download else None
        if not isinstance(download, str) or not download:
            download = f"{self._base}/api/download/models/{version_id}"
        return f"{url}?modelVersionId={version_id}", download

    async def _get(self, path: str, what: str) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        url = self._base + path
        try:
            async with guarded_get(
                self._session,
                url,
                check=self._check_hop,
                what=N_("CivitAI's models API"),
                headers=headers,
                timeout=self._timeout,
                trace_request_ctx=METRICS_TAG,
            ) as response:
                if response.status == 404:
                    raise InvalidRequest(_("CivitAI has no {what}.", what=what))
                if response.status in (401, 403):
                    raise ProviderError(
                        "civitai",
                        _(
                            "CivitAI refused to show {what} (HTTP {status}): it may be private "
                            "or in early access",
                            what=what,
                            status=response.status,
                        ),
                        retryable=False,
                        status=response.status,
                    )
                if response.status >= 400:
                    raise ProviderError(
                        "civitai",
                        _("CivitAI's models API answered HTTP {status}", status=response.status),
                        retryable=response.status == 429 or response.status >= 500,
                        status=response.status,
                    )
                data = await response.json(content_type=None)
        except (InvalidRequest, ProviderError):
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError(
                "civitai",
                _("CivitAI's models API could not be read ({error})", error=type(exc).__name__),
                retryable=True,
            ) from exc
        if not isinstance(data, dict):
            raise ProviderError(
                "civitai", _("CivitAI sent no details for {what}", what=what), retryable=True
            )
        return data

    async def _check_hop(self, target: yarl.URL, hop: int) -> None:
        """The configured base (the operator's choice) and its origin are trusted; a redirect
        elsewhere must lead to a public https address."""
        if target.origin() == yarl.URL(self._base).origin():
            return
        try:
            await check_public_url(str(target))
            if target.scheme != "https":
                raise NotPublic(_("{link!r} is not an https link.", link=str(target)[:80]))
        except NotPublic as exc:
            raise ProviderError(
                "civitai",
                _("CivitAI's models API redirected to a link I won't follow: {reason}", reason=exc),
                retryable=False,
            ) from None


async def resolve(
    ref: str,
    *,
    session: aiohttp.ClientSession,
    base_url: str = DEFAULT_MODELS_BASE_URL,
    token: str | None = None,
) -> CivitaiModelInfo:
    """`CivitaiModels(session, base_url=base_url, token=token).resolve(ref)`."""
    return await CivitaiModels(session, base_url=base_url, token=token).resolve(ref)


def make_air(base_model: str, model_type: str, model_id: int, version_id: int) -> str:
    ecosystem = base_model_family(base_model)
    ecosystem = re.sub(r"[^a-z0-9]+", "", ecosystem) or "unknown"
    kind = _AIR_TYPES.get(model_type, model_type.lower() or "unknown")
    return f"urn:air:{ecosystem}:{kind}:civitai:{model_id}@{version_id}"


def _info(
    model: dict[str, Any], version: dict[str, Any], page_url: str, download_url: str | None
) -> CivitaiModelInfo:
    nested: dict[str, Any] = version["model"] if isinstance(version.get("model"), dict) else {}
    model_id = _int(model.get("id")) or _int(version.get("modelId")) or 0
    version_id = _int(version.get("id")) or 0
    model_type = str(model.get("type") or nested.get("type") or "")
    base_model = str(version.get("baseModel") or "")
    air = version.get("air")
    if not (isinstance(air, str) and AIR_PATTERN.match(air)):
        air = make_air(base_model, model_type, model_id, version_id)
    creator = model.get("creator")
    commercial = commercial_uses(model.get("allowCommercialUse"))
    words = version.get("trainedWords") or []
    return CivitaiModelInfo(
        model_id=model_id,
        version_id=version_id,
        name=str(model.get("name") or nested.get("name") or f"model {model_id}"),
        version_name=str(version.get("name") or ""),
        type=model_type,
        base_model=base_model,
        trained_words=tuple(str(w).strip() for w in words if str(w).strip()),
        nsfw=bool(model.get("nsfw") or nested.get("nsfw")),
        # the version's own level; the model's (every version's) only when it has none (0:
        # not rated yet)
        nsfw_level=_int(version.get("nsfwLevel")) or _int(model.get("nsfwLevel")) or 0,
        creator=str(creator.get("username")) if isinstance(creator, dict) else None,
        allow_commercial_use=commercial,
        allow_derivatives=bool(model.get("allowDerivatives", False)),
        allow_no_credit=bool(model.get("allowNoCredit", False)),
        allow_different_license=bool(model.get("allowDifferentLicense", False)),
        air=air,
        page_url=page_url,
        download_url=download_url,
    )


def commercial_uses(value: Any) -> tuple[str, ...]:
    """`allowCommercialUse`: a list, a set as a string (`"{Image,RentCivit}"`), or `"None"`."""
    if isinstance(value, str):
        value = value.strip().strip("{}").split(",")
    uses = (str(v).strip() for v in value) if isinstance(value, list | tuple) else ()
    return tuple(use for use in uses if use and use != "None")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
