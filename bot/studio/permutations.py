"""Permutations, as Midjourney's members write them: `a {red, blue} car` is two prompts, `a
{red, blue} {car, bike}` four, `a {red {dark, light}, blue} car` three. Each prompt becomes a
job of its own; the member confirms the count and the images first (cogs/imagine.py).

`\\{`, `\\}` and `\\,` are literal braces and commas. Options are trimmed; an empty one is kept
(`{, very} tall` is "tall" and "very tall"). A group without a comma is no permutation and stays
as it was typed, braces included: prompts may hold braces of their own. Unbalanced braces are
refused, as are more prompts than `limit`, before any is built.
"""

from __future__ import annotations

from bot.errors import InvalidRequest
from bot.i18n import _

_ESCAPES = {"\\{": "\x00", "\\}": "\x01", "\\,": "\x02"}
_LITERALS = {"\x00": "{", "\x01": "}", "\x02": ","}


def expand(prompt: str, limit: int) -> list[str]:
    """Every prompt `prompt` stands for, in order (itself alone when it has no group)."""
    text = prompt
    for escaped, mark in _ESCAPES.items():
        text = text.replace(escaped, mark)
    if "{" not in text and "}" not in text:
        return [prompt]
    variants = _expand(text, limit)
    return [_literal(" ".join(variant.split())) for variant in variants]


def _expand(text: str, limit: int) -> list[str]:
    start = text.find("{")
    close = text.find("}")
    if start < 0:
        if close >= 0:
            raise InvalidRequest(
                _("A closing brace in the prompt has no opening one: write `\\}` for a brace.")
            )
        return [text]
    end = _matching(text, start)
    options = _split(text[start + 1 : end])
    if len(options) == 1:  # `{word}`: a brace of the prompt's own, kept
        inner = _expand(options[0], limit)
        heads = ["\x00" + option + "\x01" for option in inner]
    else:
        heads = [variant for option in options for variant in _expand(option.strip(), limit)]
    tails = _expand(text[end + 1 :], limit)
    count = len(heads) * len(tails)
    if count > limit:
        raise InvalidRequest(
            _(
                "That prompt makes {count} combinations; the limit is {limit} per command. "
                "Use fewer options.",
                count=count,
                limit=limit,
            )
        )
    return [text[:start] + head + tail for head in heads for tail in tails]


def _matching(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise InvalidRequest(
        _("An opening brace in the prompt is never closed: write `\\{` for a brace.")
    )


def _split(inner: str) -> list[str]:
    """`inner` split at its top-level commas."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(inner):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(inner[start:index])
            start = index + 1
    parts.append(inner[start:])
    return parts


def _literal(text: str) -> str:
    for mark, char in _LITERALS.items():
        text = text.replace(mark, char)
    return text
