"""LoRAs: links a provider can fetch, and the server's LoRA library.

A LoRA reaches a job from the library (by name) or as a link (https `.safetensors`, Hugging
Face, CivitAI page, download link or AIR). CivitAI links are looked up in CivitAI's public
models API, refused when they don't fit the checkpoint, and passed to fal and Replicate as the
version's download link (neither can load a page link); the library stores that link, and rows
kept as page links before are resolved as they are used. Every link a provider would fetch must
lead to a public server (`bot.moderation.netguard`), checked again whenever a job inherits it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlparse

import aiohttp

from bot.config import Config
from bot.delivery.text import escape
from bot.errors import InvalidRequest, ProviderError
from bot.i18n import _
from bot.jobs.intake import JobService
from bot.jobs.model import JobKind, Origin
from bot.moderation.netguard import Resolver, check_provider_link, origin_of, system_resolver
from bot.providers.civitai_models import (
    DEFAULT_MODELS_BASE_URL,
    CivitaiModelInfo,
    CivitaiModels,
    check_lora_fit,
)
from bot.providers.request import LoraRef, RequestOptions
from db.database import Database
from db.loras import LoraRow

MAX_LORAS = 3
_LORA_NAME = re.compile(r"^[\w][\w .\-]{0,39}$")
_CIVITAI_HOSTS = ("civitai.com", "www.civitai.com")


def _download_link(info: CivitaiModelInfo) -> str:
    """The version's download link (`CivitaiModels.resolve` always finds or builds one)."""
    if info.download_url is None:
        raise InvalidRequest(_("CivitAI gives no download link for {name}.", name=info.name))
    return info.download_url


def validate_lora_url(url: str) -> str:
    """Accept only what a provider can fetch itself: an https `.safetensors` file, a Hugging
    Face repository or file, or a CivitAI model/download URL or AIR. Returns it normalised."""
    url = url.strip()
    if url.startswith("urn:air:"):
        if re.fullmatch(r"urn:air:[\w.-]+:lora:civitai:\d+@\d+", url):
            return url
        raise InvalidRequest(
            _(
                "{url!r} is not a CivitAI LoRA AIR "
                "(urn:air:<ecosystem>:lora:civitai:<model>@<version>).",
                url=url,
            )
        )
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise InvalidRequest(_("LoRA URLs must start with https:// (got {url!r}).", url=url[:80]))
    host = parsed.hostname.lower()
    path = parsed.path
    if host in ("huggingface.co", "www.huggingface.co"):
        if len([p for p in path.split("/") if p]) >= 2:
            return url
        raise InvalidRequest(
            _("A Hugging Face LoRA URL must name a repository: huggingface.co/owner/repo.")
        )
    if host in ("civitai.com", "www.civitai.com"):
        if re.match(r"^/(models/\d+|api/download/models/\d+)", path):
            return url
        raise InvalidRequest(
            _(
                "A CivitAI LoRA URL must be a model page (civitai.com/models/<id>) or a download "
                "link."
            )
        )
    if path.lower().endswith(".safetensors"):
        return url
    raise InvalidRequest(
        _(
            "That is not a LoRA I can use: give an https link to a .safetensors file, a Hugging "
            "Face repository, or a CivitAI model."
        )
    )


@dataclass(frozen=True)
class LoraChoice:
    """What the member typed for one LoRA option."""

    ref: str  # a library name or a URL
    scale: float | None = None


class LoraLibrary:
    """The server's library, LoRA links, and `/lora` jobs."""

    def __init__(
        self, config: Config, db: Database, jobs: JobService, session: aiohttp.ClientSession
    ) -> None:
        self._config = config
        self._db = db
        self._jobs = jobs
        self._session = session
        self._models_base = (
            config.providers["civitai"].models_base_url or DEFAULT_MODELS_BASE_URL
        ).rstrip("/")
        civitai_api = origin_of(self._models_base)
        self._trusted_lora_origins = (civitai_api,) if civitai_api else ()
        self.resolver: Resolver = system_resolver  # a seam: tests answer for names

    async def resolve_loras(
        self,
        guild_id: int | None,
        choices: Sequence[LoraChoice],
        *,
        channel_nsfw: bool,
        provider: str | None = None,
    ) -> tuple[tuple[LoraRef, ...], list[str]]:
        """Library names or direct references → LoraRefs, plus the trigger words to add.
        CivitAI references are looked up in CivitAI's public models API (name, base model,
        trigger words, NSFW level, creator, licence) and refused when they don't fit."""
        if len(choices) > MAX_LORAS:
            raise InvalidRequest(_("At most {most} LoRAs can be combined.", most=MAX_LORAS))
        refs: list[LoraRef] = []
        triggers: list[str] = []
        for choice in choices:
            row = (
                await self._db.loras.get(guild_id, choice.ref.strip())
                if guild_id is not None
                else None
            )
            if row is not None:
                ref, words = await self._library_lora(row, choice, provider, channel_nsfw)
                refs.append(ref)
                triggers += words
                continue
            looks_like_link = "://" in choice.ref or choice.ref.startswith("urn:")
            if not looks_like_link:
                raise InvalidRequest(
                    _(
                        "There is no LoRA named {name!r} in this server's library "
                        "(see /loras list), and it is not a link.",
                        name=choice.ref,
                    )
                )
            path = validate_lora_url(choice.ref)
            scale = 1.0 if choice.scale is None else choice.scale
            if self._is_civitai(path) and provider != "civitai":
                ref, words = await self._civitai_lora(path, scale, channel_nsfw)
                refs.append(ref)
                triggers += words
                continue
            refs.append(LoraRef(path=path, scale=scale))
        await self.check_links(refs)
        return tuple(refs), triggers

    async def check_links(self, loras: Sequence[LoraRef]) -> None:
        """Every LoRA link a provider would fetch must be public (`bot.moderation.netguard`):
        library rows (some stored before links were checked), links, CivitAI's download links,
        and the LoRAs a reroll or remix inherits."""
        for lora in loras:
            await check_provider_link(
                lora.path, trusted=self._trusted_lora_origins, resolver=self.resolver
            )

    async def _library_lora(
        self, row: LoraRow, choice: LoraChoice, provider: str | None, channel_nsfw: bool
    ) -> tuple[LoraRef, list[str]]:
        """A library row as a LoRA and its trigger words. A CivitAI row gets the checks and
        the download link a CivitAI link gets (old rows hold page links), its trigger words
        being the row's, else CivitAI's."""
        if row.nsfw and not channel_nsfw:
            raise InvalidRequest(
                _(
                    "The LoRA {name} is marked NSFW: use it in an age-restricted channel.",
                    name=escape(row.name),
                )
            )
        scale = row.default_scale if choice.scale is None else choice.scale
        words = [w.strip() for w in row.trigger_words.split(",") if w.strip()]
        if self._is_civitai(row.url) and provider != "civitai":
            ref, civitai_words = await self._civitai_lora(row.url, scale, channel_nsfw)
            return replace(ref, name=row.name), words or civitai_words
        return LoraRef(path=row.url, scale=scale, name=row.name), words

    def _is_civitai(self, path: str) -> bool:
        """A CivitAI AIR or link, on civitai.com or the configured models host."""
        host = (urlparse(path).hostname or "").lower()
        on_models_host = path.startswith(self._models_base + "/")
        return path.startswith("urn:air:") or host in _CIVITAI_HOSTS or on_models_host

    async def _civitai_info(self, path: str) -> CivitaiModelInfo:
        try:
            return await CivitaiModels.from_config(self._config, self._session).resolve(path)
        except ProviderError as exc:
            raise InvalidRequest(
                _("I couldn't look that LoRA up on CivitAI: {reason}", reason=exc.reason)
            ) from None

    async def _civitai_lora(
        self, path: str, scale: float, channel_nsfw: bool
    ) -> tuple[LoraRef, list[str]]:
        """A CivitAI LoRA for a Flux provider: checked against Flux.1, passed on as the
        version's download link, the one form both fal and Replicate load."""
        info = await self._civitai_info(path)
        check_lora_fit(info, checkpoint_base_model="Flux.1 D", allow_nsfw=channel_nsfw)
        link = _download_link(info)
        licence = (
            _("commercial use allowed") if info.allow_commercial_use else _("no commercial use")
        )
        fields = {"name": info.name, "base": info.base_model, "licence": licence}
        if info.creator:
            credit = _(
                "{name} by {creator} (CivitAI, {base}, {licence})", creator=info.creator, **fields
            )
        else:
            credit = _("{name} (CivitAI, {base}, {licence})", **fields)
        return LoraRef(path=link, scale=scale, name=info.name, credit=credit), list(
            info.trained_words
        )

    async def lora_job(
        self,
        origin: Origin,
        *,
        choices: Sequence[LoraChoice],
        channel_nsfw: bool,
        options: RequestOptions,
    ) -> int:
        """A `/lora` job: the LoRAs resolved, their trigger words added to the prompt."""
        options = await self.with_loras(options, origin.guild_id, choices, channel_nsfw)
        return await self._jobs.create(options.build(self._config), origin, kind=JobKind.LORA)

    async def with_loras(
        self,
        options: RequestOptions,
        guild_id: int | None,
        choices: Sequence[LoraChoice],
        channel_nsfw: bool,
    ) -> RequestOptions:
        """`options` with `choices` resolved (a style's LoRAs too) and their trigger words
        added to the prompt."""
        provider = options.provider or self._config.generation.default_provider
        loras, triggers = await self.resolve_loras(
            guild_id, choices, channel_nsfw=channel_nsfw, provider=provider
        )
        prompt = options.prompt
        missing = [t for t in triggers if t.lower() not in prompt.lower()]
        if missing:
            prompt = f"{prompt.strip()}, {', '.join(missing)}"
        return replace(options, prompt=prompt, loras=loras)

    async def add_lora(
        self,
        guild_id: int,
        *,
        name: str,
        url: str,
        trigger_words: str | None,
        default_scale: float | None,
        nsfw: bool,
        added_by: int,
    ) -> LoraRow:
        name = name.strip()
        if not _LORA_NAME.match(name):
            raise InvalidRequest(
                _("LoRA names are 1-40 letters, digits, spaces, dots, dashes or underscores.")
            )
        scale = 1.0 if default_scale is None else default_scale
        if not -4.0 <= scale <= 4.0:
            raise InvalidRequest(
                _("default_scale must be between -4 and 4 (got {scale:g}).", scale=scale)
            )
        url = validate_lora_url(url)
        if self._is_civitai(url):
            # kept as the download link providers load, not the page or AIR given
            info = await self._civitai_info(url)
            if not info.is_lora:
                raise InvalidRequest(
                    _(
                        "{name} is a {type} on CivitAI, not a LoRA.",
                        name=info.name,
                        type=info.type,
                    )
                )
            url = _download_link(info)
        await self.check_links([LoraRef(path=url)])
        row = LoraRow(
            guild_id=guild_id,
            name=name,
            url=url,
            trigger_words=", ".join(
                w.strip() for w in (trigger_words or "").split(",") if w.strip()
            ),
            default_scale=scale,
            nsfw=nsfw,
            added_by=added_by,
            created_at=time.time(),
        )
        if not await self._db.loras.add(row):
            raise InvalidRequest(
                _(
                    "This server already has a LoRA named {name}: remove it first to replace it.",
                    name=name,
                )
            )
        return row

    async def remove_lora(self, guild_id: int, name: str) -> None:
        if not await self._db.loras.remove(guild_id, name.strip()):
            raise InvalidRequest(
                _("There is no LoRA named {name!r} in this server's library.", name=name)
            )

    async def lora(self, guild_id: int, name: str) -> LoraRow:
        row = await self._db.loras.get(guild_id, name.strip())
        if row is None:
            raise InvalidRequest(
                _("There is no LoRA named {name!r} in this server's library.", name=name)
            )
        return row

    async def loras(self, guild_id: int, prefix: str = "", limit: int = 25) -> list[LoraRow]:
        return await self._db.loras.search(guild_id, prefix, limit)
