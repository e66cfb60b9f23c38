"""Published documents for catalogue tests: fal's flux/dev schema republished under another id,
changed where a test needs it."""

from __future__ import annotations

import copy
import json
from typing import Any

from bot.providers.catalogue.refresh import live_document
from bot.providers.catalogue.registry import SNAPSHOTS

NEW_MODEL = "fal-ai/some-new-model"


def flux_dev_document(
    model: str = NEW_MODEL, *, max_steps: int = 50, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """fal's flux/dev document, republished under another endpoint id."""
    shipped = json.loads((SNAPSHOTS / "fal" / "fal-ai__flux__dev.json").read_text())
    openapi = copy.deepcopy(shipped["openapi"])
    openapi["paths"] = {f"/{model}": openapi["paths"]["/fal-ai/flux/dev"]}
    schemas = openapi["components"]["schemas"]
    (name,) = [n for n in schemas if n.endswith("Input")]
    schemas[name]["properties"]["num_inference_steps"]["maximum"] = max_steps
    schemas[name]["properties"].update(extra or {})
    return live_document(
        "fal", model, openapi, url=f"https://fal.test/v1/models?endpoint_id={model}"
    )
