"""The image actions' own rules: a pan's margins and the aspect ratio it stops at, the clip
lengths Animate offers."""

from __future__ import annotations

import pytest

from bot.community.actions import ImageActions, outpaint_margins
from bot.config import parse_config
from bot.errors import InvalidRequest

ENV = {"DISCORD_TOKEN": "t", "FAL_KEY": "f"}


def test_a_pan_adds_half_the_image_on_its_side_within_the_models_limit() -> None:
    assert outpaint_margins(1024, 768, pan="left", limit=700) == ((512, 0, 0, 0), 0.0)
    assert outpaint_margins(1024, 768, pan="down", limit=300) == ((0, 0, 0, 300), 0.0)


def test_a_zoom_out_is_the_share_of_the_canvas_around_the_image() -> None:
    assert outpaint_margins(1024, 1024, zoom=2.0, limit=700) == ((0, 0, 0, 0), 50.0)
    assert outpaint_margins(1024, 1024, zoom=1.5, limit=700) == ((0, 0, 0, 0), 33.33)


def test_a_pan_past_21_9_is_refused_naming_the_ways_still_open() -> None:
    with pytest.raises(InvalidRequest, match=r"already as wide as a pan goes.*pan up or down"):
        outpaint_margins(2048, 1024, pan="right", limit=2048)


def test_animate_offers_only_the_clip_lengths_one_job_may_count_for() -> None:
    actions = ImageActions(parse_config({}, ENV), None, None, None)  # type: ignore[arg-type]
    assert actions.video_durations("fal") == tuple(range(3, 11))  # kling takes "3".."15"
    cheap = parse_config({"quotas": {"images_per_video_second": 0.5}}, ENV)
    assert ImageActions(cheap, None, None, None).video_durations("fal")[-1] == 15  # type: ignore[arg-type]
