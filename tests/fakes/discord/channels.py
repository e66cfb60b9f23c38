"""Channels: ``GET`` a channel, typing, messages (post, get, edit, delete) and the bot's own
reactions.

Posting honours ``message_reference`` (a reply; ``fail_if_not_exists``) and, like Discord,
``nonce`` with ``enforce_nonce``: a nonce already used in the channel returns the earlier message
instead of creating another.
"""

from __future__ import annotations

from .constants import ErrorCode, MessageReferenceType, MessageType
from .messages import MessageStore
from .records import FakeMessage, RecordedRequest
from .responses import ApiError, Reply, form_error, unknown_channel, unknown_message


class Channels(MessageStore):
    """Channel routes; ``deleted_channels`` answer 10003 Unknown Channel."""

    def _channel_id(self, rec: RecordedRequest) -> int:
        cid = rec.params["cid"]
        if not cid.isdigit() or int(cid) in self.deleted_channels:
            raise unknown_channel()
        return int(cid)

    def _channel_message(self, rec: RecordedRequest) -> FakeMessage:
        cid = self._channel_id(rec)
        mid = rec.params["mid"]
        msg = self.messages.get(int(mid)) if mid.isdigit() else None
        if msg is None or msg.deleted or msg.ephemeral or msg.channel_id != cid:
            raise unknown_message()
        return msg

    async def _h_channel(self, rec: RecordedRequest) -> Reply:
        return Reply(200, self.channel_json(self._channel_id(rec)))

    async def _h_typing(self, rec: RecordedRequest) -> Reply:
        self._channel_id(rec)
        return Reply(204)

    async def _h_channel_post(self, rec: RecordedRequest) -> Reply:
        cid = self._channel_id(rec)
        body = rec.json if isinstance(rec.json, dict) else {}
        ref = body.get("message_reference")
        mtype = MessageType.DEFAULT
        if isinstance(ref, dict) and ref.get("message_id") is not None:
            target = self.messages.get(int(ref["message_id"]))
            if (target is None or target.deleted) and ref.get("fail_if_not_exists", True):
                raise form_error(
                    ["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
            ref = {
                "type": ref.get("type", MessageReferenceType.DEFAULT),
                "message_id": str(ref["message_id"]),
                "channel_id": str(ref.get("channel_id") or cid),
            }
            if self._guild_of(cid) is not None:
                ref["guild_id"] = str(self._guild_of(cid))
            mtype = MessageType.REPLY
        # Documented: with `enforce_nonce`, a nonce this author used in the past few minutes
        # returns that message instead of creating another (here: for the fake's life).
        nonce = (cid, str(body["nonce"])) if body.get("enforce_nonce") and "nonce" in body else None
        earlier = self.messages.get(self._nonces.get(nonce, 0)) if nonce else None
        if earlier is not None and not earlier.deleted:
            return Reply(200, self._message_json(earlier))
        msg = self._create_message(
            rec, body, channel_id=cid, limit=self.attachment_size_limit, mtype=mtype
        )
        if mtype == MessageType.REPLY:
            msg.message_reference = ref
        if nonce is not None:
            self._nonces[nonce] = msg.id
        return Reply(200, self._message_json(msg))

    async def _h_channel_get(self, rec: RecordedRequest) -> Reply:
        return Reply(200, self._message_json(self._channel_message(rec)))

    async def _h_channel_edit(self, rec: RecordedRequest) -> Reply:
        msg = self._channel_message(rec)
        body = rec.json if isinstance(rec.json, dict) else {}
        if msg.author is not None and set(body) - {"flags"}:
            raise ApiError(
                403,
                ErrorCode.CANNOT_EDIT_OTHERS_MESSAGE,
                "Cannot edit a message authored by another user",
            )
        self._apply(rec, msg, body, creating=False, limit=self.attachment_size_limit)
        return Reply(200, self._message_json(msg))

    async def _h_channel_delete(self, rec: RecordedRequest) -> Reply:
        self._channel_message(rec).deleted = True
        return Reply(204)

    async def _h_reaction(self, rec: RecordedRequest) -> Reply:
        msg = self._channel_message(rec)
        emoji = rec.params["emoji"]
        if rec.method == "PUT" and emoji not in msg.reactions:
            msg.reactions.append(emoji)
        elif rec.method == "DELETE" and emoji in msg.reactions:
            msg.reactions.remove(emoji)
        return Reply(204)
