"""Application commands: sync (``PUT`` of the whole list, ``POST`` of one, ``GET``), globally or
for a guild of the bot, echoed back with ids like Discord does. Dispatch finds commands by name, so
``send_interaction`` uses the synced command's id when there is one."""

from __future__ import annotations

import copy
from typing import Any

from .constants import CommandType, IntegrationType
from .records import RecordedRequest
from .responses import Reply, form_error, missing_access
from .validation import SpecChecks


class ApplicationCommands(SpecChecks):
    """``commands`` (all synced, by name), ``global_commands`` and ``guild_commands``."""

    def _command_id(self, guild_id: int | None, name: str, ctype: int) -> int:
        key = (guild_id, name, ctype)
        if key not in self._command_ids:
            self._command_ids[key] = self._snowflake()
        return self._command_ids[key]

    def _check_app(self, rec: RecordedRequest) -> int | None:
        if rec.params["id"] != str(self.app_id):
            raise missing_access()
        gid = rec.params.get("gid")
        if gid is not None and gid not in {str(g) for g in self.guild_channels}:
            raise missing_access()
        return int(gid) if gid is not None else None

    def _echo_command(self, cmd: dict[str, Any], gid: int | None) -> dict[str, Any]:
        ctype = int(cmd.get("type") or CommandType.CHAT_INPUT)
        perms = cmd.get("default_member_permissions")
        out: dict[str, Any] = {
            "id": str(self._command_id(gid, cmd["name"], ctype)),
            "application_id": str(self.app_id),
            "version": str(self._snowflake()),
            "type": ctype,
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description") or "",
            "description_localizations": cmd.get("description_localizations"),
            "default_member_permissions": None if perms is None else str(perms),
            "nsfw": bool(cmd.get("nsfw", False)),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types") or [IntegrationType.GUILD_INSTALL],
        }
        if cmd.get("options"):
            out["options"] = copy.deepcopy(cmd["options"])
        if gid is None:
            out["dm_permission"] = cmd.get("dm_permission", True) is not False
        else:
            out["guild_id"] = str(gid)
        return out

    def _store_commands(self, gid: int | None, commands: dict[str, dict[str, Any]]) -> None:
        if gid is None:
            self.global_commands = commands
        else:
            self.guild_commands[gid] = commands
        merged = dict(self.global_commands)
        for guild_cmds in self.guild_commands.values():
            merged.update(guild_cmds)
        self.commands = merged

    async def _h_list_commands(self, rec: RecordedRequest) -> Reply:
        gid = self._check_app(rec)
        stored = self.global_commands if gid is None else self.guild_commands.get(gid, {})
        return Reply(200, list(stored.values()))

    async def _h_put_commands(self, rec: RecordedRequest) -> Reply:
        gid = self._check_app(rec)
        body = rec.json if isinstance(rec.json, list) else []
        seen: set[tuple[str, int]] = set()
        echoed: dict[str, dict[str, Any]] = {}
        for index, cmd in enumerate(body):
            if not isinstance(cmd, dict) or not isinstance(cmd.get("name"), str):
                raise form_error([index, "name"], "BASE_TYPE_REQUIRED", "This field is required")
            key = (cmd["name"], int(cmd.get("type") or CommandType.CHAT_INPUT))
            if key in seen:
                self._rule_violation(rec, [index, "name"], "Command names must be unique")
            seen.add(key)
            echo = self._echo_command(cmd, gid)
            echoed[echo["name"]] = echo
        self._store_commands(gid, echoed)
        return Reply(200, list(echoed.values()))

    async def _h_post_command(self, rec: RecordedRequest) -> Reply:
        gid = self._check_app(rec)
        if not isinstance(rec.json, dict) or not isinstance(rec.json.get("name"), str):
            raise form_error(["name"], "BASE_TYPE_REQUIRED", "This field is required")
        echo = self._echo_command(rec.json, gid)
        stored = dict(self.global_commands if gid is None else self.guild_commands.get(gid, {}))
        created = echo["name"] not in stored
        stored[echo["name"]] = echo
        self._store_commands(gid, stored)
        return Reply(201 if created else 200, echo)
