"""Messages: their JSON, messages registered from raw payloads, and applying a create or edit body
(content, embeds, components, flags, files) all or nothing, with Discord's limits."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from .attachments import Attachments
from .constants import (
    CREATE_FLAGS,
    EDIT_FLAGS,
    FLAG_COMPONENTS_V2,
    FLAG_LOADING,
    MAX_ACTION_ROWS,
    MAX_CONTENT_LENGTH,
    MAX_EMBEDS_LENGTH,
    CommandType,
    ErrorCode,
    InteractionType,
    MessageType,
)
from .entities import Entities
from .records import FakeMessage, Interaction, RecordedRequest
from .responses import ApiError
from .validation import SpecChecks


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class MessageStore(Entities, Attachments, SpecChecks):
    """Rendering, registering, creating and editing stored messages."""

    def _message_json(self, msg: FakeMessage) -> dict[str, Any]:
        out: dict[str, Any] = copy.deepcopy(msg.extra)
        out.update(
            {
                "id": str(msg.id),
                "channel_id": str(msg.channel_id),
                "author": msg.author or self.bot_user_json(),
                "content": msg.content or "",
                "timestamp": _iso(msg.created_at),
                "edited_timestamp": _iso(msg.edited_at),
                "tts": False,
                "mention_everyone": False,
                "mentions": [],
                "mention_roles": [],
                "attachments": [self._attachment_json(msg, a) for a in msg.attachments],
                "embeds": self._embeds_json(msg),
                "components": copy.deepcopy(msg.components),
                "flags": msg.flags,
                "type": msg.type,
                "pinned": False,
            }
        )
        if msg.guild_id is not None:
            out["guild_id"] = str(msg.guild_id)
        if msg.reactions:
            out["reactions"] = [
                {"emoji": {"id": None, "name": e}, "count": 1, "me": True} for e in msg.reactions
            ]
        if msg.message_reference is not None:
            out["message_reference"] = msg.message_reference
            ref = self.messages.get(int(msg.message_reference.get("message_id", 0) or 0))
            if ref is not None and not ref.deleted:
                out["referenced_message"] = self._message_json(ref)
        inter = self._by_id.get(msg.interaction_id) if msg.interaction_id else None
        if inter is not None:
            self._add_interaction_json(out, msg, inter)
        return out

    def _add_interaction_json(
        self, out: dict[str, Any], msg: FakeMessage, inter: Interaction
    ) -> None:
        """What a message sent in answer to an interaction says about it (webhook and
        ``interaction_metadata``; ``interaction`` too for commands)."""
        out["webhook_id"] = str(self.app_id)
        out["application_id"] = str(self.app_id)
        user = (inter.payload.get("member") or {}).get("user") or inter.payload.get("user")
        meta: dict[str, Any] = {
            "id": str(inter.id),
            "type": inter.type,
            "user": user,
            "authorizing_integration_owners": inter.payload.get(
                "authorizing_integration_owners", {}
            ),
        }
        data = inter.payload.get("data") or {}
        if inter.type == InteractionType.APPLICATION_COMMAND:
            meta["name"] = data.get("name")
            meta["command_type"] = data.get("type", CommandType.CHAT_INPUT)
            out["interaction"] = {
                "id": str(inter.id),
                "type": inter.type,
                "name": data.get("name"),
                "user": user,
            }
        if msg.id != inter.original_message_id and inter.original_message_id is not None:
            meta["original_response_message_id"] = str(inter.original_message_id)
        if isinstance(inter.payload.get("message"), dict):
            meta["interacted_message_id"] = str(inter.payload["message"]["id"])
        out["interaction_metadata"] = meta

    def _embeds_json(self, msg: FakeMessage) -> list[dict[str, Any]]:
        """The message's embeds, their images of its own attachments freshly signed (other URLs
        are the sender's and stay as they were sent)."""
        embeds = copy.deepcopy(msg.embeds)
        own = {self._attachment_url(msg, a) for a in msg.attachments}
        for embed in embeds:
            for key in ("image", "thumbnail"):
                media = embed.get(key)
                if isinstance(media, dict) and media.get("url") in own:
                    url = self.signed_url(media["url"])
                    media.update(url=url, proxy_url=url)
        return embeds

    def _register_message(self, raw: dict[str, Any], channel_id: int) -> FakeMessage:
        known = {
            "id",
            "channel_id",
            "content",
            "embeds",
            "components",
            "flags",
            "attachments",
            "author",
            "type",
            "guild_id",
        }
        author = raw.get("author")
        msg = FakeMessage(
            id=int(raw["id"]),
            channel_id=int(raw.get("channel_id", channel_id)),
            content=raw.get("content", ""),
            embeds=copy.deepcopy(raw.get("embeds", [])),
            components=copy.deepcopy(raw.get("components", [])),
            flags=int(raw.get("flags", 0)),
            guild_id=int(raw["guild_id"]) if raw.get("guild_id") else self._guild_of(channel_id),
            type=int(raw.get("type", MessageType.DEFAULT)),
            author=None if not author or int(author["id"]) == self.bot_user_id else author,
            extra={k: v for k, v in raw.items() if k not in known},
        )
        msg.history.append(msg.snapshot())
        self.messages[msg.id] = msg
        return msg

    def _number_components(self, components: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copy components, giving each a numeric ``id`` like Discord does."""
        out = []
        for comp in components:
            comp = dict(comp)
            if comp.get("id") is None:
                self._component_id += 1
                comp["id"] = self._component_id
            for key in ("components", "items"):
                if isinstance(comp.get(key), list) and all(isinstance(c, dict) for c in comp[key]):
                    comp[key] = self._number_components(comp[key])
            if isinstance(comp.get("accessory"), dict):
                comp["accessory"] = self._number_components([comp["accessory"]])[0]
            out.append(comp)
        return out

    def _resolve_embed_urls(self, embeds: list[dict[str, Any]], msg: FakeMessage) -> None:
        names = {a.filename: a for a in msg.attachments}
        for embed in embeds:
            embed.setdefault("type", "rich")
            for key in ("image", "thumbnail"):
                media = embed.get(key)
                if isinstance(media, dict) and str(media.get("url", "")).startswith(
                    "attachment://"
                ):
                    att = names.get(media["url"][len("attachment://") :])
                    if att is not None:
                        url = self._attachment_url(msg, att)
                        media.update(url=url, proxy_url=url)
                        if att.width is not None:
                            media.update(width=att.width, height=att.height)

    def _check_rules(self, rec: RecordedRequest, body: dict[str, Any], flags: int) -> None:
        """Discord limits the OpenAPI description does not express."""
        content = body.get("content")
        if isinstance(content, str) and len(content) > MAX_CONTENT_LENGTH:
            self._rule_violation(rec, ["content"], "Must be 2000 or fewer in length.")
        embeds = body.get("embeds") or []
        total = 0
        for embed in embeds:
            if not isinstance(embed, dict):
                continue
            total += len(str(embed.get("title") or "")) + len(str(embed.get("description") or ""))
            total += len(str((embed.get("footer") or {}).get("text") or ""))
            total += len(str((embed.get("author") or {}).get("name") or ""))
            for fld in embed.get("fields") or []:
                total += len(str(fld.get("name") or "")) + len(str(fld.get("value") or ""))
        if total > MAX_EMBEDS_LENGTH:
            self._rule_violation(rec, ["embeds"], "Embed size exceeds maximum size of 6000")
        components = body.get("components") or []
        if flags & FLAG_COMPONENTS_V2:
            if content or embeds:
                self._rule_violation(
                    rec,
                    ["content"],
                    "The 'content' and 'embeds' fields cannot be used with IS_COMPONENTS_V2",
                )
        elif len(components) > MAX_ACTION_ROWS:
            self._rule_violation(rec, ["components"], "Must be 5 or fewer in length.")

    def _apply(
        self,
        rec: RecordedRequest,
        msg: FakeMessage,
        body: dict[str, Any],
        *,
        creating: bool,
        limit: int,
    ) -> None:
        """Apply a create/edit body (and the request's files) to ``msg``, all or nothing."""
        if creating:
            flags = msg.flags | (int(body.get("flags") or 0) & CREATE_FLAGS)
        else:
            flags = msg.flags & ~FLAG_LOADING
            if body.get("flags") is not None:
                flags = (flags & ~EDIT_FLAGS) | (int(body["flags"]) & EDIT_FLAGS)
        self._check_rules(rec, body, flags)
        resolved = self._resolve_attachments(rec, body, msg.attachments, limit)
        attachments = msg.attachments if resolved is None else resolved
        content = body.get("content", msg.content)
        embeds = copy.deepcopy(body["embeds"] or []) if "embeds" in body else msg.embeds
        components = msg.components
        if "components" in body:
            components = self._number_components(body["components"] or [])
        poll = body.get("poll") if creating else msg.extra.get("poll")
        has_body = content or embeds or attachments or components or poll or body.get("sticker_ids")
        if not has_body and not flags & FLAG_LOADING:
            raise ApiError(400, ErrorCode.EMPTY_MESSAGE, "Cannot send an empty message")
        msg.previous_attachments.extend(a for a in msg.attachments if a not in attachments)
        msg.content, msg.embeds, msg.components = content, embeds, components
        msg.attachments, msg.flags = attachments, flags
        if poll is not None:
            msg.extra["poll"] = poll
        self._resolve_embed_urls(msg.embeds, msg)
        if not creating:
            msg.edited_at = self._now()
        msg.history.append(msg.snapshot())

    def _interaction_limit(self, inter: Interaction) -> int:
        return int(inter.payload.get("attachment_size_limit") or self.attachment_size_limit)

    def _message_type_for(self, inter: Interaction) -> int:
        if inter.type == InteractionType.APPLICATION_COMMAND:
            return MessageType.CHAT_INPUT_COMMAND
        return MessageType.DEFAULT

    def _create_message(
        self,
        rec: RecordedRequest,
        body: dict[str, Any],
        *,
        channel_id: int,
        limit: int,
        flags: int = 0,
        inter: Interaction | None = None,
        mtype: int = MessageType.DEFAULT,
    ) -> FakeMessage:
        msg = FakeMessage(
            id=self._snowflake(),
            channel_id=channel_id,
            content="",
            flags=flags,
            guild_id=self._guild_of(channel_id),
            type=mtype,
            created_at=self._now(),
        )
        if inter is not None:
            msg.interaction_token = inter.token
            msg.interaction_id = inter.id
        self._apply(rec, msg, body, creating=True, limit=limit)
        self.messages[msg.id] = msg
        return msg
