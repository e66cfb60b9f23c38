"""What `/admin` does, free of Discord: prompt filters, quota tiers, bans, server and channel
settings, and the server-wide numbers moderators see in `/usage`.

Every method validates first and raises `InvalidRequest` with a message for the moderator;
nothing is written when it does.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from bot.config import Config
from bot.errors import InvalidRequest
from bot.i18n import N_, _, n_
from bot.jobs.intake import quota_day
from bot.moderation.gate import ModerationService, normalize
from db.database import Database
from db.reservation import month_start
from db.settings import ChannelSettings, GuildSettings

MAX_PATTERN_CHARS = 200
MAX_QUOTA = 10_000
_DURATION = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
MAX_BAN_S = 366 * 86_400
DURATION_FORMAT = N_(  # shown with `_`
    "a whole number and a unit, like 30m, 12h or 7d (m minutes, h hours, d days, w weeks)"
)
CLEAR_WORDS = ("all", "any", "*")


def parse_duration(text: str | None) -> int | None:
    """Seconds from `30m`, `12h`, `7d`, `2w`; None when no duration was given."""
    if text is None or not text.strip():
        return None
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise InvalidRequest(
            _(
                "The duration {text!r} is not valid: use {format}.",
                text=text.strip(),
                format=_(DURATION_FORMAT),
            )
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_BAN_S:
        raise InvalidRequest(
            _(
                "A timed ban can last at most 366 days; leave the duration out for a ban that "
                "lasts until /admin unban."
            )
        )
    return seconds


def split_names(text: str) -> list[str]:
    names: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if name and name not in names:
            names.append(name)
    return names


def check_images(images: int) -> None:
    if not 0 <= images <= MAX_QUOTA:
        raise InvalidRequest(
            _("images must be between 0 and {most} (got {images}).", most=MAX_QUOTA, images=images)
        )


@dataclass(frozen=True)
class QuotaReset:
    had_override: bool
    given_back: int  # images added back for today


@dataclass(frozen=True)
class SettingsChange:
    settings: GuildSettings
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerUsage:
    month_start: float
    spent: float
    budget: float | None
    currency: str
    top_users: list[tuple[int, int, float]]  # (user id, images, cost)
    providers: list[tuple[str, int, float]]  # (provider, images, cost)


class AdminService:
    def __init__(self, config: Config, db: Database, moderation: ModerationService) -> None:
        self._config = config
        self._db = db
        self._moderation = moderation

    # -- prompt filters ----------------------------------------------------------------------

    def check_filter(self, kind: str, pattern: str) -> str:
        """The pattern as it will be stored: words lower-case with single spaces; regexes as
        given, once they compile and can't match an empty prompt."""
        if kind not in ("word", "regex"):
            raise InvalidRequest(_("The filter kind must be word or regex."))
        pattern = pattern.strip()
        if not pattern:
            raise InvalidRequest(_("The pattern is empty."))
        if len(pattern) > MAX_PATTERN_CHARS:
            raise InvalidRequest(
                _("Patterns are at most {most} characters long.", most=MAX_PATTERN_CHARS)
            )
        if kind == "word":
            word = " ".join(pattern.lower().split())
            if not re.search(r"[^\W_]", normalize(word)[0]):
                raise InvalidRequest(
                    _(
                        "The word {word!r} has no letters or digits, so it would never match.",
                        word=word,
                    )
                )
            return word
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise InvalidRequest(
                _("That regex does not compile ({error}); nothing was added.", error=exc)
            ) from None
        if regex.search("") is not None:
            raise InvalidRequest(
                _(
                    "That regex matches an empty prompt, so it would block every prompt; nothing "
                    "was added."
                )
            )
        return pattern

    async def add_filter(self, guild_id: int, kind: str, pattern: str, by: int) -> tuple[str, bool]:
        """(the stored pattern, False when the server already had it)."""
        stored = self.check_filter(kind, pattern)
        return stored, await self._db.settings.add_filter(guild_id, kind, stored, by)

    async def remove_filter(self, guild_id: int, kind: str, pattern: str) -> str:
        stored = " ".join(pattern.lower().split()) if kind == "word" else pattern.strip()
        if not await self._db.settings.remove_filter(guild_id, kind, stored):
            if kind == "word":
                raise InvalidRequest(
                    _(
                        "There is no word filter {pattern!r} on this server (see /admin filter "
                        "list).",
                        pattern=stored,
                    )
                )
            raise InvalidRequest(
                _(
                    "There is no regex filter {pattern!r} on this server (see /admin filter list).",
                    pattern=stored,
                )
            )
        return stored

    async def filters(self, guild_id: int) -> list[tuple[str, str]]:
        return await self._db.settings.filters(guild_id)

    # -- quotas ------------------------------------------------------------------------------

    async def set_user_quota(self, guild_id: int, user_id: int, images: int) -> None:
        check_images(images)
        await self._db.settings.set_user_quota(guild_id, user_id, images)

    async def set_role_quota(self, guild_id: int, role_id: int, images: int) -> None:
        check_images(images)
        await self._db.settings.set_role_quota(guild_id, role_id, images)

    async def reset_quota(
        self, guild_id: int, user_id: int, now: float | None = None
    ) -> QuotaReset:
        """Drop the member's own override and give back what they used today, so they start
        over with their role tier (or the default) for the rest of the day."""
        day = quota_day(time.time() if now is None else now)
        own, _roles, bonus = await self._db.settings.quota_tiers(guild_id, user_id, (), day)
        used = await self._db.jobs.quota_used(user_id, day, guild_id)
        await self._db.settings.set_user_quota(guild_id, user_id, None)
        give = max(used - bonus, 0)  # what earlier resets today already gave back stays given
        if give:
            await self._db.settings.grant_bonus(guild_id, user_id, day, give)
        return QuotaReset(had_override=own is not None, given_back=give)

    async def role_quotas(self, guild_id: int) -> list[tuple[int, int]]:
        return await self._db.settings.role_quotas(guild_id)

    # -- bans --------------------------------------------------------------------------------

    async def ban(
        self,
        guild_id: int,
        user_id: int,
        *,
        by: int,
        reason: str | None = None,
        duration: str | None = None,
        now: float | None = None,
    ) -> float | None:
        """Ban a member from generating; returns when the ban ends (None: until unbanned)."""
        seconds = parse_duration(duration)
        until = None if seconds is None else (time.time() if now is None else now) + seconds
        reason = (reason or "").strip() or None
        await self._db.settings.ban(guild_id, user_id, reason=reason, by=by, until=until)
        return until

    async def unban(self, guild_id: int, user_id: int) -> bool:
        return await self._db.settings.unban(guild_id, user_id)

    # -- settings ----------------------------------------------------------------------------

    def check_providers(self, text: str) -> str:
        """A comma list of enabled providers, or "" for `all`."""
        if text.strip().lower() in CLEAR_WORDS:
            return ""
        names = [n.lower() for n in split_names(text)]
        enabled = self._config.enabled_providers
        unknown = [n for n in names if n not in enabled]
        if unknown:
            raise InvalidRequest(
                n_(
                    "Unknown provider: {names}. This bot offers {enabled} (or `all`).",
                    "Unknown providers: {names}. This bot offers {enabled} (or `all`).",
                    len(unknown),
                    names=", ".join(unknown),
                    enabled=", ".join(enabled),
                )
            )
        if not names:
            raise InvalidRequest(_("Name at least one provider, or `all`."))
        return ",".join(names)

    def models_by_provider(self) -> dict[str, tuple[str, ...]]:
        return {
            name: self._config.providers[name].allowed_models()
            for name in self._config.enabled_providers
        }

    def check_models(self, text: str) -> str:
        """A comma list of models the enabled providers offer, or "" for `all`."""
        if text.strip().lower() in CLEAR_WORDS:
            return ""
        names = split_names(text)
        known = {m for models in self.models_by_provider().values() for m in models}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InvalidRequest(
                n_(
                    "Unknown model: {names}. Models on this bot: {known} (or `all`).",
                    "Unknown models: {names}. Models on this bot: {known} (or `all`).",
                    len(unknown),
                    names=", ".join(unknown),
                    known=", ".join(sorted(known)),
                )
            )
        if not names:
            raise InvalidRequest(_("Name at least one model, or `all`."))
        return ",".join(names)

    def check_default_provider(self, text: str) -> str | None:
        """An enabled provider, or None (`none`) for the bot's default."""
        name = text.strip().lower()
        if name in ("none", "default", ""):
            return None
        if name not in self._config.enabled_providers:
            raise InvalidRequest(
                _(
                    "Unknown provider: {name}. This bot offers {enabled} (or `none` for the "
                    "bot's default).",
                    name=text.strip(),
                    enabled=", ".join(self._config.enabled_providers),
                )
            )
        return name

    async def update_server(
        self,
        guild_id: int,
        *,
        audit_channel_id: int | None = None,
        mod_channel_id: int | None = None,
        gallery_channel_id: int | None = None,
        providers: str | None = None,
        models: str | None = None,
        default_provider: str | None = None,
        nsfw_spoilers: bool | None = None,
        charge_flagged: bool | None = None,
        monthly_budget: float | None = None,
        private_results: bool | None = None,
        web_gallery: str | None = None,
    ) -> SettingsChange:
        """Validate every given value, then write them in one statement."""
        channels = zip(
            ("audit_channel_id", "mod_channel_id", "gallery_channel_id"),
            (audit_channel_id, mod_channel_id, gallery_channel_id),
            strict=True,
        )
        values: dict[str, object] = {k: v for k, v in channels if v is not None}
        if providers is not None:
            values["providers"] = self.check_providers(providers)
        if models is not None:
            values["models"] = self.check_models(models)
        if default_provider is not None:
            values["default_provider"] = self.check_default_provider(default_provider)
        flags = (nsfw_spoilers, charge_flagged, private_results)
        for key, value in zip(
            ("nsfw_spoilers", "charge_flagged", "private_results"), flags, strict=True
        ):
            if value is not None:
                values[key] = value
        if monthly_budget is not None:
            if monthly_budget < 0:
                raise InvalidRequest(_("monthly_budget must be 0 (no budget) or more."))
            values["monthly_budget"] = round(monthly_budget, 2) if monthly_budget > 0 else None
        if web_gallery is not None:
            values["web_gallery"] = web_gallery  # one of the command's choices

        current = await self._db.settings.guild(guild_id)
        allowed = str(values.get("providers", current.providers))
        allowed_list = split_names(allowed)
        default = values.get("default_provider", current.default_provider)
        if default and allowed_list and default not in allowed_list:
            raise InvalidRequest(
                _(
                    "The default provider {default} would not be allowed on this server "
                    "(allowed: {allowed}): change one of the two.",
                    default=default,
                    allowed=", ".join(allowed_list),
                )
            )
        settings = await self._db.settings.update_guild(guild_id, **values)
        return SettingsChange(settings, tuple(self._warnings(settings)))

    def _warnings(self, settings: GuildSettings) -> list[str]:
        """Combinations that are allowed but will refuse some commands."""
        if not settings.model_list:
            return []
        providers = settings.provider_list or self._config.enabled_providers
        return [
            _(
                "No allowed model belongs to {name}, so /imagine on {name} will be refused "
                "(image-to-image, LoRAs and upscales are not limited by the model list).",
                name=name,
            )
            for name, models in self.models_by_provider().items()
            if name in providers and not set(models) & set(settings.model_list)
        ]

    async def update_channel(
        self, guild_id: int, channel_id: int, *, generation: bool | None, providers: str | None
    ) -> ChannelSettings:
        checked = None if providers is None else self.check_providers(providers)
        return await self._db.settings.update_channel(
            guild_id, channel_id, generation=generation, providers=checked
        )

    async def settings(self, guild_id: int) -> GuildSettings:
        return await self._db.settings.guild(guild_id)

    async def channel_rules(self, guild_id: int) -> list[ChannelSettings]:
        return await self._db.settings.channel_rules(guild_id)

    def default_budget(self) -> float | None:
        return self._config.quotas.monthly_budget_per_server

    # -- usage -------------------------------------------------------------------------------

    async def server_usage(self, guild_id: int, now: float | None = None) -> ServerUsage:
        since = month_start(time.time() if now is None else now)
        settings = await self._db.settings.guild(guild_id)
        budget = settings.monthly_budget
        if budget is None:
            budget = self.default_budget()
        return ServerUsage(
            month_start=since,
            spent=await self._db.jobs.guild_spend(guild_id, since),
            budget=budget,
            currency=self._config.costs.currency,
            top_users=await self._db.stats.top_users(guild_id, since),
            providers=await self._db.stats.provider_totals(guild_id, since),
        )
