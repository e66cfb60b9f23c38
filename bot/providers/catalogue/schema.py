"""A model's input schema exactly as its provider publishes it, and the facts the bot reads
from it (which inputs exist, their ranges, enums and defaults).

The providers publish OpenAPI documents: fal one per endpoint (the POST body of the endpoint's
path), Replicate one per model version (`components.schemas.Input`), and the bot's own wrapper
for CivitAI's swagger and the OpenAI SDK's types (`x-input` names the schema). References are
inlined once at load so that every later question is a dictionary lookup, and validation is
`jsonschema`'s (the well-kept validator), not a hand-written one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jsonschema

_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")
_MAX_DEPTH = 32  # published schemas nest a few levels; deeper means a reference cycle


class SchemaError(ValueError):
    """A published document the bot cannot read an input schema from."""


@dataclass(frozen=True)
class Problem:
    """One way an input breaks the schema, as the provider's validator would say it."""

    path: tuple[str | int, ...]
    message: str

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.path)


@dataclass(frozen=True, eq=False)
class InputSchema:
    """The JSON Schema of a model's input, references inlined."""

    schema: Mapping[str, Any]
    # What the model answers with, from the published output schema: "images" (a list), "image"
    # (one), "file" (one bare URI: Replicate's single-output models), "video" or "text".
    output_kind: str = "images"
    _validator: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # OpenAPI 3.0 schemas are close to draft 7; unknown keywords (`x-order`, `nullable`)
        # are ignored by the validator, as by the providers'.
        object.__setattr__(self, "_validator", jsonschema.Draft7Validator(dict(self.schema)))

    @classmethod
    def from_document(cls, document: Mapping[str, Any], model: str) -> InputSchema:
        return cls(inline(input_ref(document, model), document), output_kind(document, model))

    @cached_property
    def properties(self) -> Mapping[str, Mapping[str, Any]]:
        props = self.schema.get("properties")
        return {k: v for k, v in props.items() if isinstance(v, Mapping)} if props else {}

    @cached_property
    def required(self) -> frozenset[str]:
        return frozenset(self.schema.get("required") or ())

    def has(self, name: str | None) -> bool:
        """Whether the model has this input; `params.steps` names a nested one (CivitAI)."""
        return name is not None and bool(self._prop(name))

    def first(self, *names: str) -> str | None:
        """The first of these input names the model has."""
        return next((name for name in names if self.has(name)), None)

    def bounds(self, name: str, *, within: str | None = None) -> tuple[float, float] | None:
        """`minimum`/`maximum` of an input (or of field `name` of the items of array `within`);
        None where the schema sets neither."""
        prop = self._prop(name, within)
        low = high = None
        for part in _branches(prop):
            low = _pick(low, part.get("minimum"), part.get("exclusiveMinimum"), max)
            high = _pick(high, part.get("maximum"), part.get("exclusiveMaximum"), min)
        if low is None and high is None:
            return None
        return (float("-inf") if low is None else low, float("inf") if high is None else high)

    def enum(self, name: str) -> tuple[Any, ...]:
        values: list[Any] = []
        for part in _branches(self._prop(name)):
            values += [v for v in part.get("enum") or () if v not in values]
        return tuple(values)

    def takes_object(self, name: str) -> bool:
        """Whether the input accepts an object (fal's `image_size` takes `{width, height}`)."""
        return any(part.get("type") == "object" for part in _branches(self._prop(name)))

    def is_array(self, name: str) -> bool:
        return any(part.get("type") == "array" for part in _branches(self._prop(name)))

    def default(self, name: str) -> Any:
        for part in _branches(self._prop(name)):
            if "default" in part:
                return part["default"]
        return None

    def max_items(self, name: str) -> int | None:
        for part in _branches(self._prop(name)):
            if isinstance(part.get("maxItems"), int):
                return int(part["maxItems"])
        return None

    def problems(self, data: Mapping[str, Any]) -> list[Problem]:
        # Paths mix keys and list indices: compared as text, never int against str.
        errors = self._validator.iter_errors(dict(data))
        found = sorted(errors, key=lambda e: [str(part) for part in e.path])
        return [Problem(tuple(error.path), error.message) for error in found]

    def _prop(self, name: str, within: str | None = None) -> Mapping[str, Any]:
        if within is None:
            head, _, rest = name.partition(".")
            prop = self.properties.get(head) or {}
            while rest and prop:
                head, _, rest = rest.partition(".")
                prop = next(
                    (
                        found
                        for part in _branches(prop)
                        if isinstance(found := (part.get("properties") or {}).get(head), Mapping)
                    ),
                    {},
                )
            return prop
        for part in _branches(self._prop(within)):
            items = part.get("items")
            if isinstance(items, Mapping):
                for item in _branches(items):
                    found = (item.get("properties") or {}).get(name)
                    if isinstance(found, Mapping):
                        return found
        return {}


def input_ref(document: Mapping[str, Any], model: str) -> Mapping[str, Any]:
    """Where a published document keeps the input schema (before inlining)."""
    schemas = (document.get("components") or {}).get("schemas") or {}
    named = document.get("x-input")
    if isinstance(named, str) and named in schemas:
        return dict(schemas[named])
    paths = document.get("paths") or {}
    wanted = "/" + model.split(":", 1)[0].strip("/")
    ordered = sorted(paths.items(), key=lambda item: item[0] != wanted)
    for _, item in ordered:
        body = ((item or {}).get("post") or {}).get("requestBody") or {}
        schema = ((body.get("content") or {}).get("application/json") or {}).get("schema")
        if isinstance(schema, Mapping):
            return schema
    if isinstance(schemas.get("Input"), Mapping):  # Replicate (cog)
        return dict(schemas["Input"])
    raise SchemaError(f"no input schema found in the published document for {model}")


TEXT_OUTPUTS = ("results", "output", "caption")  # captioners' string fields (florence, moondream)


def output_kind(document: Mapping[str, Any], model: str) -> str:
    """The shape of the model's output (see `InputSchema.output_kind`): fal's result path's
    200 response, or cog's `Output` component."""
    schemas = (document.get("components") or {}).get("schemas") or {}
    found: Any = None
    wanted = "/" + model.split(":", 1)[0].strip("/")
    for path, item in (document.get("paths") or {}).items():
        if str(path).startswith(wanted) and isinstance((item or {}).get("get"), Mapping):
            content = ((item["get"].get("responses") or {}).get("200") or {}).get("content")
            found = ((content or {}).get("application/json") or {}).get("schema")
            break
    if found is None:  # cog's `Output`; the bot's wrappers name theirs (`x-output`)
        found = schemas.get(str(document.get("x-output") or "Output"))
    if not isinstance(found, Mapping):
        return "images"
    output = inline(found, document)
    if output.get("type") == "string":
        return "file"
    props = output.get("properties") or {}
    for name in ("video", "images", "image"):
        if name in props:
            return name
    if any((props.get(name) or {}).get("type") == "string" for name in TEXT_OUTPUTS):
        return "text"
    if "choices" in props:  # a chat completion: its answer is text
        return "text"
    return "images"


def inline(node: Any, document: Mapping[str, Any], depth: int = 0) -> Any:
    """`node` with every local `$ref` replaced by what it points to."""
    if depth > _MAX_DEPTH:
        raise SchemaError("the schema's references nest too deep (a cycle?)")
    if isinstance(node, Mapping):
        pattern = node.get("pattern")
        if isinstance(pattern, str):  # .NET/ECMA named groups, as CivitAI's swagger writes them
            node = {**node, "pattern": _NAMED_GROUP.sub("(?P<", pattern)}
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = inline(_resolve(ref, document), document, depth + 1)
            siblings = {k: inline(v, document, depth + 1) for k, v in node.items() if k != "$ref"}
            return {**target, **siblings}
        return {k: inline(v, document, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(item, document, depth + 1) for item in node]
    return node


def _resolve(ref: str, document: Mapping[str, Any]) -> Any:
    if not ref.startswith("#/"):
        raise SchemaError(f"only local references are read (got {ref!r})")
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise SchemaError(f"the reference {ref!r} points nowhere")
        node = node[part]
    return node


def _branches(prop: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """A property and the alternatives it combines (`allOf`, `anyOf`, `oneOf`)."""
    yield prop
    for key in ("allOf", "anyOf", "oneOf"):
        for part in prop.get(key) or ():
            if isinstance(part, Mapping):
                yield from _branches(part)


def _pick(current: float | None, inclusive: Any, exclusive: Any, choose: Any) -> float | None:
    for value in (inclusive, exclusive):
        if isinstance(value, int | float) and not isinstance(value, bool):
            current = value if current is None else choose(current, value)
    return current
