"""fal's result shapes as each model publishes them: images, one image, one video, a caption."""

from __future__ import annotations

from bot.providers.fal import _parse_result


def test_moondreams_caption_comes_under_output_and_florences_under_results() -> None:
    moondream = {"output": " A red fox. ", "finish_reason": "stop", "usage_info": {}}
    assert _parse_result(moondream).texts == ("A red fox.",)
    assert _parse_result({"results": "A red fox in snow."}).texts == ("A red fox in snow.",)


def test_a_video_model_answers_one_video_file() -> None:
    video = {"url": "https://v3.fal.media/files/a.mp4", "content_type": "video/mp4"}
    (found,) = _parse_result({"video": video, "seed": 3}).images
    assert (found.url, found.content_type) == (video["url"], "video/mp4")


def test_a_segmenter_answers_one_mask_image() -> None:
    mask = {"url": "https://v3.fal.media/files/m.png", "content_type": "image/png"}
    (found,) = _parse_result({"image": mask}).images
    assert found.url == mask["url"]
