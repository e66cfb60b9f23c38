"""Building on each other's images: derived jobs (reroll, variations, remix, upscale), LoRAs
from the server's library, and lineage.

Cogs call these with what the interaction gave them (who, where, which attachment URLs) and get
back a job id or a refusal (`InvalidRequest`/`QuotaExceeded`) whose text is shown as is. The new
job is always charged to the member who asked for it; the parent's author gets the credit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlparse

import aiohttp

from bot.community.images import PreparedImage, image_origins, is_discord_url, load_input_image
from bot.config import Config
from bot.delivery.downloads import ImageFile, fetch_posted_image
from bot.delivery.text import escape
from bot.errors import DeliveryError, InvalidRequest, ProviderError
from bot.jobs.intake import JobService, Origin
from bot.moderation.netguard import Resolver, check_provider_link, origin_of, system_resolver
from bot.providers.civitai_models import DEFAULT_MODELS_BASE_URL, CivitaiModels, check_lora_fit
from bot.providers.request import GenerationRequest, LoraRef, build_request
from db.database import Database
from db.jobs import JobRow
from db.loras import LoraRow

STRENGTH_WORDS = {"subtle": 0.35, "strong": 0.75}
VARIATION_STRENGTH = 0.6  # the V buttons
MAX_LORAS = 3
_LORA_NAME = re.compile(r"^[\w][\w .\-]{0,39}$")
_ATTACHMENT_NAME = re.compile(r"^(?:SPOILER_)?art-(\d+)-(\d+)\.\w+$")


def _is_civitai(path: str) -> bool:
    host = (urlparse(path).hostname or "").lower()
    return path.startswith("urn:air:") or host in ("civitai.com", "www.civitai.com")


def parse_strength(text: str | None) -> float | None:
    """`subtle`, `strong` or a number from 0.05 to 1.0."""
    if text is None or not text.strip():
        return None
    word = text.strip().lower()
    if word in STRENGTH_WORDS:
        return STRENGTH_WORDS[word]
    try:
        value = float(word)
    except ValueError:
        raise InvalidRequest(
            f"strength {text!r} is not valid: use subtle, strong, or a number from 0.05 to 1.0."
        ) from None
    if not 0.05 <= value <= 1.0:
        raise InvalidRequest(f"strength must be between 0.05 and 1.0 (got {value:g}).")
    return value


def validate_lora_url(url: str) -> str:
    """Accept only what a provider can fetch itself: an https `.safetensors` file, a Hugging
    Face repository or file, or a CivitAI model/download URL or AIR. Returns it normalised."""
    url = url.strip()
    if url.startswith("urn:air:"):
        if re.fullmatch(r"urn:air:[\w.-]+:lora:civitai:\d+@\d+", url):
            return url
        raise InvalidRequest(
            f"{url!r} is not a CivitAI LoRA AIR "
            "(urn:air:<ecosystem>:lora:civitai:<model>@<version>)."
        )
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise InvalidRequest(f"LoRA URLs must start with https:// (got {url[:80]!r}).")
    host = parsed.hostname.lower()
    path = parsed.path
    if host in ("huggingface.co", "www.huggingface.co"):
        if len([p for p in path.split("/") if p]) >= 2:
            return url
        raise InvalidRequest(
            "A Hugging Face LoRA URL must name a repository: huggingface.co/owner/repo."
        )
    if host in ("civitai.com", "www.civitai.com"):
        if re.match(r"^/(models/\d+|api/download/models/\d+)", path):
            return url
        raise InvalidRequest(
            "A CivitAI LoRA URL must be a model page (civitai.com/models/<id>) or a download link."
        )
    if path.lower().endswith(".safetensors"):
        return url
    raise InvalidRequest(
        "That is not a LoRA I can use: give an https link to a .safetensors file, a Hugging Face "
        "repository, or a CivitAI model."
    )


@dataclass(frozen=True)
class LoraChoice:
    """What the member typed for one LoRA option."""

    ref: str  # a library name or a URL
    scale: float | None = None


@dataclass(frozen=True)
class Lineage:
    chain: tuple[JobRow, ...]  # root first, the asked-for job last
    children: tuple[JobRow, ...]


class CollabService:
    def __init__(
        self, config: Config, db: Database, jobs: JobService, session: aiohttp.ClientSession
    ) -> None:
        self._config = config
        self._db = db
        self._jobs = jobs
        self._session = session
        self._image_origins = image_origins([config.discord.api_base])
        civitai_api = origin_of(
            config.providers["civitai"].models_base_url or DEFAULT_MODELS_BASE_URL
        )
        self._trusted_lora_origins = (civitai_api,) if civitai_api else ()
        self.resolver: Resolver = system_resolver  # a seam: tests answer for names

    # -- input images ---------------------------------------------------------------------

    async def _prepare(self, url: str, size: int | None) -> PreparedImage:
        if not is_discord_url(url, self._image_origins):
            raise InvalidRequest("Only images attached on Discord can be used.")
        return await load_input_image(
            self._session, url, declared_size=size, origins=self._image_origins
        )

    async def posted_image(self, url: str, *, stem: str, limit: int) -> ImageFile:
        """A result image already on Discord, downloaded (capped) by a URL Discord signed for
        this interaction, so a new post (gallery, report) can carry its own copy."""
        if not is_discord_url(url, self._image_origins):
            raise DeliveryError("only images posted on Discord can be copied", retryable=False)
        return await fetch_posted_image(self._session, url, stem=stem, limit=limit)

    async def _create_with_image(
        self,
        image: PreparedImage,
        source_url: str,
        origin: Origin,
        build: dict[str, object],
        *,
        kind: str,
        parent: JobRow | None = None,
        parent_image: int | None = None,
    ) -> int:
        image_id = await self._db.images.save(
            image.data, image.content_type, image.width, image.height, source_url
        )
        try:
            request = build_request(self._config, image_id=image_id, **build)  # type: ignore[arg-type]
            return await self._jobs.create(
                request, origin, kind=kind, parent=parent, parent_image=parent_image
            )
        except Exception:
            await self._db.images.delete(image_id)
            raise

    # -- /variations and "Make variations" --------------------------------------------------

    async def variations_from_attachment(
        self,
        origin: Origin,
        *,
        url: str,
        size: int | None,
        content_type: str | None,
        prompt: str | None,
        strength: str | None,
        count: int | None,
        provider: str | None,
        source_message_id: int | None = None,
    ) -> int:
        """Variations of an uploaded image. When the image is one of this bot's results (the
        message command on a result), the new job inherits its prompt and credits it."""
        parent: JobRow | None = None
        parent_image: int | None = None
        if source_message_id is not None:
            found = await self._db.jobs.by_message(source_message_id)
            if found is not None and found.guild_id == origin.guild_id and found.state == "done":
                parent = found
                match = _ATTACHMENT_NAME.match(urlparse(url).path.rsplit("/", 1)[-1])
                parent_image = int(match.group(2)) - 1 if match else None
                if prompt is None:
                    prompt = GenerationRequest.from_json(found.inputs_json).prompt
        if content_type and not content_type.startswith("image/"):
            raise InvalidRequest(
                f"That attachment is {content_type}, not an image: attach a PNG, JPEG or WebP."
            )
        value = parse_strength(strength)
        # Validate the options before downloading anything.
        build: dict[str, object] = {
            "prompt": prompt or "a variation of this image",
            "provider": provider,
            "count": count,
            "mode": "img2img",
            "strength": value if value is not None else VARIATION_STRENGTH,
        }
        build_request(self._config, image_id=0, **build)  # type: ignore[arg-type]
        image = await self._prepare(url, size)
        return await self._create_with_image(
            image, url, origin, build, kind="variation", parent=parent, parent_image=parent_image
        )

    # -- result buttons --------------------------------------------------------------------

    async def parent_for(self, job_id: int, guild_id: int | None, index: int | None) -> JobRow:
        """The parent job of a button click, checked on the server side."""
        job = await self._db.jobs.get(job_id)
        if job is None:
            raise InvalidRequest("That result no longer exists.")
        if job.guild_id != guild_id:
            raise InvalidRequest("That result belongs to another server.")
        if job.state != "done":
            raise InvalidRequest("That job has no finished images to build on.")
        if job.deleted_at is not None:
            raise InvalidRequest("That result was deleted.")
        if index is not None and not 0 <= index < job.image_count:
            raise InvalidRequest(
                f"That result has only {job.image_count} image"
                + ("s" if job.image_count != 1 else "")
                + f"; there is no image {index + 1}."
            )
        return job

    def _image_url(self, parent: JobRow, index: int, attachment_urls: Sequence[str]) -> str:
        """The clicked image: the message's own attachment (fresh Discord URL) when present,
        else the URL recorded when it was delivered."""
        for url in attachment_urls:
            name = urlparse(url).path.rsplit("/", 1)[-1]
            match = _ATTACHMENT_NAME.match(name)
            if match and int(match.group(1)) == parent.id and int(match.group(2)) == index + 1:
                return url
        recorded = (parent.result_json or {}).get("attachments") or []
        if index < len(recorded):
            return str(recorded[index])
        raise InvalidRequest("That image is no longer available on Discord.")

    def _inherit(self, parent: JobRow, **changes: object) -> dict[str, object]:
        request = GenerationRequest.from_json(parent.inputs_json)
        build: dict[str, object] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "provider": request.provider,
            "model": request.model if request.mode == "txt2img" and not request.loras else None,
            "aspect_ratio": request.aspect_ratio,
            "count": request.count,
            "steps": request.steps,
            "guidance": request.guidance,
            "loras": request.loras,
        }
        build.update(changes)
        return build

    async def reroll(self, parent: JobRow, origin: Origin) -> int:
        request = GenerationRequest.from_json(parent.inputs_json)
        await self._check_lora_links(request.loras)
        if request.mode == "txt2img":
            new = build_request(self._config, **self._inherit(parent, seed=None))  # type: ignore[arg-type]
            return await self._jobs.create(new, origin, kind="reroll", parent=parent)
        # An image-to-image result rerolls from the same input image, with a new seed.
        rerolled = replace(request, seed=None)
        return await self._jobs.create(rerolled, origin, kind="reroll", parent=parent)

    async def variation(
        self, parent: JobRow, index: int, origin: Origin, attachment_urls: Sequence[str]
    ) -> int:
        build = self._inherit(
            parent,
            model=None,
            mode="img2img",
            strength=VARIATION_STRENGTH,
            seed=None,
            loras=(),
        )
        build_request(self._config, image_id=0, **build)  # type: ignore[arg-type]
        url = self._image_url(parent, index, attachment_urls)
        image = await self._prepare(url, None)
        return await self._create_with_image(
            image, url, origin, build, kind="variation", parent=parent, parent_image=index
        )

    async def upscale(
        self, parent: JobRow, index: int, origin: Origin, attachment_urls: Sequence[str]
    ) -> int:
        request = GenerationRequest.from_json(parent.inputs_json)
        build: dict[str, object] = {
            "prompt": request.prompt,
            "provider": request.provider,
            "count": 1,
            "mode": "upscale",
            "upscale_factor": 2,
        }
        build_request(self._config, image_id=0, **build)  # type: ignore[arg-type]
        url = self._image_url(parent, index, attachment_urls)
        image = await self._prepare(url, None)
        return await self._create_with_image(
            image, url, origin, build, kind="upscale", parent=parent, parent_image=index
        )

    async def remix(
        self, parent: JobRow, origin: Origin, *, prompt: str, negative_prompt: str | None
    ) -> int:
        build = self._inherit(parent, prompt=prompt, negative_prompt=negative_prompt, seed=None)
        request = GenerationRequest.from_json(parent.inputs_json)
        await self._check_lora_links(request.loras)
        if request.mode != "txt2img":
            new = replace(
                request,
                prompt=build_request(self._config, prompt=prompt).prompt,
                negative_prompt=(negative_prompt or "").strip() or None,
                seed=None,
            )
        else:
            new = build_request(self._config, **build)  # type: ignore[arg-type]
        return await self._jobs.create(new, origin, kind="remix", parent=parent)

    async def mark_deleted(self, job_id: int) -> None:
        await self._db.jobs.mark_deleted(job_id)

    # -- LoRAs -----------------------------------------------------------------------------

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
            raise InvalidRequest(f"At most {MAX_LORAS} LoRAs can be combined.")
        refs: list[LoraRef] = []
        triggers: list[str] = []
        for choice in choices:
            row = (
                await self._db.loras.get(guild_id, choice.ref.strip())
                if guild_id is not None
                else None
            )
            if row is not None:
                if row.nsfw and not channel_nsfw:
                    raise InvalidRequest(
                        f"The LoRA {escape(row.name)} is marked NSFW: use it in an "
                        "age-restricted channel."
                    )
                scale = row.default_scale if choice.scale is None else choice.scale
                refs.append(LoraRef(path=row.url, scale=scale, name=row.name))
                triggers += [w.strip() for w in row.trigger_words.split(",") if w.strip()]
                continue
            looks_like_link = "://" in choice.ref or choice.ref.startswith("urn:")
            if not looks_like_link:
                raise InvalidRequest(
                    f"There is no LoRA named {choice.ref!r} in this server's library "
                    "(see /loras list), and it is not a link."
                )
            path = validate_lora_url(choice.ref)
            scale = 1.0 if choice.scale is None else choice.scale
            if _is_civitai(path) and provider != "civitai":
                ref, words = await self._civitai_lora(path, scale, provider, channel_nsfw)
                refs.append(ref)
                triggers += words
                continue
            refs.append(LoraRef(path=path, scale=scale))
        await self._check_lora_links(refs)
        return tuple(refs), triggers

    async def _check_lora_links(self, loras: Sequence[LoraRef]) -> None:
        """Every LoRA link a provider would fetch must be public (`bot.moderation.netguard`):
        library rows (some stored before links were checked), links, CivitAI's download links,
        and the LoRAs a reroll or remix inherits."""
        for lora in loras:
            await check_provider_link(
                lora.path, trusted=self._trusted_lora_origins, resolver=self.resolver
            )

    async def _civitai_lora(
        self, path: str, scale: float, provider: str | None, channel_nsfw: bool
    ) -> tuple[LoraRef, list[str]]:
        """A CivitAI LoRA for a Flux provider: checked against Flux.1, passed on as a link
        the provider can fetch (the version's download link for fal, the page for Replicate)."""
        try:
            info = await CivitaiModels.from_config(self._config, self._session).resolve(path)
        except ProviderError as exc:
            raise InvalidRequest(f"I couldn't look that LoRA up on CivitAI: {exc.reason}") from None
        check_lora_fit(info, checkpoint_base_model="Flux.1 D", allow_nsfw=channel_nsfw)
        link = info.download_url if provider != "replicate" and info.download_url else info.page_url
        licence = "commercial use allowed" if info.allow_commercial_use else "no commercial use"
        by = f" by {info.creator}" if info.creator else ""
        credit = f"{info.name}{by} (CivitAI, {info.base_model}, {licence})"
        return LoraRef(path=link, scale=scale, name=info.name, credit=credit), list(
            info.trained_words
        )

    async def lora_job(
        self,
        origin: Origin,
        *,
        prompt: str,
        choices: Sequence[LoraChoice],
        channel_nsfw: bool,
        options: dict[str, object],
    ) -> int:
        provider = options.get("provider") or self._config.generation.default_provider
        loras, triggers = await self.resolve_loras(
            origin.guild_id, choices, channel_nsfw=channel_nsfw, provider=str(provider)
        )
        missing = [t for t in triggers if t.lower() not in prompt.lower()]
        if missing:
            prompt = f"{prompt.strip()}, {', '.join(missing)}"
        request = build_request(self._config, prompt=prompt, loras=loras, **options)  # type: ignore[arg-type]
        return await self._jobs.create(request, origin, kind="lora")

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
                "LoRA names are 1-40 letters, digits, spaces, dots, dashes or underscores."
            )
        scale = 1.0 if default_scale is None else default_scale
        if not -4.0 <= scale <= 4.0:
            raise InvalidRequest(f"default_scale must be between -4 and 4 (got {scale:g}).")
        url = validate_lora_url(url)
        await self._check_lora_links([LoraRef(path=url)])
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
                f"This server already has a LoRA named {name}: remove it first to replace it."
            )
        return row

    async def remove_lora(self, guild_id: int, name: str) -> None:
        if not await self._db.loras.remove(guild_id, name.strip()):
            raise InvalidRequest(f"There is no LoRA named {name!r} in this server's library.")

    async def lora(self, guild_id: int, name: str) -> LoraRow:
        row = await self._db.loras.get(guild_id, name.strip())
        if row is None:
            raise InvalidRequest(f"There is no LoRA named {name!r} in this server's library.")
        return row

    async def loras(self, guild_id: int, prefix: str = "", limit: int = 25) -> list[LoraRow]:
        return await self._db.loras.search(guild_id, prefix, limit)

    # -- lineage ---------------------------------------------------------------------------

    async def find_job(self, ref: str, guild_id: int | None) -> JobRow:
        """A job from `#123`, `123`, or a Discord message link to its result."""
        text = ref.strip().lstrip("#")
        job: JobRow | None = None
        link = re.search(r"/channels/(\d+|@me)/(\d+)/(\d+)", text)
        if link:
            job = await self._db.jobs.by_message(int(link.group(3)))
        elif text.isdigit():
            job = await self._db.jobs.get(int(text))
        else:
            raise InvalidRequest("Give a job number (like 123) or a link to a result message.")
        if job is None or job.guild_id != guild_id:
            raise InvalidRequest("I can't find that job in this server.")
        return job

    async def lineage(self, job: JobRow, *, max_depth: int = 50) -> Lineage:
        chain = [job]
        seen = {job.id}
        while chain[0].parent_job_id is not None and len(chain) < max_depth:
            parent = await self._db.jobs.get(chain[0].parent_job_id)
            if parent is None or parent.id in seen:
                break
            seen.add(parent.id)
            chain.insert(0, parent)
        children = await self._db.jobs.children(job.id)
        return Lineage(tuple(chain), tuple(children))
