"""The image actions' own inputs (issue 15): a mask or the words for one, a blend's other
images, an outpaint's margins, a clip's length. Checked with the rest of a request, before
anything is charged, against what the chosen model's schema takes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.config import Config
from bot.errors import InvalidRequest
from bot.i18n import _, n_
from bot.providers.catalogue import ModelEntry
from bot.providers.catalogue.mapping import IMAGE_PAIR, video_durations

MAX_BLEND_IMAGES = 4  # /blend takes 2-4 images (Discord: one option per image)
MAX_REGION_CHARS = 200  # the words for a region: a few, not a prompt
DEFAULT_VIDEO_SECONDS = 5  # a clip without a duration: the models' usual default


# The modes that start from an input image (the job's `image_id`).
IMAGE_MODES = ("img2img", "upscale", "inpaint", "outpaint", "segment", "describe", "blend", "video")
# What a prompt-less job of these modes asks for (the models that take a prompt want one).
DEFAULT_PROMPTS = {
    "upscale": "upscale",
    "describe": "describe this image",
    "video": "natural, gentle motion",
    "outpaint": "extend the scene seamlessly",
}


@dataclass(frozen=True)
class Action:
    mask_id: int | None = None
    region: str | None = None
    extra_image_ids: tuple[int, ...] = ()
    expand: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, right, top, bottom (pixels)
    zoom_out: float | None = None
    duration: int | None = None
    sources: tuple[int, ...] = ()  # blend: the jobs whose results were blended (credited)


NO_ACTION = Action()


def blend_limit(entry: ModelEntry) -> int:
    """How many images the model blends: a pair model two, a list model what it publishes (at
    most MAX_BLEND_IMAGES; fal's flux-2/edit silently drops images after its fourth)."""
    if entry.schema.has(IMAGE_PAIR[1]):
        return 2
    listed = entry.schema.max_items(entry.inputs.get("images", ""))
    return min(listed or MAX_BLEND_IMAGES, MAX_BLEND_IMAGES)


def check_action(entry: ModelEntry, mode: str, image_id: int | None, action: Action) -> None:
    """What each mode needs, with a refusal naming the fix."""
    if mode == "inpaint" and action.mask_id is None and not (action.region or "").strip():
        raise InvalidRequest(_("Say which part of the image to change."))
    if action.region is not None and len(action.region) > MAX_REGION_CHARS:
        raise InvalidRequest(
            _(
                "Describe the part to change in at most {most} characters (got {length}).",
                most=MAX_REGION_CHARS,
                length=len(action.region),
            )
        )
    if mode == "blend":
        given = len(action.extra_image_ids) + (image_id is not None)
        limit = blend_limit(entry)
        if not 2 <= given <= limit:
            fields = {"model": entry.model, "limit": limit, "given": given}
            raise InvalidRequest(
                _("{model} blends 2 to {limit} images; you gave {given}.", **fields)
                if limit > 2
                else _("{model} blends exactly 2 images; you gave {given}.", **fields)
            )
    if mode == "outpaint" and (min(action.expand) < 0 or (action.zoom_out or 0) < 0):
        raise InvalidRequest(_("The canvas can only grow."))
    if mode == "video" and action.duration is not None:
        offered = video_durations(entry)
        if offered and action.duration not in offered:
            shown = ", ".join(_("{seconds} s", seconds=s) for s in offered)
            raise InvalidRequest(
                _(
                    "{model} makes clips of {shown}; {seconds} s is not one of them.",
                    model=entry.model,
                    shown=shown,
                    seconds=action.duration,
                )
            )


MAX_CHARGE = 10  # the most images one job may count for (the ledger's `image_count` bound)


def quota_images(config: Config, mode: str, count: int, duration: int | None) -> int:
    """What a job counts against the member's daily images: its images; a clip its seconds
    at `[quotas] images_per_video_second` (at least one); a description
    `[quotas] images_per_describe`."""
    quotas = config.quotas
    if mode == "describe":
        return max(1, quotas.images_per_describe)
    if mode != "video":
        return count
    seconds = duration or DEFAULT_VIDEO_SECONDS
    charge = max(1, math.ceil(seconds * quotas.images_per_video_second - 1e-9))
    if charge > MAX_CHARGE:
        raise InvalidRequest(
            n_(
                "A {seconds} s clip counts as {n} images here, more than one job may "
                "(at most {most}): choose a shorter clip.",
                "A {seconds} s clip counts as {n} images here, more than one job may "
                "(at most {most}): choose a shorter clip.",
                charge,
                seconds=seconds,
                most=MAX_CHARGE,
            )
        )
    return charge
