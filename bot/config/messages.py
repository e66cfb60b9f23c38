"""pydantic's `ValidationError` turned into the one line an operator reads: "[section] key …".

pydantic reports where a problem is (`loc`) and what kind it is; this module finds the key's
section and declared type from the models, so each line names the key, the value and what is
expected, in the words of a TOML file rather than of Python types.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.config.models import ConfigFile
from bot.config.providers import PROVIDER_NAMES, ProviderConfig, ProvidersConfig

_EXPECTED: dict[Any, str] = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: 'a quoted string ("...")',
}


def explain(error: ValidationError) -> str:
    """The first problem as one line; file-level mistakes before wrong types before rules,
    so the line points at what to fix first."""
    problem = min(error.errors(include_url=False), key=_rank)
    section, model, key, rest, hint = _locate(problem["loc"])
    kind = problem["type"]
    if kind == "extra_forbidden":
        return _unknown(section, model, str(key))
    if kind == "value_error":
        text = str(problem.get("ctx", {}).get("error", problem["msg"]))
        if key is None:
            return text  # a check across sections: the line names its own keys
        inner = "".join(f".{part}" for part in rest)  # e.g. [costs] per_image.fal
        return f"[{section}] {key}{inner} {text}"
    if key is None:
        return _not_a_table(section, model)
    return _wrong_type(f"[{section}] {key}", problem["input"], hint)


def _rank(problem: ErrorDetails) -> int:
    if problem["type"] in ("extra_forbidden", "model_type"):
        return 0
    return 2 if problem["type"] == "value_error" else 1


def _locate(
    loc: tuple[int | str, ...],
) -> tuple[str, type[BaseModel], str | None, tuple[int | str, ...], Any]:
    """(section "providers.fal", its model, the key, the path inside the key, its type)."""
    model: type[BaseModel] = ConfigFile
    path: list[str] = []
    for index, part in enumerate(loc):
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return ".".join(path), model, str(part), loc[index + 1 :], None
        hint = field.annotation
        if isinstance(hint, type) and issubclass(hint, BaseModel):
            model = hint
            path.append(str(part))
            continue
        return ".".join(path), model, str(part), loc[index + 1 :], hint
    return ".".join(path), model, None, (), None


def _unknown(section: str, model: type[BaseModel], key: str) -> str:
    if not section:
        known = ", ".join(sorted(ConfigFile.model_fields))
        return f"unknown section or key [{key}] in the config: remove it (known sections: {known})."
    if model is ProvidersConfig:
        return (
            f"unknown provider [providers.{key}]: remove it "
            f"(supported: {', '.join(PROVIDER_NAMES)})."
        )
    return (
        f"unknown key {key!r} in [{section}]: remove it or fix its spelling "
        f"(known keys: {', '.join(sorted(model.model_fields))})."
    )


def _not_a_table(section: str, model: type[BaseModel]) -> str:
    if model is ProvidersConfig:
        return "[providers] must be a table with [providers.fal] / [providers.replicate]."
    if issubclass(model, ProviderConfig):
        return f"[{section}] must be a table."
    return f"[{section}] must be a table (a [{section}] header followed by keys)."


def _wrong_type(where: str, value: Any, hint: Any) -> str:
    if get_origin(hint) in (types.UnionType, typing.Union):  # `int | None`: TOML has no null
        hint = next(arg for arg in get_args(hint) if arg is not type(None))
    if get_origin(hint) is Annotated:  # e.g. IntList: the type inside
        hint = get_args(hint)[0]
    origin = get_origin(hint)
    if origin is Literal:
        options = " or ".join(repr(choice) for choice in get_args(hint))
        return f"{where} = {value!r} is not valid: use {options}."
    if origin is dict:
        return f"{where} must be a table of numbers, e.g. {{ fal = 0.025 }}."
    if origin is tuple and get_args(hint)[:1] == (int,):
        return f"{where} must be a list of whole numbers, e.g. [0, 1]."
    if origin is tuple:
        return f'{where} must be a list of strings, e.g. ["a", "b"].'
    expected = _EXPECTED.get(hint, "a value of the documented type")
    return f"{where} = {value!r} is not valid: use {expected}."
