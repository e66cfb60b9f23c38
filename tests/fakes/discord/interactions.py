"""Interactions the tests send: chat-input commands, autocomplete, components (buttons, selects),
modal submissions and raw payloads, dispatched as INTERACTION_CREATE with the fields discord.py
needs (``id, type, token, version, application_id, attachment_size_limit``, the channel, the
member or user, ...)."""

from __future__ import annotations

import asyncio
import copy
import secrets
import time
from collections.abc import Sequence
from typing import Any

from .commands import ApplicationCommands
from .constants import (
    ALL_PERMISSIONS,
    DEFAULT_MEMBER_PERMISSIONS,
    DEFAULT_USER_ID,
    CommandType,
    ComponentType,
    IntegrationType,
    InteractionContext,
    InteractionType,
    OptionType,
)
from .gateway import Gateway
from .messages import MessageStore
from .records import FakeMessage, Interaction


class InteractionSender(Gateway, MessageStore, ApplicationCommands):
    """``send_*``: build an interaction payload and dispatch it."""

    async def send_interaction(
        self,
        name: str,
        options: list[dict[str, Any]] | None = None,
        *,
        user_id: int = DEFAULT_USER_ID,
        channel_id: int | None = None,
        guild_id: int | None = None,
        permissions: str = DEFAULT_MEMBER_PERMISSIONS,
        attachment_size_limit: int | None = None,
        member_roles: list[int] | None = None,
        resolved: dict[str, Any] | None = None,
        locale: str = "en-US",
        shard: int | Sequence[int] | None = None,
    ) -> Interaction:
        """Dispatch a chat-input command (interaction type 2); ``shard`` as in
        ``send_raw_interaction``."""
        data = self._command_data(name, options, guild_id, resolved)
        return await self.send_raw_interaction(
            self._interaction_base(
                InteractionType.APPLICATION_COMMAND,
                data,
                user_id=user_id,
                channel_id=channel_id,
                guild_id=guild_id,
                permissions=permissions,
                attachment_size_limit=attachment_size_limit,
                member_roles=member_roles,
                locale=locale,
            ),
            shard=shard,
        )

    async def send_autocomplete(
        self,
        name: str,
        options: list[dict[str, Any]],
        *,
        user_id: int = DEFAULT_USER_ID,
        channel_id: int | None = None,
        guild_id: int | None = None,
    ) -> Interaction:
        """Dispatch an autocomplete interaction (type 4); mark the typed option ``focused``."""
        data = self._command_data(name, options, guild_id, None)
        return await self.send_raw_interaction(
            self._interaction_base(
                InteractionType.AUTOCOMPLETE,
                data,
                user_id=user_id,
                channel_id=channel_id,
                guild_id=guild_id,
            )
        )

    async def send_component(
        self,
        message: FakeMessage | int,
        custom_id: str,
        *,
        component_type: int = ComponentType.BUTTON,
        values: list[str] | None = None,
        user_id: int = DEFAULT_USER_ID,
        permissions: str = DEFAULT_MEMBER_PERMISSIONS,
        message_overrides: dict[str, Any] | None = None,
    ) -> Interaction:
        """Dispatch a component interaction (type 3) on a stored message (button by default).
        ``message_overrides`` replaces fields of the message the client claims to click on
        (e.g. stale or forged ``components``)."""
        msg = message if isinstance(message, FakeMessage) else self.messages.get(message)
        if msg is None:
            raise KeyError(f"unknown message {message!r}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
        d = self._interaction_base(
            InteractionType.MESSAGE_COMPONENT,
            data,
            user_id=user_id,
            channel_id=msg.channel_id,
            guild_id=msg.guild_id,
            permissions=permissions,
        )
        d["message"] = {**self._message_json(msg), **(message_overrides or {})}
        return await self.send_raw_interaction(d)

    async def send_modal_submit(
        self,
        custom_id: str,
        values: dict[str, str],
        *,
        message: FakeMessage | int | None = None,
        user_id: int = DEFAULT_USER_ID,
        selects: dict[str, list[str]] | None = None,
    ) -> Interaction:
        """Dispatch a modal submission (type 5) with text inputs ``{custom_id: value}`` (in
        action rows) and string selects ``{custom_id: [values]}`` (in labels, type 18, the
        only place a modal takes a select)."""
        rows: list[dict[str, Any]] = [
            {
                "type": ComponentType.ACTION_ROW,
                "components": [
                    {"type": ComponentType.TEXT_INPUT, "custom_id": cid, "value": value}
                ],
            }
            for cid, value in values.items()
        ]
        rows += [
            {"type": 18, "component": {"type": 3, "custom_id": cid, "values": chosen}}
            for cid, chosen in (selects or {}).items()
        ]
        data = {"custom_id": custom_id, "components": rows}
        d = self._interaction_base(InteractionType.MODAL_SUBMIT, data, user_id=user_id)
        if message is not None:
            msg = message if isinstance(message, FakeMessage) else self.messages[message]
            d["message"] = self._message_json(msg)
        return await self.send_raw_interaction(d)

    async def send_message_command(
        self, name: str, message: FakeMessage, *, user_id: int = DEFAULT_USER_ID
    ) -> Interaction:
        """Dispatch a message command (a menu under Apps, type 3) used on ``message``."""
        return await self.send_raw_interaction(
            {
                "type": InteractionType.APPLICATION_COMMAND,
                "data": {
                    "id": self.commands[name]["id"],
                    "name": name,
                    "type": 3,
                    "target_id": str(message.id),
                    "guild_id": str(self.guild_id),
                    "resolved": {"messages": {str(message.id): self._message_json(message)}},
                },
                "guild_id": str(self.guild_id),
                "channel_id": str(self.channel_id),
                "member": self.member_json(user_id),
            }
        )

    async def send_raw_interaction(
        self, d: dict[str, Any], *, shard: int | Sequence[int] | None = None
    ) -> Interaction:
        """Dispatch an INTERACTION_CREATE; missing standard fields are filled in.

        ``shard`` sends it to that shard's sessions instead of its guild's shard; several shards
        each get the same interaction at once (Discord delivering it twice, e.g. to two
        processes of one bot), and the first callback wins (a second gets 40060).

        A ``message`` whose id the fake does not know is registered as a stored message, and a
        known one is completed from the store, so callbacks 6/7 can update it.
        """
        d = dict(d)
        d.setdefault("id", str(self._snowflake()))
        d.setdefault("token", secrets.token_urlsafe(48))
        d.setdefault("application_id", str(self.app_id))
        d.setdefault("version", 1)
        d.setdefault("type", InteractionType.APPLICATION_COMMAND)
        d.setdefault("attachment_size_limit", self.attachment_size_limit)
        d.setdefault("locale", "en-US")
        d.setdefault("entitlements", [])
        d.setdefault("app_permissions", str(ALL_PERMISSIONS))
        if "user" in d and "guild_id" not in d:  # a DM
            uid = int(d["user"]["id"])
            d.setdefault("channel_id", str(self._dm_channel_for(uid)))
            d.setdefault("channel", self.channel_json(int(d["channel_id"])))
            d.setdefault("context", InteractionContext.BOT_DM)
            owners = {str(IntegrationType.USER_INSTALL): str(uid)}
            d.setdefault("authorizing_integration_owners", owners)
        else:
            base = self._interaction_base(int(d["type"]), d.get("data"))
            for key, value in base.items():
                d.setdefault(key, value)
        self._refresh_resolved(d)
        if isinstance(d.get("message"), dict) and "id" in d["message"]:
            mid = int(d["message"]["id"])
            known = self.messages.get(mid)
            if known is None:
                self._register_message(d["message"], int(d["channel_id"]))
            else:
                d["message"] = {**self._message_json(known), **d["message"]}

        inter = Interaction(
            id=int(d["id"]),
            token=str(d["token"]),
            payload=d,
            fake=self,
            sent_at=time.monotonic(),
            clock_at_send=self.clock(),
        )
        self.interactions.append(inter)
        self._by_id[inter.id] = inter
        self._by_token[inter.token] = inter
        if shard is None or isinstance(shard, int):
            await self.dispatch("INTERACTION_CREATE", d, shard=shard)
        else:
            await asyncio.gather(*(self.dispatch("INTERACTION_CREATE", d, shard=i) for i in shard))
        return inter

    def _interaction_base(
        self,
        itype: int,
        data: Any,
        *,
        user_id: int = DEFAULT_USER_ID,
        channel_id: int | None = None,
        guild_id: int | None = None,
        permissions: str = DEFAULT_MEMBER_PERMISSIONS,
        attachment_size_limit: int | None = None,
        member_roles: list[int] | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        gid = self.guild_id if guild_id is None else guild_id
        cid = self.guild_channels.get(gid, self.channel_id) if channel_id is None else channel_id
        channel = self.channel_json(cid)
        channel["guild_id"] = str(gid)
        channel["permissions"] = str(ALL_PERMISSIONS)
        d: dict[str, Any] = {
            "type": itype,
            "guild_id": str(gid),
            "channel_id": str(cid),
            "channel": channel,
            "guild": {"id": str(gid), "locale": "en-US", "features": []},
            "member": self.member_json(user_id, member_roles, permissions),
            "app_permissions": str(ALL_PERMISSIONS),
            "locale": locale,
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {str(IntegrationType.GUILD_INSTALL): str(gid)},
            "context": InteractionContext.GUILD,
            "attachment_size_limit": (
                self.attachment_size_limit
                if attachment_size_limit is None
                else attachment_size_limit
            ),
        }
        if data is not None:
            d["data"] = data
        return d

    def _command_data(
        self,
        name: str,
        options: list[dict[str, Any]] | None,
        guild_id: int | None,
        resolved: dict[str, Any] | None,
    ) -> dict[str, Any]:
        gid = self.guild_id if guild_id is None else guild_id
        command = self.guild_commands.get(gid, {}).get(name)
        scope_gid: int | None = gid
        if command is None and name in self.global_commands:
            command, scope_gid = self.global_commands[name], None
        # an unsynced command keeps guild_id: discord.py then looks in guild and global commands
        chat_input = CommandType.CHAT_INPUT
        data: dict[str, Any] = {
            "id": command["id"] if command else str(self._command_id(scope_gid, name, chat_input)),
            "name": name,
            "type": int(command.get("type", chat_input)) if command else chat_input,
        }
        if scope_gid is not None:
            data["guild_id"] = str(scope_gid)
        resolved = copy.deepcopy(resolved) if resolved else {}
        if options is not None:
            data["options"] = self._resolve_options(copy.deepcopy(options), resolved)
        if resolved:
            data["resolved"] = resolved
        return data

    def _resolve_options(
        self, options: list[dict[str, Any]], resolved: dict[str, Any]
    ) -> list[dict[str, Any]]:
        for option in options:
            if "options" in option:
                self._resolve_options(option["options"], resolved)
            value = option.get("value")
            if option.get("type") == OptionType.ATTACHMENT and isinstance(value, dict):
                resolved.setdefault("attachments", {})[str(value["id"])] = value
                option["value"] = str(value["id"])
        return options
