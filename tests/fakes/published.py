"""The models' published schemas, as the loopback fakes enforce and serve them.

The fakes start from the snapshots the bot ships (``bot/providers/schemas/<provider>/*.json``,
each ``{provider, model, version, official, ..., openapi}``) and take more from a test
(``FakeFal.publish``, ``FakeReplicate.publish``), so a model is added by publishing its document,
as on the real providers.

Validation is ``jsonschema``'s over the whole published document (references resolved where they
point, nothing inlined), independent of the bot's own reading of it (``bot.providers.catalogue``),
so a mistake there is not repeated here. OpenAPI 3.0's ``nullable`` and boolean
``exclusiveMinimum``/``exclusiveMaximum`` are rewritten to their JSON Schema meaning first.

The errors are then worded as each provider's validator words them:

- fal apps are pydantic v2 models: ``{"loc": ["body", field, ...], "msg", "type", "input",
  "ctx"?, "url"}`` with pydantic's types and messages (``less_than_equal``, ``missing``, ...);
- Replicate validates ``input`` with gojsonschema: ``(field, type, description)`` such as
  ``("input.num_outputs", "number_lte", "Must be less than or equal to 4")``.
"""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

SNAPSHOTS = Path(__file__).resolve().parents[2] / "bot" / "providers" / "schemas"
REPLICATE_INPUT = "#/components/schemas/Input"  # where cog puts a version's input schema


class Published:
    """One model's published OpenAPI document and the validator of its input."""

    def __init__(self, document: Mapping[str, Any], pointer: str) -> None:
        self.document: dict[str, Any] = copy.deepcopy(dict(document))
        self.pointer = pointer
        root = {**_as_json_schema(self.document), "$ref": pointer}  # draft 7: $ref alone counts
        self._validator = jsonschema.Draft7Validator(root)

    def errors(self, data: Any) -> list[ValidationError]:
        found = self._validator.iter_errors(data)
        return sorted(found, key=lambda e: [str(p) for p in e.absolute_path])


def fal_pointer(document: Mapping[str, Any], endpoint_id: str) -> str:
    """The JSON pointer of a fal endpoint's request body schema in its document."""
    paths = document.get("paths") or {}
    wanted = "/" + endpoint_id.strip("/")
    for path in sorted(paths, key=lambda p: p != wanted):
        body = ((paths[path] or {}).get("post") or {}).get("requestBody") or {}
        if isinstance(
            ((body.get("content") or {}).get("application/json") or {}).get("schema"), dict
        ):
            escaped = path.replace("~", "~0").replace("/", "~1")
            return f"#/paths/{escaped}/post/requestBody/content/application~1json/schema"
    raise ValueError(f"the document of {endpoint_id} has no POST request body")


@cache
def _shipped(provider: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        (path.stem, path.read_text(encoding="utf-8"))
        for path in sorted((SNAPSHOTS / provider).glob("*.json"))
    )


def shipped(provider: str) -> dict[str, dict[str, Any]]:
    """The snapshots the bot ships for `provider`, by model id (fresh copies)."""
    out: dict[str, dict[str, Any]] = {}
    for _, text in _shipped(provider):
        data = json.loads(text)
        out[str(data["model"])] = data
    return out


# -- fal: pydantic v2's words ----------------------------------------------------------------


def fal_detail(errors: Iterable[ValidationError]) -> list[dict[str, Any]]:
    """A fal 422 body's ``detail`` for these errors (one entry per failing location)."""
    out: list[dict[str, Any]] = []
    for error in _leaves(errors):
        for loc, type_, msg, ctx in _pydantic(error):
            entry: dict[str, Any] = {"loc": ["body", *loc], "msg": msg, "type": type_}
            entry["input"] = error.instance  # for `missing`, the object it is missing from
            if ctx:
                entry["ctx"] = ctx
            entry["url"] = f"https://docs.fal.ai/errors/#{type_}"
            if entry not in out:
                out.append(entry)
    return out


_PYDANTIC_TYPES = {
    "integer": ("int_type", "Input should be a valid integer"),
    "number": ("float_type", "Input should be a valid number"),
    "string": ("string_type", "Input should be a valid string"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
    "array": ("list_type", "Input should be a valid list"),
    "object": ("dict_type", "Input should be a valid dictionary"),
}
_PYDANTIC_BOUNDS = {
    "maximum": ("less_than_equal", "less than or equal to", "le"),
    "minimum": ("greater_than_equal", "greater than or equal to", "ge"),
    "exclusiveMaximum": ("less_than", "less than", "lt"),
    "exclusiveMinimum": ("greater_than", "greater than", "gt"),
}


def _pydantic(error: ValidationError) -> Iterator[tuple[list[Any], str, str, dict[str, Any]]]:
    loc, kind, value = list(error.absolute_path), error.validator, error.validator_value
    if kind == "required":
        for name in _missing(error):
            yield [*loc, name], "missing", "Field required", {}
    elif kind in _PYDANTIC_BOUNDS:
        type_, words, key = _PYDANTIC_BOUNDS[str(kind)]
        yield loc, type_, f"Input should be {words} {_num(value)}", {key: _num(value)}
    elif kind in ("enum", "const"):
        options = list(value) if kind == "enum" else [value]
        expected = _or([repr(v) for v in options])
        yield loc, "literal_error", f"Input should be {expected}", {"expected": expected}
    elif kind == "type":
        names = value if isinstance(value, list) else [value]
        if names[0] == "integer" and isinstance(error.instance, float):
            fraction = "Input should be a valid integer, got a number with a fractional part"
            yield loc, "int_from_float", fraction, {}
        else:
            yield loc, *_PYDANTIC_TYPES.get(str(names[0]), ("value_error", error.message)), {}
    elif kind in ("maxItems", "minItems"):
        most = kind == "maxItems"
        words = "at most" if most else "at least"
        size = len(error.instance) if isinstance(error.instance, list) else 0
        msg = f"List should have {words} {value} items after validation, not {size}"
        ctx = {"field_type": "List", ("max_length" if most else "min_length"): value}
        yield loc, "too_long" if most else "too_short", msg, {**ctx, "actual_length": size}
    elif kind in ("maxLength", "minLength"):
        most = kind == "maxLength"
        msg = f"String should have {'at most' if most else 'at least'} {value} characters"
        key = "max_length" if most else "min_length"
        yield loc, "string_too_long" if most else "string_too_short", msg, {key: value}
    elif kind == "pattern":
        msg = f"String should match pattern '{value}'"
        yield loc, "string_pattern_mismatch", msg, {"pattern": value}
    else:
        yield loc, "value_error", error.message, {}


# -- Replicate: gojsonschema's words -----------------------------------------------------------


def replicate_fields(errors: Iterable[ValidationError]) -> list[tuple[str, str, str]]:
    """Replicate's ``invalid_fields`` (``field``, ``type``, ``description``) for errors found
    in a prediction's ``input``, as gojsonschema words them."""
    out: list[tuple[str, str, str]] = []
    for error in errors:
        for item in _gojsonschema(error):
            if item not in out:
                out.append(item)
    return sorted(out, key=lambda item: item[0])


_GO_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
_GO_BOUNDS = {
    "maximum": ("number_lte", "Must be less than or equal to"),
    "minimum": ("number_gte", "Must be greater than or equal to"),
    "exclusiveMaximum": ("number_lt", "Must be less than"),
    "exclusiveMinimum": ("number_gt", "Must be greater than"),
}


def _gojsonschema(error: ValidationError) -> Iterator[tuple[str, str, str]]:
    field = ".".join(["input", *(str(p) for p in error.absolute_path)])
    if error.validator in ("anyOf", "oneOf"):
        if error.context:
            yield from _gojsonschema(_best(error))
        yield field, "number_any_of", "Must validate at least one schema (anyOf)"
        return
    yield from _go_words(error, field)
    if "allOf" in error.relative_schema_path:  # cog writes choices as allOf: [$ref enum]
        yield field, "number_all_of", "Must validate all the schemas (allOf)"


def _go_words(error: ValidationError, field: str) -> Iterator[tuple[str, str, str]]:
    kind, value = error.validator, error.validator_value
    if kind == "required":
        for name in _missing(error):
            yield field, "required", f"{name} is required"
    elif kind in _GO_BOUNDS:
        type_, words = _GO_BOUNDS[str(kind)]
        yield field, type_, f"{words} {_num(value)}"
    elif kind == "enum":
        allowed = ", ".join(json.dumps(v) for v in value)
        yield field, "enum", f"{field} must be one of the following: {allowed}"
    elif kind == "type":
        expected = "/".join(value) if isinstance(value, list) else str(value)
        yield field, "invalid_type", f"Invalid type. Expected: {expected}, given: {_go_type(error)}"
    elif kind in ("maxItems", "minItems"):
        words = "at most" if kind == "maxItems" else "at least"
        type_ = "array_max_items" if kind == "maxItems" else "array_min_items"
        yield field, type_, f"Array must have {words} {value} items"
    elif kind in ("maxLength", "minLength"):
        type_, words = ("string_lte", "less") if kind == "maxLength" else ("string_gte", "greater")
        yield field, type_, f"String length must be {words} than or equal to {value}"
    elif kind == "pattern":
        yield field, "pattern", f"Does not match pattern '{value}'"
    else:
        yield field, str(kind), error.message


def _go_type(error: ValidationError) -> str:
    value = error.instance
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return _GO_TYPES.get(type(value), "string")


# -- shared -------------------------------------------------------------------------------------


def _leaves(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    """Each error, or for a failed `anyOf`/`oneOf` the alternative's error that fits best."""
    for error in errors:
        yield _best(error) if error.validator in ("anyOf", "oneOf") and error.context else error


def _best(error: ValidationError) -> ValidationError:
    """The error of the alternative meant: among the alternatives the value has the type of
    (`image_size` as an object, not as one of the names), the error that fits best."""
    context = list(error.context or ())
    branches: dict[Any, list[ValidationError]] = {}
    for found in context:
        branches.setdefault(found.relative_schema_path[0], []).append(found)
    fitting = [
        found
        for errors in branches.values()
        if not any(e.validator == "type" and not e.relative_path for e in errors)
        for found in errors
    ]
    best = best_match(fitting or context)
    assert best is not None
    return _best(best) if best.validator in ("anyOf", "oneOf") and best.context else best


def _missing(error: ValidationError) -> list[str]:
    """The property a `required` error is about: jsonschema raises one error per missing
    name, worded `'name' is a required property`."""
    said = str(error.message).removesuffix(" is a required property")
    try:
        name = ast.literal_eval(said)
    except (ValueError, SyntaxError):
        name = None
    if isinstance(name, str):
        return [name]
    instance = error.instance if isinstance(error.instance, dict) else {}
    return [n for n in error.validator_value if n not in instance]


def _num(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema keywords given their JSON Schema meaning."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _as_json_schema(v) for k, v in node.items()}
    if out.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if out.get(flag) is True and bound in out:
            out[flag] = out.pop(bound)
        elif out.get(flag) is False:
            del out[flag]
    return out
