"""``POST /interactions/{id}/{token}/callback``: the bot's answer to an interaction, one handler per
callback type.

A callback is accepted once per interaction, within the 3 s acknowledgement window
(``ack_deadline``) and the token's 15 minutes; later ones get 10062 Unknown interaction, a second
one 40060. With ``?with_response=1`` the answer is 200 with the interaction callback response
(``{"interaction": ..., "resource": ...}``), else 204.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from .constants import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    TOKEN_LIFETIME,
    CallbackType,
    ErrorCode,
    InteractionType,
)
from .messages import MessageStore
from .records import FakeMessage, Interaction, RecordedRequest
from .responses import (
    TRUE_VALUES,
    ApiError,
    Reply,
    bad_callback_type,
    form_error,
    unknown_interaction,
    unknown_message,
)

# callback types whose resource (with ?with_response=1) includes the message
_MESSAGE_RESOURCES = (
    CallbackType.CHANNEL_MESSAGE,
    CallbackType.DEFERRED_CHANNEL_MESSAGE,
    CallbackType.UPDATE_MESSAGE,
)


class InteractionCallbacks(MessageStore):
    """``_h_callback`` and its ``_cb_*`` handlers (they return the message the response made or
    designated as @original, if any)."""

    async def _h_callback(self, rec: RecordedRequest) -> Reply:
        inter = self._callback_interaction(rec)
        body = rec.json if isinstance(rec.json, dict) else {}
        ctype: Any = body.get("type")
        raw_data = body.get("data")
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        # a dict look-up compares like `==` (JSON may give 4.0), and unhashable types are no type
        handler = _CALLBACK_HANDLERS.get(ctype) if isinstance(ctype, Hashable) else None
        if handler is None:
            raise form_error(["type"], "BASE_TYPE_CHOICES", f"Value {ctype!r} is not valid")
        msg = handler(self, rec, inter, data)
        inter.response_type = int(ctype)
        inter.responded_at = rec.time
        if rec.query.get("with_response") not in TRUE_VALUES:
            return Reply(204)
        return Reply(200, self._callback_response(inter, ctype, msg))

    def _callback_interaction(self, rec: RecordedRequest) -> Interaction:
        """The interaction the callback answers, if it still may be answered."""
        iid = rec.params["id"]
        inter = self._by_id.get(int(iid)) if iid.isdigit() else None
        if inter is None or inter.token != rec.params["token"]:
            raise unknown_interaction()
        if inter.response_type is not None:
            raise ApiError(
                400, ErrorCode.ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged."
            )
        age = self.clock() - inter.clock_at_send
        if age > TOKEN_LIFETIME or (self.ack_deadline is not None and age > self.ack_deadline):
            raise unknown_interaction()
        return inter

    def _callback_response(
        self, inter: Interaction, ctype: Any, msg: FakeMessage | None
    ) -> dict[str, Any]:
        resource: dict[str, Any] = {"type": ctype}
        if msg is not None and ctype in _MESSAGE_RESOURCES:
            resource["message"] = self._message_json(msg)
        return {
            "interaction": {
                "id": str(inter.id),
                "type": inter.type,
                "activity_instance_id": None,
                "response_message_id": str(msg.id) if msg is not None else None,
                "response_message_loading": bool(msg is not None and msg.loading),
                "response_message_ephemeral": bool(msg is not None and msg.ephemeral),
            },
            "resource": resource,
        }

    def _cb_pong(
        self, rec: RecordedRequest, inter: Interaction, data: dict[str, Any]
    ) -> FakeMessage | None:
        if inter.type != InteractionType.PING:
            raise bad_callback_type("PONG only answers PING interactions")
        return None

    def _cb_channel_message(
        self, rec: RecordedRequest, inter: Interaction, data: dict[str, Any]
    ) -> FakeMessage | None:
        """The response is a message (ephemeral when its flags say so)."""
        self._refuse_ping(inter)
        ephemeral = int(data.get("flags") or 0) & FLAG_EPHEMERAL
        return self._create_original(rec, inter, data, ephemeral)

    def _cb_deferred_channel_message(
        self, rec: RecordedRequest, inter: Interaction, data: dict[str, Any]
    ) -> FakeMessage | None:
        """A loading message ("thinking..."), ephemeral when the flags say so; an edit of
        @original or the first follow-up replaces it."""
        self._refuse_ping(inter)
        ephemeral = int(data.get("flags") or 0) & FLAG_EPHEMERAL
        return self._create_original(rec, inter, {}, FLAG_LOADING | ephemeral)

    def _cb_deferred_update_message(
        self, rec: RecordedRequest, inter: Interaction, data: dict[str, Any]
    ) -> FakeMessage | None:
        """A component's message becomes @original, unchanged for now."""
        msg = self._source_message(inter)
        inter.original_message_id = msg.id
        return msg

    def _cb_update_message(
        self, rec: RecordedRequest, inter: Interaction, data: dict[str, Any]
    ) -> FakeMessage | None:
        """A component's message is edited at once and becomes @original."""
        msg = self._source_message(inter)
        self._apply(rec, msg, data, creating=False, limit=self._interaction_limit(inter))
        inter.original_message_id = msg.id
        return msg

    def _cb_autocomplete_result(
        self, rec: RecordedRequest, inter: Interaction, data: dict[str, Any]
    ) -> FakeMessage | None:
        if inter.type != InteractionType.AUTOCOMPLETE:
            raise bad_callback_type("Only valid for autocomplete interactions")
        inter.autocomplete_choices = list(data.get("choices") or [])
        return None

    def _cb_modal(
        self, rec: RecordedRequest, inter: Interaction, data: dict[str, Any]
    ) -> FakeMessage | None:
        if inter.type in (InteractionType.PING, InteractionType.MODAL_SUBMIT):
            raise bad_callback_type("A modal cannot answer a ping or a modal submission")
        inter.modal = data
        return None

    @staticmethod
    def _refuse_ping(inter: Interaction) -> None:
        if inter.type == InteractionType.PING:
            raise bad_callback_type("PING interactions are answered with PONG")

    def _create_original(
        self, rec: RecordedRequest, inter: Interaction, body: dict[str, Any], flags: int
    ) -> FakeMessage:
        msg = self._create_message(
            rec,
            body,
            channel_id=int(inter.payload.get("channel_id") or self.channel_id),
            limit=self._interaction_limit(inter),
            flags=flags,
            inter=inter,
            mtype=self._message_type_for(inter),
        )
        inter.original_message_id = msg.id
        return msg

    def _source_message(self, inter: Interaction) -> FakeMessage:
        """The stored message a component interaction was on."""
        source = inter.payload.get("message")
        if not isinstance(source, dict):
            raise bad_callback_type("Only valid for component interactions")
        msg = self.messages.get(int(source["id"]))
        if msg is None or msg.deleted:
            raise unknown_message()
        return msg


_CallbackHandler = Callable[
    [InteractionCallbacks, RecordedRequest, Interaction, dict[str, Any]], FakeMessage | None
]
_CALLBACK_HANDLERS: dict[Any, _CallbackHandler] = {
    CallbackType.PONG: InteractionCallbacks._cb_pong,
    CallbackType.CHANNEL_MESSAGE: InteractionCallbacks._cb_channel_message,
    CallbackType.DEFERRED_CHANNEL_MESSAGE: InteractionCallbacks._cb_deferred_channel_message,
    CallbackType.DEFERRED_UPDATE_MESSAGE: InteractionCallbacks._cb_deferred_update_message,
    CallbackType.UPDATE_MESSAGE: InteractionCallbacks._cb_update_message,
    CallbackType.AUTOCOMPLETE_RESULT: InteractionCallbacks._cb_autocomplete_result,
    CallbackType.MODAL: InteractionCallbacks._cb_modal,
}
