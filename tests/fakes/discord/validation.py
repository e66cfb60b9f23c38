"""Request bodies checked against Discord's OpenAPI description (``openapi.py``) and against
Discord's own limits that the description does not express (``_rule_violation``, called by the
handlers). Both kinds of finding land in ``spec_violations`` and are answered with 400 Invalid
Form Body."""

from __future__ import annotations

from typing import Any

from .records import RecordedRequest
from .responses import ApiError, form_error
from .state import FakeState


def _error_path(error: Any) -> list[str | int]:
    return list(error.absolute_path)


class SpecChecks(FakeState):
    """Validation against the description, and Discord's own rules, recorded as violations."""

    def _validate(self, rec: RecordedRequest) -> ApiError | None:
        if self._spec is None or rec.json is None:
            return None
        result = self._spec.validate(rec.method, rec.path, rec.json)
        if result is None:
            return None
        template, error = result
        where = "".join(f"[{p!r}]" for p in error.absolute_path) or "(body)"
        message = error.message if len(error.message) < 300 else error.message[:300] + "..."
        self.spec_violations.append(
            f"{rec.method} {template}: {where}: {message} (schema: {error.validator})"
        )
        return form_error(_error_path(error), "BASE_TYPE_BAD", message)

    def _rule_violation(self, rec: RecordedRequest, path: list[str | int], message: str) -> None:
        where = "".join(f"[{p!r}]" for p in path) or "(body)"
        self.spec_violations.append(f"[discord rule] {rec.route}: {where}: {message}")
        raise form_error(path, "BASE_TYPE_BAD", message)
