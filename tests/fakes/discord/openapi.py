"""Request bodies checked against Discord's OpenAPI description (loaded once per process and path).

Spec relaxations (real Discord accepts what discord.py sends, the OpenAPI description is stricter;
everything else in the description is enforced as is):

* ``SnowflakeType`` is a digit string in the description; discord.py sends JSON integers for
  ``attachments[].id`` (the file index), ``allowed_mentions.users/roles`` and
  ``message_reference.*_id``. Non-negative integers are accepted as snowflakes.
* ``default_member_permissions`` of application commands is ``integer | null`` in the description;
  discord.py (and Discord's own documentation) uses a string of digits. Both are accepted.

Requests are checked by the ``SpecChecks`` mixin (``validation.py``).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

_log = logging.getLogger(__package__)  # "tests.fakes.discord", as before the split

DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[4] / "shared/discord-api-spec/openapi.json"
_SPEC_URI = "urn:discord-api-spec"
_SPEC_CACHE: dict[Path, OpenApiSpec | None] = {}


def _relax_spec(doc: dict[str, Any]) -> None:
    """Relax the description where real Discord accepts what discord.py sends (see module doc)."""
    schemas = doc["components"]["schemas"]
    snowflake = schemas["SnowflakeType"]
    schemas["SnowflakeType"] = {"anyOf": [snowflake, {"type": "integer", "minimum": 0}]}
    for schema in schemas.values():
        prop = schema.get("properties", {}).get("default_member_permissions")
        if isinstance(prop, dict) and "integer" in (prop.get("type") or []):
            schema["properties"]["default_member_permissions"] = {
                "anyOf": [prop, {"type": "string", "pattern": "^[0-9]+$"}]
            }


def _pointer_escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


class OpenApiSpec:
    """Request-body validators for the operations of an OpenAPI 3.1 document."""

    def __init__(self, doc: dict[str, Any]) -> None:
        from jsonschema import Draft202012Validator
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012

        _relax_spec(doc)
        self._doc = doc
        self._validator_cls = Draft202012Validator
        self._registry = Registry().with_resource(_SPEC_URI, DRAFT202012.create_resource(doc))
        paths = []
        for template in doc["paths"]:
            regex = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
            paths.append((template.count("{"), -len(template), re.compile(f"^{regex}$"), template))
        paths.sort(key=lambda p: (p[0], p[1]))
        self._paths = [(regex, template) for _, _, regex, template in paths]
        self._validators: dict[tuple[str, str], Any] = {}

    def match(self, path: str) -> str | None:
        for regex, template in self._paths:
            if regex.match(path):
                return template
        return None

    def _validator(self, template: str, method: str) -> Any:
        key = (template, method)
        if key not in self._validators:
            validator = None
            op = self._doc["paths"][template].get(method.lower())
            content = ((op or {}).get("requestBody") or {}).get("content") or {}
            for ctype in ("application/json", "multipart/form-data"):
                if ctype in content:
                    pointer = "/".join(
                        _pointer_escape(s)
                        for s in ("paths", template, method.lower(), "requestBody", "content")
                    )
                    ref = f"{_SPEC_URI}#/{pointer}/{_pointer_escape(ctype)}/schema"
                    validator = self._validator_cls({"$ref": ref}, registry=self._registry)
                    break
            self._validators[key] = validator
        return self._validators[key]

    def validate(self, method: str, path: str, body: Any) -> tuple[str, Any] | None:
        """Return (template, best error) for an invalid body, None if valid or not described."""
        from jsonschema.exceptions import best_match

        template = self.match(path)
        if template is None:
            return None
        validator = self._validator(template, method)
        if validator is None:
            return None
        error = best_match(validator.iter_errors(body))
        return None if error is None else (template, error)


def load_spec(path: Path) -> OpenApiSpec | None:
    if path not in _SPEC_CACHE:
        spec = None
        if path.is_file():
            try:
                spec = OpenApiSpec(json.loads(path.read_text(encoding="utf-8")))
            except ImportError:
                _log.warning("jsonschema/referencing missing: OpenAPI validation disabled")
        _SPEC_CACHE[path] = spec
    return _SPEC_CACHE[path]
