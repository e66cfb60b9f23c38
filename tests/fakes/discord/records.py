"""What the fake records: requests, files, messages and interactions (the objects tests read)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .constants import FLAG_EPHEMERAL, FLAG_LOADING, CallbackType

if TYPE_CHECKING:
    from .state import FakeState

CALLBACK_ROUTE = "POST /interactions/{id}/{token}/callback"


@dataclass
class RecordedFile:
    """A file part of a multipart request, or an attachment of a message."""

    field_name: str
    filename: str
    content_type: str
    data: bytes
    id: int = 0  # attachment id (0 for request parts)
    description: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass
class RecordedRequest:
    """One HTTP request the fake received (API requests only) and the status it answered."""

    method: str
    path: str  # after the API base, e.g. "/interactions/5/tok/callback"
    query: dict[str, str]
    json: Any
    files: list[RecordedFile]
    headers: dict[str, str]
    time: float  # time.monotonic() at receipt
    status: int  # 0 while the request is still being answered
    route: str  # e.g. "PATCH /webhooks/{id}/{token}/messages/{mid}"
    params: dict[str, str] = field(default_factory=dict)  # path parameters of `route`


@dataclass
class FakeMessage:
    """A message stored by the fake; ``history`` holds every state, the first is creation."""

    id: int
    channel_id: int
    content: str | None = None
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    attachments: list[RecordedFile] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    interaction_token: str | None = None
    guild_id: int | None = None
    type: int = 0
    author: dict[str, Any] | None = None  # None: the bot user
    interaction_id: int | None = None
    message_reference: dict[str, Any] | None = None
    reactions: list[str] = field(default_factory=list)
    previous_attachments: list[RecordedFile] = field(default_factory=list)  # replaced by edits
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    edited_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other raw fields (registered messages)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & FLAG_LOADING)

    def snapshot(self) -> dict[str, Any]:
        """The state recorded in ``history``."""
        return {
            "content": self.content,
            "embeds": copy.deepcopy(self.embeds),
            "components": copy.deepcopy(self.components),
            "flags": self.flags,
            "attachments": [a.filename for a in self.attachments],
        }


@dataclass
class Interaction:
    """An interaction the fake dispatched, and what the bot answered to it."""

    id: int
    token: str
    payload: dict[str, Any]  # the full `d` of INTERACTION_CREATE
    fake: FakeState | None = field(default=None, repr=False, compare=False)  # the sender
    sent_at: float = 0.0  # time.monotonic() when dispatched
    response_type: int | None = None  # callback type, once acknowledged
    responded_at: float | None = None  # time.monotonic() of the accepted callback
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    autocomplete_choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None
    clock_at_send: float = field(default=0.0, repr=False)  # fake clock (with offset) at dispatch

    @property
    def type(self) -> int:
        return int(self.payload["type"])

    def callbacks(self) -> list[RecordedRequest]:
        """POSTs to /interactions/{id}/{token}/callback for this interaction (any status)."""
        assert self.fake is not None
        return [
            r
            for r in self.fake.requests
            if r.route == CALLBACK_ROUTE and r.params.get("id") == str(self.id)
        ]

    def original(self) -> FakeMessage | None:
        """The @original message, once a callback created (or designated) it."""
        if self.fake is None or self.original_message_id is None:
            return None
        return self.fake.message(self.original_message_id)

    def followups(self) -> list[FakeMessage]:
        """Follow-up messages created through POST /webhooks/{app}/{token}."""
        assert self.fake is not None
        return [m for i in self.followup_ids if (m := self.fake.message(i)) is not None]

    def private_answers(self) -> list[str]:
        """What only the member saw: an ephemeral reply as the callback, or ephemeral
        follow-ups (after a deferral), in order. How it was sent is the bot's business."""
        out = []
        for callback in self.callbacks():
            if callback.status >= 300:  # refused (e.g. 40060): the member never saw it
                continue
            data = callback.json.get("data") or {} if isinstance(callback.json, dict) else {}
            is_message = callback.json.get("type") == CallbackType.CHANNEL_MESSAGE
            if is_message and int(data.get("flags") or 0) & FLAG_EPHEMERAL:
                out.append(str(data.get("content") or ""))
        # A message callback *is* the original: counted once, unless it was edited since.
        answered = out[-1] if out else None
        out += [m.content or "" for m in self.followups() if m.ephemeral]
        original = self.original()
        shown = original is not None and original.ephemeral and not original.deleted
        if original is not None and shown and (original.content or "") != answered:
            out.append(original.content or "")
        return out
