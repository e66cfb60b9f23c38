"""Building on each other's images: variations, rerolls, remixes and upscales of a result, and
variations of any image posted on Discord.

Cogs call these with what the interaction gave them (who, where, which attachment URLs) and get
back a job id or a refusal (`InvalidRequest`/`QuotaExceeded`) whose text is shown as is. The new
job is always charged to the member who asked for it; the parent's author gets the credit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import aiohttp

from bot.community.images import PreparedImage, image_origins, is_discord_url, load_input_image
from bot.community.loras import LoraLibrary
from bot.config import Config
from bot.delivery.downloads import ImageFile, fetch_posted_image
from bot.delivery.text import image_of
from bot.errors import DeliveryError, InvalidRequest
from bot.i18n import _, n_
from bot.jobs.intake import JobService
from bot.jobs.model import JobKind, JobState, Origin
from bot.providers.catalogue import catalogue_for, check_options, require_entry
from bot.providers.request import GenerationRequest, RequestOptions
from bot.studio.params import parse_params
from db.database import Database
from db.jobs import JobRow

STRENGTH_WORDS = {"subtle": 0.35, "strong": 0.75}  # also Vary (Subtle) and Vary (Strong)
NOMINAL_SIZE = (1024, 1024)
IMAGELESS = (JobKind.DESCRIBE, JobKind.ANIMATE)  # results with no image to build on
VARIATION_STRENGTH = 0.6  # the V buttons


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
            # i18n: keep "subtle" and "strong" in English: members type these words
            _(
                "strength {text!r} is not valid: use subtle, strong, or a number from 0.05 to 1.0.",
                text=text,
            )
        ) from None
    if not 0.05 <= value <= 1.0:
        raise InvalidRequest(
            _("strength must be between 0.05 and 1.0 (got {strength:g}).", strength=value)
        )
    return value


class Derivations:
    def __init__(
        self,
        config: Config,
        db: Database,
        jobs: JobService,
        session: aiohttp.ClientSession,
        loras: LoraLibrary,
    ) -> None:
        self._config = config
        self._db = db
        self._jobs = jobs
        self._session = session
        self._loras = loras
        self._image_origins = image_origins([config.discord.api_base])

    # -- input images ---------------------------------------------------------------------

    async def prepare(self, url: str, size: int | None) -> PreparedImage:
        if not is_discord_url(url, self._image_origins):
            raise InvalidRequest(_("Only images attached on Discord can be used."))
        return await load_input_image(
            self._session, url, declared_size=size, origins=self._image_origins
        )

    async def posted_image(self, url: str, *, stem: str, limit: int) -> ImageFile:
        """A result image already on Discord, downloaded (capped) by a URL Discord signed for
        this interaction, so a new post (gallery, report) can carry its own copy."""
        if not is_discord_url(url, self._image_origins):
            raise DeliveryError(_("only images posted on Discord can be copied"), retryable=False)
        return await fetch_posted_image(self._session, url, stem=stem, limit=limit)

    async def create_with_image(
        self,
        url: str,
        size: int | None,
        origin: Origin,
        options: RequestOptions | Callable[[int, int], RequestOptions],
        *,
        kind: JobKind,
        parent: JobRow | None = None,
        parent_image: int | None = None,
    ) -> int:
        """Options checked before anything is downloaded; the image stored, then the job (the
        image is dropped again when the job is refused). `options` may depend on the image's
        size (an outpaint's margins): then it is checked first at a nominal 1024x1024."""
        shaped = options if callable(options) else (lambda _w, _h: options)
        shaped(*NOMINAL_SIZE).build(self._config, image_id=0)
        image = await self.prepare(url, size)
        image_id = await self._db.images.save(
            image.data, image.content_type, image.width, image.height, url
        )
        try:
            request = shaped(image.width, image.height).build(self._config, image_id=image_id)
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
            if (
                found is not None
                and found.guild_id == origin.guild_id
                and found.state == JobState.DONE
            ):
                parent = found
                traced = image_of(url)
                parent_image = traced[1] if traced else None
                if prompt is None:
                    prompt = GenerationRequest.from_json(found.inputs_json).prompt
        if content_type and not content_type.startswith("image/"):
            raise InvalidRequest(
                _(
                    "That attachment is {type}, not an image: attach a PNG, JPEG or WebP.",
                    type=content_type,
                )
            )
        value = parse_strength(strength)
        options = RequestOptions(
            prompt=prompt or "a variation of this image",
            provider=provider,
            count=count,
            mode="img2img",
            strength=value if value is not None else VARIATION_STRENGTH,
        )
        return await self.create_with_image(
            url,
            size,
            origin,
            options,
            kind=JobKind.VARIATION,
            parent=parent,
            parent_image=parent_image,
        )

    # -- result buttons --------------------------------------------------------------------

    async def parent_for(self, job_id: int, guild_id: int | None, index: int | None) -> JobRow:
        """The parent job of a button click, checked on the server side."""
        job = await self._db.jobs.get(job_id)
        if job is None:
            raise InvalidRequest(_("That result no longer exists."))
        if job.guild_id != guild_id:
            raise InvalidRequest(_("That result belongs to another server."))
        if job.state != JobState.DONE:
            raise InvalidRequest(_("That job has no finished images to build on."))
        if job.deleted_at is not None:
            raise InvalidRequest(_("That result was deleted."))
        if index is not None and JobKind(job.kind) in IMAGELESS:
            raise InvalidRequest(_("That result has no image to build on."))
        if index is not None and not 0 <= index < job.image_count:
            raise InvalidRequest(
                n_(
                    "That result has only {n} image; there is no image {number}.",
                    "That result has only {n} images; there is no image {number}.",
                    job.image_count,
                    number=index + 1,
                )
            )
        return job

    def image_url(self, parent: JobRow, index: int, attachment_urls: Sequence[str]) -> str:
        """The clicked image: the message's own attachment (fresh Discord URL) when present,
        else the URL recorded when it was delivered."""
        for url in attachment_urls:
            if image_of(url) == (parent.id, index):
                return url
        recorded = (parent.result_json or {}).get("attachments") or []
        if index < len(recorded):
            return str(recorded[index])
        raise InvalidRequest(_("That image is no longer available on Discord."))

    async def reroll(self, parent: JobRow, origin: Origin) -> int:
        request = GenerationRequest.from_json(parent.inputs_json)
        await self._loras.check_links(request.loras)
        if request.mode == "txt2img":
            new = RequestOptions.inherited(request).fitted(self._config).build(self._config)
        else:  # an image-to-image result rerolls from the same input image, with a new seed
            new = replace(request, seed=None)
        return await self._jobs.create(new, origin, kind=JobKind.REROLL, parent=parent)

    async def variation(
        self,
        parent: JobRow,
        index: int,
        origin: Origin,
        attachment_urls: Sequence[str],
        strength: float = VARIATION_STRENGTH,
    ) -> int:
        request = GenerationRequest.from_json(parent.inputs_json)
        options = replace(
            RequestOptions.inherited(request),
            model=None,
            mode="img2img",
            strength=strength,
            loras=(),
        ).fitted(self._config)
        options.build(self._config, image_id=0)  # the options first, as for any job
        url = self.image_url(parent, index, attachment_urls)
        return await self.create_with_image(
            url, None, origin, options, kind=JobKind.VARIATION, parent=parent, parent_image=index
        )

    async def upscale(
        self, parent: JobRow, index: int, origin: Origin, attachment_urls: Sequence[str]
    ) -> int:
        request = GenerationRequest.from_json(parent.inputs_json)
        options = RequestOptions(
            prompt=request.prompt,
            provider=request.provider,
            count=1,
            mode="upscale",
            upscale_factor=2,
        )
        options.build(self._config, image_id=0)
        url = self.image_url(parent, index, attachment_urls)
        return await self.create_with_image(
            url, None, origin, options, kind=JobKind.UPSCALE, parent=parent, parent_image=index
        )

    async def remix(
        self, parent: JobRow, origin: Origin, *, prompt: str, negative_prompt: str | None
    ) -> int:
        request = GenerationRequest.from_json(parent.inputs_json)
        await self._loras.check_links(request.loras)
        negative_prompt = (negative_prompt or "").strip() or None
        if negative_prompt and not self.takes_negative_prompt(request):
            entry = require_entry(self._config, request.provider, request.model, request.mode)
            check_options(self._config, entry, options=("negative_prompt",))
        if request.mode != "txt2img":
            new = replace(
                request,
                prompt=RequestOptions(prompt=prompt).build(self._config).prompt,
                negative_prompt=negative_prompt,
                seed=None,
            )
        else:
            # Inherited values adapt to the model; what the member typed in the form (with any
            # `--ar 16:9` and the like in it) is checked.
            options = RequestOptions.inherited(request).fitted(self._config)
            typed = parse_params(prompt).over(options)
            new = replace(typed, negative_prompt=negative_prompt or typed.negative_prompt).build(
                self._config
            )
        return await self._jobs.create(new, origin, kind=JobKind.REMIX, parent=parent)

    def takes_negative_prompt(self, request: GenerationRequest) -> bool:
        """Whether a remix of this result can take a negative prompt (its form offers one)."""
        entry = catalogue_for(self._config).entry(request.provider, request.model, request.mode)
        return entry is not None and entry.takes("negative_prompt")

    async def mark_deleted(self, job_id: int) -> None:
        await self._db.jobs.mark_deleted(job_id)
