"""The world the bot sees: its own user and application, other users and members, the guilds
(each with a text channel; ``add_guild`` puts one on a chosen shard), DM channels; their JSON and
their REST endpoints."""

from __future__ import annotations

from typing import Any

from .constants import EVERYONE_PERMISSIONS, ChannelType, ErrorCode
from .records import RecordedRequest
from .responses import ApiError, Reply, form_error
from .state import FakeState


class Entities(FakeState):
    """JSON of users, members, channels and guilds, and the endpoints that hand them out."""

    def add_guild(self, *, shard: int = 0, shard_count: int | None = None) -> int:
        """A new guild with a text channel, its id chosen so that its events go to ``shard`` of
        ``shard_count`` (default: the fake's); returns the guild id (its channel is
        ``guild_channels[id]``). Add guilds before the bot connects: a guild added later is
        announced only by a GUILD_CREATE the test dispatches."""
        count = shard_count or self.shard_count
        if not 0 <= shard < count:
            raise ValueError(f"shard {shard} is not one of {count} shards")
        timestamp = (self._snowflake() >> 22) + 1
        timestamp += (shard - timestamp) % count
        guild_id = timestamp << 22
        self._last_snowflake = max(self._last_snowflake, guild_id)
        self.guild_channels[guild_id] = self._snowflake()
        return guild_id

    def bot_user_json(self) -> dict[str, Any]:
        return {
            "id": str(self.bot_user_id),
            "username": "Art Factory",
            "discriminator": "0",
            "global_name": "Art Factory",
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "bot": True,
            "system": False,
            "flags": 0,
            "public_flags": 0,
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "email": None,
        }

    def user_json(self, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_user_id:
            return self.bot_user_json()
        return {
            "id": str(user_id),
            "username": f"user{user_id}",
            "discriminator": "0",
            "global_name": f"User {user_id}",
            "avatar": None,
            "public_flags": 0,
            "bot": False,
        }

    def member_json(
        self, user_id: int, roles: list[int] | None = None, permissions: str | None = None
    ) -> dict[str, Any]:
        member: dict[str, Any] = {
            "user": self.user_json(user_id),
            "roles": [str(r) for r in roles or []],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_since": None,
            "nick": None,
            "avatar": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if permissions is not None:
            member["permissions"] = permissions
        return member

    def channel_json(self, channel_id: int) -> dict[str, Any]:
        if channel_id in self._dm_channels:
            uid = self._dm_channels[channel_id]
            return {
                "id": str(channel_id),
                "type": ChannelType.DM,
                "last_message_id": None,
                "recipients": [self.user_json(uid)],
                "flags": 0,
            }
        return {
            "id": str(channel_id),
            "type": ChannelType.GUILD_TEXT,
            "guild_id": str(self._guild_of(channel_id)),
            "name": "art"
            if channel_id in self.guild_channels.values()
            else f"channel-{channel_id}",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": channel_id in self.nsfw_channels,
            "topic": None,
            "parent_id": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def guild_json(self, guild_id: int | None = None) -> dict[str, Any]:
        """A GUILD_CREATE's guild (default: the first guild)."""
        gid = self.guild_id if guild_id is None else guild_id
        return {
            "id": str(gid),
            "name": "Art Factory Test Guild" if gid == self.guild_id else f"Guild {gid}",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "application_id": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "features": [],
            "roles": [self._everyone_role_json(gid)],
            "emojis": [],
            "stickers": [],
            "channels": [self.channel_json(self.guild_channels[gid])],
            "threads": [],
            "members": [self.member_json(self.bot_user_id)],
            "member_count": 2,
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "lazy": True,
            "nsfw": False,
            "incidents_data": None,
        }

    def _everyone_role_json(self, guild_id: int) -> dict[str, Any]:
        return {
            "id": str(guild_id),
            "name": "@everyone",
            "permissions": str(EVERYONE_PERMISSIONS),
            "position": 0,
            "color": 0,
            "colors": {
                "primary_color": 0,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }

    def _dm_channel_for(self, user_id: int) -> int:
        for cid, uid in self._dm_channels.items():
            if uid == user_id:
                return cid
        cid = self._snowflake()
        self._dm_channels[cid] = user_id
        return cid

    # ---------------------------------------------------------------- endpoints

    async def _h_me(self, rec: RecordedRequest) -> Reply:
        return Reply(200, self.bot_user_json())

    async def _h_user(self, rec: RecordedRequest) -> Reply:
        uid = rec.params["uid"]
        if not uid.isdigit():
            raise ApiError(404, ErrorCode.UNKNOWN_USER, "Unknown User")
        return Reply(200, self.user_json(int(uid)))

    async def _h_create_dm(self, rec: RecordedRequest) -> Reply:
        body = rec.json if isinstance(rec.json, dict) else {}
        try:
            uid = int(body["recipient_id"])
        except (KeyError, TypeError, ValueError):
            raise form_error(["recipient_id"], "BASE_TYPE_REQUIRED", "required") from None
        return Reply(200, self.channel_json(self._dm_channel_for(uid)))

    async def _h_application(self, rec: RecordedRequest) -> Reply:
        return Reply(
            200,
            {
                "id": str(self.app_id),
                "name": "Art Factory",
                "description": "",
                "icon": None,
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.user_json(self.owner_id),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "tags": [],
                "rpc_origins": [],
                "redirect_uris": [],
                "hook": True,
                "approximate_guild_count": len(self.guild_channels),
                "bot": self.bot_user_json(),
                "integration_types_config": {"0": {}},
            },
        )
