"""What a route handler answers (a ``Reply``, or raises an ``ApiError``) and how it goes on the
wire: JSON bodies carry ``Content-Type: application/json`` exactly, since discord.py parses JSON
only for that header value."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .constants import ErrorCode

TRUE_VALUES = {"1", "true", "True"}  # query flags such as ?wait= and ?with_response=


class ApiError(Exception):
    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.body: dict[str, Any] = {"code": code, "message": message}
        if errors is not None:
            self.body["errors"] = errors


def unknown_message() -> ApiError:
    return ApiError(404, ErrorCode.UNKNOWN_MESSAGE, "Unknown Message")


def unknown_webhook() -> ApiError:
    return ApiError(404, ErrorCode.UNKNOWN_WEBHOOK, "Unknown Webhook")


def unknown_channel() -> ApiError:
    return ApiError(404, ErrorCode.UNKNOWN_CHANNEL, "Unknown Channel")


def unknown_interaction() -> ApiError:
    return ApiError(404, ErrorCode.UNKNOWN_INTERACTION, "Unknown interaction")


def missing_access() -> ApiError:
    return ApiError(403, ErrorCode.MISSING_ACCESS, "Missing Access")


def bad_callback_type(message: str) -> ApiError:
    return form_error(["type"], "INTERACTION_RESPONSE_TYPE_INVALID", message)


def form_error(path: list[str | int], code: str, message: str) -> ApiError:
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        errors = {str(key): errors}
    return ApiError(400, ErrorCode.INVALID_FORM_BODY, "Invalid Form Body", errors)


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-serialisable, or None for an empty body


def json_response(status: int, body: Any, headers: dict[str, str]) -> web.Response:
    if body is None or status == 204:
        return web.Response(status=status, headers=headers)
    headers = {**headers, "Content-Type": "application/json"}  # exactly; no charset
    return web.Response(status=status, body=json.dumps(body).encode(), headers=headers)
