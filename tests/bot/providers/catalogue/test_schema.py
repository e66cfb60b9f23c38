"""Reading a published OpenAPI document: the input schema, its facts, its validation."""

from __future__ import annotations

from typing import Any

from bot.providers.catalogue.registry import shipped_entries
from bot.providers.catalogue.schema import InputSchema

FAL_LIKE: dict[str, Any] = {
    "openapi": "3.0.4",
    "paths": {
        "/fal-ai/some/model": {
            "post": {
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/In"}}}
                }
            }
        },
        "/fal-ai/some/model/requests/{id}/cancel": {"put": {}},
    },
    "components": {
        "schemas": {
            "In": {
                "type": "object",
                "required": ["prompt"],
                "properties": {
                    "prompt": {"type": "string"},
                    "seed": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
                    "loras": {"type": "array", "items": {"$ref": "#/components/schemas/L"}},
                    "size": {"allOf": [{"$ref": "#/components/schemas/Size"}], "default": "a"},
                },
            },
            "L": {
                "type": "object",
                "properties": {"scale": {"type": "number", "minimum": 0, "maximum": 4}},
            },
            "Size": {"type": "string", "enum": ["a", "b"]},
        }
    },
}


def test_the_input_is_the_endpoints_post_body_with_references_inlined() -> None:
    schema = InputSchema.from_document(FAL_LIKE, "fal-ai/some/model")
    assert set(schema.properties) == {"prompt", "seed", "loras", "size"}
    assert schema.enum("size") == ("a", "b")
    assert schema.default("size") == "a"


def test_bounds_are_read_through_combinators_and_array_items() -> None:
    schema = InputSchema.from_document(FAL_LIKE, "fal-ai/some/model")
    assert schema.bounds("seed") == (0, float("inf"))
    assert schema.bounds("scale", within="loras") == (0, 4)
    assert schema.bounds("prompt") is None


def test_problems_name_the_field_and_the_rule() -> None:
    schema = InputSchema.from_document(FAL_LIKE, "fal-ai/some/model")
    (problem,) = schema.problems({"prompt": "x", "loras": [{"path": "p", "scale": -3}]})
    assert problem.field == "loras.0.scale"
    assert "minimum of 0" in problem.message
    assert schema.problems({"prompt": "x", "size": "b"}) == []


def test_civitais_dotnet_named_groups_are_read_as_python_patterns() -> None:
    (civitai,) = [e for e in shipped_entries() if e.provider == "civitai"]
    air = "urn:air:sdxl:checkpoint:civitai:101055@128078"
    assert not [p for p in civitai.schema.problems({"model": air}) if p.field == "model"]
    assert [p for p in civitai.schema.problems({"model": "not an air"}) if p.field == "model"]


def test_every_shipped_snapshot_names_its_source_and_date() -> None:
    for entry in shipped_entries():
        assert entry.source and entry.taken, (entry.provider, entry.model)
        assert entry.schema.properties, (entry.provider, entry.model)
