"""Parameters inside a prompt, as Midjourney's members write them: `a fox --ar 16:9 --seed 7
--no text, watermark`. They are read before anything is charged; the prompt shown and sent is
what is left. A slash option the member set beats the same parameter in the prompt.

The parameters start at the first `--name` that follows a space (a `--` inside a word, or one
followed by a space, stays in the prompt). `--no` and `--style` take the words up to the next
parameter, `--private` none, the others one value. An unknown parameter, a missing or invalid
value, or a parameter given twice is refused naming it, so nothing is silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

from bot.errors import InvalidRequest
from bot.i18n import _
from bot.providers.capabilities import ASPECT_RATIOS

MAX_SEED = 2**32 - 1
MAX_COUNT = 4
_PARAM = re.compile(r"(?:^|\s)--([A-Za-z][\w-]*)(?=\s|$)")
EXAMPLES = {
    "ar": "--ar 16:9",
    "seed": "--seed 7",
    "no": "--no text, watermark",
    "steps": "--steps 28",
    "guidance": "--guidance 3.5",
    "count": "--count 2",
    "model": "--model fal-ai/flux/schnell",
    "style": "--style Watercolour",
    "private": "--private",
}
FLAGS = frozenset({"private"})  # parameters without a value
ALIASES = {"aspect": "ar", "n": "count", "cfg": "guidance"}


@dataclass(frozen=True)
class InlineParams:
    """A prompt's own parameters (None: not given there)."""

    prompt: str
    aspect_ratio: str | None = None
    seed: int | None = None
    negative_prompt: str | None = None
    steps: int | None = None
    guidance: float | None = None
    count: int | None = None
    model: str | None = None
    style: str | None = None
    private: bool | None = None  # results for the member alone (an `Origin`'s, not a request's)

    def under(self, explicit: Any) -> Any:
        """`explicit` (a `RequestOptions`) with the prompt cleaned and each field it leaves
        unset taken from the prompt's parameters: a slash option beats its parameter."""
        changes: dict[str, Any] = {"prompt": self.prompt}
        for field in fields(self):
            if field.name not in _NOT_OPTIONS and getattr(explicit, field.name, None) is None:
                changes[field.name] = getattr(self, field.name)
        return replace(explicit, **changes)

    def over(self, inherited: Any) -> Any:
        """`inherited` (a result's options, as a remix starts from them) with the prompt
        cleaned and each parameter the member typed now replacing the inherited value."""
        changes: dict[str, Any] = {"prompt": self.prompt}
        for field in fields(self):
            if field.name not in _NOT_OPTIONS and getattr(self, field.name) is not None:
                changes[field.name] = getattr(self, field.name)
        return replace(inherited, **changes)


def parse_params(text: str) -> InlineParams:
    found = list(_PARAM.finditer(text))
    if not found:
        return InlineParams(prompt=text.strip())
    values: dict[str, str] = {}
    for index, match in enumerate(found):
        end = found[index + 1].start() if index + 1 < len(found) else len(text)
        name = ALIASES.get(match.group(1).lower(), match.group(1).lower())
        if name not in EXAMPLES:
            known = ", ".join(f"--{n}" for n in EXAMPLES)
            raise InvalidRequest(
                _("Unknown parameter --{name}: use {known}.", name=match.group(1), known=known)
            )
        if name in values:
            raise InvalidRequest(_("--{name} is given twice: keep one.", name=name))
        values[name] = text[match.end() : end].strip()
    params = InlineParams(prompt=text[: found[0].start()].strip())
    for name, value in values.items():
        params = replace(params, **_read(name, value))
    return params


_NOT_OPTIONS = frozenset({"prompt", "private"})


def _read(name: str, value: str) -> dict[str, Any]:
    if name in FLAGS:
        if value:
            raise InvalidRequest(
                _("--{name} takes no value (got {value}).", name=name, value=repr(value))
            )
        return {name: True}
    if not value:
        raise InvalidRequest(
            _("--{name} needs a value, e.g. {example}.", name=name, example=EXAMPLES[name])
        )
    if name == "no":
        return {"negative_prompt": value}
    if name == "style":  # a style's name may have spaces, like `--no`'s words
        return {"style": value}
    if " " in value:
        raise InvalidRequest(
            _(
                "--{name} takes one value (got {value!r}), e.g. {example}.",
                name=name,
                value=value,
                example=EXAMPLES[name],
            )
        )
    if name == "ar":
        if value not in ASPECT_RATIOS:
            raise InvalidRequest(
                _(
                    "--ar {value} is not supported; choose one of {ratios}.",
                    value=value,
                    ratios=", ".join(ASPECT_RATIOS),
                )
            )
        return {"aspect_ratio": value}
    if name == "model":
        return {"model": value}
    if name == "guidance":
        return {"guidance": _number(name, value, float, 0.0, 100.0)}
    limits = {"seed": (0, MAX_SEED), "steps": (1, 150), "count": (1, MAX_COUNT)}
    low, high = limits[name]
    return {name: _number(name, value, int, low, high)}


def _number(name: str, value: str, kind: type, low: float, high: float) -> Any:
    try:
        number = kind(value)
    except ValueError:
        raise InvalidRequest(
            _("--{name} takes a whole number (got {value!r}).", name=name, value=value)
            if kind is int
            else _("--{name} takes a number (got {value!r}).", name=name, value=value)
        ) from None
    if not low <= number <= high:
        raise InvalidRequest(
            _(
                "--{name} must be between {low:g} and {high:g} (got {value}).",
                name=name,
                low=low,
                high=high,
                value=value,
            )
        )
    return number
