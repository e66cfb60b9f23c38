"""Vary (Region) and /describe on an OpenAI-compatible API: the mask turned round, the answer
turned into prompts."""

from __future__ import annotations

import io

from PIL import Image

from bot.jobs.masks import draw_mask
from bot.providers.openai_actions import answered_prompts, transparent_where_white


def test_the_bots_white_means_repaint_mask_becomes_transparent_means_edit() -> None:
    mask = draw_mask(40, 20, (0.0, 0.0, 0.5, 1.0))  # the left half white
    alpha = Image.open(io.BytesIO(transparent_where_white(mask))).getchannel("A")
    assert (alpha.getpixel((5, 10)), alpha.getpixel((35, 10))) == (0, 255)


def test_a_numbered_answer_gives_one_prompt_per_number() -> None:
    text = 'Here you go:\n1. "A fox in snow"\n2) A fox at dusk\n\n3. A fox poster\n4. Fox, ink'
    assert answered_prompts(text) == ("A fox in snow", "A fox at dusk", "A fox poster", "Fox, ink")


def test_an_answer_without_numbers_is_one_prompt() -> None:
    assert answered_prompts("A red fox\nsitting in snow.") == ("A red fox sitting in snow.",)
    assert answered_prompts("   ") == ()
