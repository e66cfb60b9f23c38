"""Vary (Region): the mask an inpainting job repaints through, made before the job is
submitted and kept with it.

A region in words ("the sky") goes to a text-prompted segmentation model first; a rough
region ("left half", "top third", "centre") is drawn by the bot. Either way the mask is
binarised, scaled to the input image's exact size (fill models refuse any other), stored in
the ledger's image table and named in the job's inputs (`mask_id`) before the inpaint is
submitted, so a restart resumes at the inpaint. The segmenter's request id is stored the
moment it is known, so a restart meanwhile re-attaches to it; only a crash between its submit
and that write asks it again (a fraction of a cent, never the member's quota).

A mask with nothing white in it means the words matched nothing: the job ends, refunded, with
that said plainly.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Callable
from dataclasses import replace

from PIL import Image

from bot.delivery.downloads import fetch_file
from bot.delivery.text import escape, short_prompt
from bot.errors import ProviderError, RegionNotFound
from bot.i18n import _
from bot.jobs.input_images import provider_image
from bot.jobs.retry import with_retries
from bot.jobs.settlement import JobDeps
from bot.providers.catalogue.checks import provider_for
from bot.providers.request import GenerationRequest
from db.jobs import JobRow

Box = tuple[float, float, float, float]  # left, top, right, bottom, as shares of the image
THIRD = 1 / 3
ROUGH_REGIONS: dict[str, Box] = {
    "left half": (0.0, 0.0, 0.5, 1.0),
    "right half": (0.5, 0.0, 1.0, 1.0),
    "top half": (0.0, 0.0, 1.0, 0.5),
    "bottom half": (0.0, 0.5, 1.0, 1.0),
    "left third": (0.0, 0.0, THIRD, 1.0),
    "right third": (1 - THIRD, 0.0, 1.0, 1.0),
    "top third": (0.0, 0.0, 1.0, THIRD),
    "bottom third": (0.0, 1 - THIRD, 1.0, 1.0),
    "centre": (0.25, 0.25, 0.75, 0.75),
}
MIN_MASK_SHARE = 0.001  # less white than this (a few stray pixels) is "nothing found"
MAX_MASK_BYTES = 16 * 1024 * 1024
MAX_MASK_PIXELS = 40_000_000


def rough_region(words: str | None) -> Box | None:
    """The rough region `words` name, if they name one ("center" too)."""
    key = " ".join((words or "").lower().replace("center", "centre").split())
    return ROUGH_REGIONS.get(key)


def draw_mask(width: int, height: int, box: Box) -> bytes:
    """A white `box` on black, as PNG (white = repaint)."""
    mask = Image.new("L", (width, height), 0)
    left, top, right, bottom = box
    mask.paste(
        255,
        (round(left * width), round(top * height), round(right * width), round(bottom * height)),
    )
    return _png(mask)


def normalise_mask(data: bytes, width: int, height: int) -> tuple[bytes, float]:
    """The segmenter's mask as a black-and-white PNG of exactly `width`x`height`, and the share
    of it that is white. Decoded with a pixel cap, like any image the bot reads; ValueError
    for a file that is not one, or too large."""
    try:
        with Image.open(io.BytesIO(data)) as found:
            if found.width * found.height > MAX_MASK_PIXELS:
                raise ValueError(_("the segmentation mask is too large"))
            grey = found.convert("L")
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(_("the segmentation mask is not an image the bot can read")) from exc
    if grey.size != (width, height):
        grey = grey.resize((width, height), Image.Resampling.NEAREST)
    binary = grey.point(lambda value: 255 if value >= 128 else 0)
    white = binary.histogram()[255]
    return _png(binary), white / (width * height)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)  # black and white: small at any level
    return out.getvalue()


def segmenter(deps: JobDeps, preferred: str) -> tuple[str, str] | None:
    """The provider and model that turn words into a mask here (`provider_for`)."""
    name = provider_for(deps.config, "segment", preferred)
    if name is None or name not in deps.providers:
        return None
    return name, deps.config.providers[name].segment_model


class MaskMaker:
    def __init__(self, deps: JobDeps) -> None:
        self._deps = deps

    async def ensure(self, job: JobRow, show: Callable[[str], None]) -> JobRow:
        """The job with its mask made and stored (unchanged when it needs none or has one)."""
        request = GenerationRequest.from_json(job.inputs_json)
        if request.mode != "inpaint" or request.mask_id is not None:
            return job
        db = self._deps.db
        assert request.image_id is not None
        size = await db.images.size(request.image_id)
        if size is None:
            raise ProviderError(
                job.provider, _("the input image is no longer stored"), retryable=False
            )
        width, height = size
        box = rough_region(request.region)
        if box is not None:
            mask = await asyncio.to_thread(draw_mask, width, height, box)
        else:
            region = escape(short_prompt(request.region or "", 80))
            show(_("Finding “{region}” in the image…", region=region))
            mask = await self._segment(job, request, width, height)
        mask_id = await db.images.save(mask, "image/png", width, height, "mask")
        if not await db.jobs.set_inputs(job.id, replace(request, mask_id=mask_id).to_json()):
            await db.images.delete(mask_id)
            raise ProviderError(
                job.provider, _("the job moved on while its mask was made"), retryable=True
            )
        latest = await db.jobs.get(job.id)
        assert latest is not None
        return latest

    async def _segment(
        self, job: JobRow, request: GenerationRequest, width: int, height: int
    ) -> bytes:
        deps = self._deps
        found = segmenter(deps, job.provider)
        region = request.region or ""
        shown = escape(short_prompt(region, 80))  # the member's words, shown as text
        if found is None:
            raise RegionNotFound(shown, by_words=False)
        name, model = found
        provider = deps.providers[name]
        asked = GenerationRequest(
            prompt=region,
            provider=name,
            model=model,
            mode="segment",
            image_id=request.image_id,
            region=region,
        )
        request_id = _own(request.mask_request, name)
        if request_id is None:
            image = await provider_image(deps.db, provider, asked, job_id=job.id, retry=deps.retry)
            request_id = await with_retries(
                deps.retry,
                lambda: provider.submit(asked, image),
                what=f"job {job.id} segmentation",
                should_retry=lambda exc: not exc.maybe_accepted,
            )
            await deps.db.jobs.set_inputs(
                job.id, replace(request, mask_request=f"{name}:{request_id}").to_json()
            )
        async with contextlib.aclosing(provider.watch(model, request_id)) as updates:
            async for update in updates:
                if update.phase == "completed":
                    if update.error:
                        raise ProviderError(name, update.error, retryable=False)
                    break
        result = await with_retries(
            deps.retry, lambda: provider.result(model, request_id), what=f"job {job.id} mask"
        )
        if not result.images:
            raise RegionNotFound(shown)
        data = await fetch_file(deps.session, result.images[0].url, max_bytes=MAX_MASK_BYTES)
        try:
            mask, share = await asyncio.to_thread(normalise_mask, data, width, height)
        except ValueError as exc:
            raise ProviderError(name, str(exc), retryable=False) from None
        if share < MIN_MASK_SHARE:
            raise RegionNotFound(shown)
        return mask


def _own(stored: str | None, provider: str) -> str | None:
    """The segmenter's request id stored with the job, when it was asked at `provider`."""
    if not stored or ":" not in stored:
        return None
    name, _colon, request_id = stored.partition(":")
    return request_id if name == provider else None
