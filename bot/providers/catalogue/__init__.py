"""The model catalogue: every usable model described by its provider's published input schema.

- `schema.py`: a published OpenAPI document's input schema and the facts read from it;
- `entry.py`: one model (`ModelEntry`): its options, ranges, modes and price, all derived;
- `mapping.py`: the bot's options written onto a model's inputs by their published names;
- `registry.py`: the `Catalogue` of entries (shipped snapshots, then the refreshed schemas);
- `refresh.py`: reading the schemas the providers serve now, cached in the database;
- `checks.py`: what `build_request` asks before anything is charged.
"""

from __future__ import annotations

from bot.providers.catalogue.checks import (
    MODE_NAMES,
    check_capabilities,
    check_limits,
    check_lora_scales,
    check_options,
    mode_model,
    require_entry,
)
from bot.providers.catalogue.entry import ModelEntry, ModelLimits, Price
from bot.providers.catalogue.mapping import model_input
from bot.providers.catalogue.registry import Catalogue, catalogue_for
from bot.providers.catalogue.schema import InputSchema, Problem, SchemaError

__all__ = [
    "MODE_NAMES",
    "Catalogue",
    "InputSchema",
    "ModelEntry",
    "ModelLimits",
    "Price",
    "Problem",
    "SchemaError",
    "catalogue_for",
    "check_capabilities",
    "check_limits",
    "check_lora_scales",
    "check_options",
    "mode_model",
    "model_input",
    "require_entry",
]
