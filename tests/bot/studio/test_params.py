"""Parameters inside a prompt: what each reads as, and what is refused naming it."""

from __future__ import annotations

import pytest

from bot.errors import InvalidRequest
from bot.providers.request import RequestOptions
from bot.studio.params import InlineParams, parse_params


def test_the_parameters_are_read_and_the_prompt_is_what_is_left() -> None:
    found = parse_params("a red fox --ar 3:2 --no text, watermark --seed 7 --steps 30")
    assert found == InlineParams(
        prompt="a red fox", aspect_ratio="3:2", negative_prompt="text, watermark", seed=7, steps=30
    )


def test_a_double_dash_inside_a_word_or_before_a_space_stays_in_the_prompt() -> None:
    assert parse_params("rock--paper -- scissors").prompt == "rock--paper -- scissors"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a fox --ar 7:5", "--ar 7:5 is not supported; choose one of"),
        ("a fox --sharpness 3", "Unknown parameter --sharpness: use --ar, --seed"),
        ("a fox --seed", "--seed needs a value, e.g. --seed 7"),
        ("a fox --seed seven", "--seed takes a whole number (got 'seven')"),
        ("a fox --count 9", "--count must be between 1 and 4 (got 9)"),
        ("a fox --ar 1:1 --ar 3:2", "--ar is given twice"),
        ("a fox --steps 20 30", "--steps takes one value (got '20 30')"),
    ],
)
def test_a_bad_parameter_is_refused_naming_it(text: str, said: str) -> None:
    with pytest.raises(InvalidRequest, match=None) as refused:
        parse_params(text)
    assert said in str(refused.value)


def test_a_slash_option_beats_the_same_parameter_in_the_prompt() -> None:
    options = RequestOptions(prompt="a fox --ar 3:2 --seed 7", aspect_ratio="16:9")
    merged = parse_params(options.prompt).under(options)
    assert (merged.prompt, merged.aspect_ratio, merged.seed) == ("a fox", "16:9", 7)


def test_a_parameter_typed_into_a_remix_replaces_the_inherited_value() -> None:
    inherited = RequestOptions(prompt="old", aspect_ratio="1:1", count=4)
    merged = parse_params("new --ar 9:16").over(inherited)
    assert (merged.prompt, merged.aspect_ratio, merged.count) == ("new", "9:16", 4)


def test_style_takes_a_name_with_spaces_and_private_takes_no_value() -> None:
    params = parse_params("a heron --style Ink Wash --private --seed 3")
    assert (params.prompt, params.style, params.private, params.seed) == (
        "a heron",
        "Ink Wash",
        True,
        3,
    )


def test_private_with_a_value_is_refused_naming_it() -> None:
    with pytest.raises(InvalidRequest, match="--private takes no value"):
        parse_params("a heron --private yes")
