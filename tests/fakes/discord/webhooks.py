"""The interaction webhook: follow-ups (``POST /webhooks/{app}/{token}``) and ``GET``/``PATCH``/
``DELETE`` of ``/webhooks/{app}/{token}/messages/@original`` or a follow-up's id, for as long as
the token lives (15 minutes; then 401 Invalid Webhook Token)."""

from __future__ import annotations

from .constants import FLAG_EPHEMERAL, TOKEN_LIFETIME, CallbackType, ErrorCode
from .messages import MessageStore
from .records import FakeMessage, Interaction, RecordedRequest
from .responses import TRUE_VALUES, ApiError, Reply, unknown_message, unknown_webhook


class Webhooks(MessageStore):
    """Messages sent and edited through an interaction's token."""

    def _webhook_interaction(self, rec: RecordedRequest) -> Interaction:
        if rec.params["id"] != str(self.app_id):
            raise unknown_webhook()
        inter = self._by_token.get(rec.params["token"])
        if inter is None:
            raise unknown_webhook()
        if self.clock() - inter.clock_at_send > TOKEN_LIFETIME:
            raise ApiError(401, ErrorCode.INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
        return inter

    def _webhook_message(self, rec: RecordedRequest, inter: Interaction) -> FakeMessage:
        mid = rec.params["mid"]
        if mid == "@original":
            if inter.original_message_id is None:
                raise unknown_message()
            target = inter.original_message_id
        elif mid.isdigit() and (
            int(mid) == inter.original_message_id or int(mid) in inter.followup_ids
        ):
            target = int(mid)
        else:
            raise unknown_message()
        msg = self.messages.get(target)
        if msg is None or msg.deleted:
            raise unknown_message()
        return msg

    async def _h_followup(self, rec: RecordedRequest) -> Reply:
        inter = self._webhook_interaction(rec)
        if inter.response_type is None:
            raise unknown_webhook()
        body = rec.json if isinstance(rec.json, dict) else {}
        limit = self._interaction_limit(inter)
        original = inter.original()
        if (
            original is not None
            and not original.deleted
            and original.loading
            and inter.response_type == CallbackType.DEFERRED_CHANNEL_MESSAGE
        ):
            # Documented: the first follow-up after a deferred response edits the loading
            # message instead (its ephemeral flag stays as deferred).
            self._apply(rec, original, body, creating=False, limit=limit)
            msg = original
        else:
            ephemeral = int(body.get("flags") or 0) & FLAG_EPHEMERAL
            msg = self._create_message(
                rec,
                body,
                channel_id=int(inter.payload.get("channel_id") or self.channel_id),
                limit=limit,
                flags=ephemeral,
                inter=inter,
                mtype=self._message_type_for(inter),
            )
            inter.followup_ids.append(msg.id)
        if rec.query.get("wait") not in TRUE_VALUES:
            return Reply(204)
        return Reply(200, self._message_json(msg))

    async def _h_webhook_get(self, rec: RecordedRequest) -> Reply:
        inter = self._webhook_interaction(rec)
        return Reply(200, self._message_json(self._webhook_message(rec, inter)))

    async def _h_webhook_edit(self, rec: RecordedRequest) -> Reply:
        inter = self._webhook_interaction(rec)
        msg = self._webhook_message(rec, inter)
        body = rec.json if isinstance(rec.json, dict) else {}
        self._apply(rec, msg, body, creating=False, limit=self._interaction_limit(inter))
        return Reply(200, self._message_json(msg))

    async def _h_webhook_delete(self, rec: RecordedRequest) -> Reply:
        inter = self._webhook_interaction(rec)
        self._webhook_message(rec, inter).deleted = True
        return Reply(204)
