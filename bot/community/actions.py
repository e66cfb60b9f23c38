"""The image actions of a single image (issue 15): Vary (Subtle/Strong/Region), Zoom Out, Pan,
Animate, and the Imagine buttons of a /describe; also /describe and /blend themselves.

Each builds on `Derivations` (bot/community/derive.py): the parent is checked on the server
side, the clicked image is read from the message's own fresh attachment URL, the new job is
charged to whoever clicked and credits the image's author. Where the parent's provider has no
model for the action, the first enabled provider that has one does it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.community.canvas import padded
from bot.community.derive import STRENGTH_WORDS, Derivations
from bot.config import Config
from bot.delivery.text import image_of
from bot.errors import InvalidRequest
from bot.i18n import N_, _
from bot.jobs.intake import JobService
from bot.jobs.model import JobKind, JobState, Origin
from bot.providers.action import MAX_CHARGE, Action
from bot.providers.catalogue.checks import MODE_NAMES, mode_entry, provider_for
from bot.providers.catalogue.mapping import video_durations
from bot.providers.request import GenerationRequest, RequestOptions
from db.database import Database
from db.jobs import JobRow

ZOOMS = (1.5, 2.0)  # Zoom Out 1.5x, Zoom Out 2x
PAN_SHARE = 0.5  # a pan adds half the image's width (or height) on that side…
MAX_PAN_RATIO = 21 / 9  # …while the picture stays within 21:9 (or 9:21)
PANS = ("left", "right", "up", "down")
DEFAULT_EXPAND_LIMIT = 2048
MAX_FILL_MARGIN = 1024  # a pan by a fill model: its canvas is the bot's own


@dataclass(frozen=True)
class Attachment:
    """An image a member attached to a command."""

    url: str
    size: int | None = None
    content_type: str | None = None


ACTION_NAMES = {  # shown with `_`
    "outpaint": N_("Zoom Out and Pan"),
    "inpaint": N_("Vary (Region)"),
    "video": N_("Animate"),
    "describe": "/describe",
    "blend": "/blend",
}


def action_provider(config: Config, mode: str, preferred: str) -> str:
    """The provider for a `mode` job (`provider_for`), or a refusal naming the action."""
    found = provider_for(config, mode, preferred)  # type: ignore[arg-type]
    if found is None:
        what = _(ACTION_NAMES.get(mode, MODE_NAMES.get(mode, mode)))
        raise InvalidRequest(
            _("{action} is not set up on this bot: no model here does it.", action=what)
        )
    return found


def outpaint_margins(
    width: int, height: int, *, zoom: float | None = None, pan: str | None = None, limit: int
) -> tuple[tuple[int, int, int, int], float]:
    """(left, right, top, bottom) pixels to add, and the zoom-out share in percent."""
    if zoom is not None:
        return (0, 0, 0, 0), round(100 * (1 - 1 / zoom), 2)
    horizontal = pan in ("left", "right")
    grown = min(round((width if horizontal else height) * PAN_SHARE), limit)
    new_w, new_h = (width + grown, height) if horizontal else (width, height + grown)
    if max(new_w / new_h, new_h / new_w) > MAX_PAN_RATIO + 1e-6:
        raise InvalidRequest(
            _("This image is already as wide as a pan goes (21:9): pan up or down, or Zoom Out.")
            if horizontal
            else _(
                "This image is already as tall as a pan goes (21:9): pan left or right, or Zoom "
                "Out."
            )
        )
    sides = {"left": 0, "right": 1, "up": 2, "down": 3}
    margins = [0, 0, 0, 0]
    margins[sides[str(pan)]] = grown
    return (margins[0], margins[1], margins[2], margins[3]), 0.0


class ImageActions:
    def __init__(self, config: Config, db: Database, jobs: JobService, derive: Derivations) -> None:
        self._config = config
        self._db = db
        self._jobs = jobs
        self._derive = derive

    def _inherited(self, parent: JobRow, mode: str, **changes: object) -> RequestOptions:
        """The parent's prompt and image count on the action's model and provider."""
        request = GenerationRequest.from_json(parent.inputs_json)
        provider = action_provider(self._config, mode, request.provider)
        count = request.count if mode in ("outpaint", "inpaint") else 1
        options = RequestOptions(prompt=request.prompt, provider=provider, count=count)
        return replace(options, mode=mode, **changes).fitted(self._config)  # type: ignore[arg-type]

    async def vary(
        self, parent: JobRow, index: int, origin: Origin, urls: Sequence[str], *, strong: bool
    ) -> int:
        strength = STRENGTH_WORDS["strong" if strong else "subtle"]
        return await self._derive.variation(parent, index, origin, urls, strength)

    async def zoom(
        self, parent: JobRow, index: int, origin: Origin, urls: Sequence[str], factor: float
    ) -> int:
        if factor not in ZOOMS:
            raise InvalidRequest(_("Zoom Out goes 1.5x or 2x."))
        return await self._outpaint(parent, index, origin, urls, zoom=factor)

    async def pan(
        self, parent: JobRow, index: int, origin: Origin, urls: Sequence[str], direction: str
    ) -> int:
        if direction not in PANS:
            raise InvalidRequest(_("Pan goes left, right, up or down."))
        return await self._outpaint(parent, index, origin, urls, pan=direction)

    async def _outpaint(
        self,
        parent: JobRow,
        index: int,
        origin: Origin,
        urls: Sequence[str],
        *,
        zoom: float | None = None,
        pan: str | None = None,
    ) -> int:
        kind = JobKind.ZOOM if zoom is not None else JobKind.PAN
        try:
            base = self._inherited(parent, "outpaint")
        except InvalidRequest:  # no outpainting model here: a fill model on a padded canvas
            return await self._outpaint_by_fill(parent, index, origin, urls, zoom, pan, kind)
        assert base.provider is not None
        entry = mode_entry(self._config, base.provider, "outpaint", 0)
        bounds = entry.schema.bounds("expand_left") if entry is not None else None
        limit = int(bounds[1]) if bounds and bounds[1] != float("inf") else DEFAULT_EXPAND_LIMIT

        def shaped(width: int, height: int) -> RequestOptions:
            margins, zoom_out = outpaint_margins(width, height, zoom=zoom, pan=pan, limit=limit)
            return replace(base, action=Action(expand=margins, zoom_out=zoom_out))

        url = self._derive.image_url(parent, index, urls)
        return await self._derive.create_with_image(
            url, None, origin, shaped, kind=kind, parent=parent, parent_image=index
        )

    async def _outpaint_by_fill(
        self,
        parent: JobRow,
        index: int,
        origin: Origin,
        urls: Sequence[str],
        zoom: float | None,
        pan: str | None,
        kind: JobKind,
    ) -> int:
        """Zoom Out or Pan as an inpaint of the padded canvas (bot/community/canvas.py)."""
        try:
            options = self._inherited(parent, "inpaint", action=Action(mask_id=0))
        except InvalidRequest:
            raise InvalidRequest(
                _("{action} is not set up on this bot.", action=_(ACTION_NAMES["outpaint"]))
            ) from None
        options.build(self._config, image_id=0)  # before anything is downloaded
        url = self._derive.image_url(parent, index, urls)
        prepared = await self._derive.prepare(url, None)
        margins, zoom_out = outpaint_margins(
            prepared.width, prepared.height, zoom=zoom, pan=pan, limit=MAX_FILL_MARGIN
        )
        canvas = await asyncio.to_thread(padded, prepared.data, margins, zoom_out)
        images = self._db.images
        image_id = await images.save(canvas.image, "image/png", canvas.width, canvas.height, url)
        mask_id = await images.save(canvas.mask, "image/png", canvas.width, canvas.height, "mask")
        try:
            request = replace(options, action=Action(mask_id=mask_id)).build(
                self._config, image_id=image_id
            )
            return await self._jobs.create(
                request, origin, kind=kind, parent=parent, parent_image=index
            )
        except Exception:
            await images.delete(image_id)
            await images.delete(mask_id)
            raise

    async def region(
        self,
        parent: JobRow,
        index: int,
        origin: Origin,
        urls: Sequence[str],
        *,
        words: str,
        prompt: str,
    ) -> int:
        """Vary (Region): `words` say what to change (or name a rough region), `prompt` what
        to put there."""
        words = " ".join(words.split())
        options = self._inherited(parent, "inpaint", prompt=prompt, action=Action(region=words))
        url = self._derive.image_url(parent, index, urls)
        return await self._derive.create_with_image(
            url, None, origin, options, kind=JobKind.REGION, parent=parent, parent_image=index
        )

    async def animate(
        self,
        parent: JobRow,
        index: int,
        origin: Origin,
        urls: Sequence[str],
        *,
        prompt: str | None,
        duration: int | None,
    ) -> int:
        motion = (prompt or "").strip()
        options = self._inherited(parent, "video", prompt=motion, action=Action(duration=duration))
        url = self._derive.image_url(parent, index, urls)
        return await self._derive.create_with_image(
            url, None, origin, options, kind=JobKind.ANIMATE, parent=parent, parent_image=index
        )

    def video_durations(self, provider: str) -> tuple[int, ...]:
        """The clip lengths Animate offers: those the video model's schema takes that one job
        may count for (`quota_images`)."""
        name = action_provider(self._config, "video", provider)
        entry = mode_entry(self._config, name, "video", 0)
        offered = video_durations(entry) if entry is not None else ()
        rate = self._config.quotas.images_per_video_second
        return tuple(s for s in offered if math.ceil(s * rate - 1e-9) <= MAX_CHARGE)

    # -- /describe ---------------------------------------------------------------------------

    async def describe(self, origin: Origin, image: Attachment, provider: str) -> int:
        """/describe: prompts for an image (charged as `[quotas] images_per_describe`)."""
        _check_image(image)
        provider = action_provider(self._config, "describe", provider)
        options = RequestOptions(prompt="", provider=provider, mode="describe")
        return await self._derive.create_with_image(
            image.url, image.size, origin, options, kind=JobKind.DESCRIBE
        )

    async def imagine_described(self, job_id: int, index: int, origin: Origin) -> int:
        """An Imagine button of a /describe: that prompt as a new /imagine, charged now."""
        job = await self._db.jobs.get(job_id)
        if job is None or job.guild_id != origin.guild_id or job.kind != JobKind.DESCRIBE:
            raise InvalidRequest(_("That description does not belong to this server."))
        prompts = (job.result_json or {}).get("prompts") or []
        if job.state != JobState.DONE or not 0 <= index < len(prompts):
            raise InvalidRequest(_("That description has no prompt {number}.", number=index + 1))
        request = RequestOptions(prompt=str(prompts[index])).build(self._config)
        return await self._jobs.create(request, origin, kind=JobKind.IMAGINE)

    # -- /blend -------------------------------------------------------------------------------

    async def blend(
        self, origin: Origin, images: Sequence[Attachment], prompt: str | None, provider: str
    ) -> int:
        """/blend: one image from 2-4; every source that is one of this server's results is
        credited (traced by its file name, as posted by the bot)."""
        for image in images:
            _check_image(image)
        provider = action_provider(self._config, "blend", provider)
        sources = await self._sources(origin, images)
        text = (prompt or "").strip() or "blend these images into one coherent picture"
        first, *others = images
        credited = tuple(job.id for job in sources)

        def options(extra: tuple[int, ...]) -> RequestOptions:
            action = Action(extra_image_ids=extra, sources=credited)
            return RequestOptions(prompt=text, provider=provider, mode="blend", action=action)

        options((0,) * len(others)).build(self._config, image_id=0)  # before any download
        stored: list[int] = []
        try:
            for other in others:
                prepared = await self._derive.prepare(other.url, other.size)
                stored.append(
                    await self._db.images.save(
                        prepared.data,
                        prepared.content_type,
                        prepared.width,
                        prepared.height,
                        other.url,
                    )
                )
            traced = image_of(first.url)
            parent = sources[0] if sources else None
            return await self._derive.create_with_image(
                first.url,
                first.size,
                origin,
                options(tuple(stored)),
                kind=JobKind.BLEND,
                parent=parent,
                parent_image=traced[1] if parent is not None and traced else None,
            )
        except Exception:
            for image_id in stored:
                await self._db.images.delete(image_id)
            raise

    async def _sources(self, origin: Origin, images: Sequence[Attachment]) -> list[JobRow]:
        """The bot's results among the images (traced by their file names), from this server."""
        found: list[JobRow] = []
        for image in images:
            traced = image_of(image.url)
            if traced is None:
                continue
            job = await self._db.jobs.get(traced[0])
            if job is not None and job.guild_id == origin.guild_id and job not in found:
                found.append(job)
        return found


def _check_image(image: Attachment) -> None:
    if image.content_type and not image.content_type.startswith("image/"):
        raise InvalidRequest(
            _(
                "That attachment is {type}, not an image: attach a PNG, JPEG or WebP.",
                type=image.content_type,
            )
        )
