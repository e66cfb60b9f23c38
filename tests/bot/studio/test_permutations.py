"""`{a, b}` permutations: each combination once, in order; braces that are not a permutation
stay; too many combinations or unbalanced braces are refused before anything is built."""

from __future__ import annotations

import pytest

from bot.errors import InvalidRequest
from bot.studio.permutations import expand


def test_a_prompt_without_braces_is_itself() -> None:
    assert expand("a red car --ar 16:9", 4) == ["a red car --ar 16:9"]


def test_two_groups_make_every_combination_in_order() -> None:
    assert expand("a {red, blue} {car, bike}", 4) == [
        "a red car",
        "a red bike",
        "a blue car",
        "a blue bike",
    ]


def test_a_nested_group_expands_inside_its_option() -> None:
    assert expand("a {red {dark, light}, blue} car", 4) == [
        "a red dark car",
        "a red light car",
        "a blue car",
    ]


def test_an_empty_option_drops_the_words_and_the_spaces_close_up() -> None:
    assert expand("a {, very} tall tree", 4) == ["a tall tree", "a very tall tree"]


def test_escaped_braces_and_commas_are_literal() -> None:
    assert expand(r"a \{sign\} saying {hi\, there, bye}", 4) == [
        "a {sign} saying hi, there",
        "a {sign} saying bye",
    ]


def test_a_group_without_a_comma_is_kept_as_typed() -> None:
    assert expand("a {json} poster, {red, blue}", 4) == [
        "a {json} poster, red",
        "a {json} poster, blue",
    ]


def test_parameters_can_be_permuted_too() -> None:
    assert expand("a fox --ar {1:1, 16:9}", 4) == ["a fox --ar 1:1", "a fox --ar 16:9"]


def test_more_combinations_than_the_limit_are_refused_naming_both() -> None:
    with pytest.raises(InvalidRequest, match="makes 6 combinations; the limit is 4"):
        expand("{a, b, c} {d, e}", 4)


@pytest.mark.parametrize("prompt", ["a {red, blue car", "a red} car", "{a, {b, c}"])
def test_unbalanced_braces_are_refused(prompt: str) -> None:
    with pytest.raises(InvalidRequest, match="brace"):
        expand(prompt, 4)
