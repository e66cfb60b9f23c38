"""A member's own defaults (`/settings`): provider, model, aspect ratio, count, style, private
results, prompt help and language, the same in every server.

They fill what a command leaves open, after the command's options and the prompt's own
`--params`; the server's rules still win. A default the server (or channel) does not allow is
not used there, and the panel says which and why (`unusable`). A default that the chosen model
cannot take (an aspect ratio it lacks) is dropped rather than refused: the member did not ask
for it this time.

Reads are kept for `FRESH_S`, and `cached` answers without the database: whether a command's
answer must be private is known before the acknowledgement, when nothing may wait on a read.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from bot import i18n
from bot.config import Config
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.moderation.preferences import Preferences
from bot.providers.capabilities import ASPECT_RATIOS
from bot.providers.request import MAX_IMAGES, RequestOptions
from db.database import Database
from db.studio import MemberSettings

FRESH_S = 30.0
KEPT_MAX = 50_000


class MemberDefaults:
    def __init__(self, config: Config, db: Database, preferences: Preferences) -> None:
        self._config = config
        self._db = db
        self._preferences = preferences
        self._kept: dict[int, tuple[float, MemberSettings]] = {}
        self._private: set[int] = set()  # members whose results are private by default

    async def start(self) -> None:
        """What the first answer to an interaction needs, before any read: the members'
        chosen languages and who wants private results."""
        i18n.chosen_locales.update(await self._db.studio.chosen_locales())
        self._private = await self._db.studio.private_members()

    def private_default(self, user_id: int) -> bool:
        """Whether the member wants private results, without a read (another process's save
        is seen after the acknowledgement: `private_wanted`)."""
        return user_id in self._private

    async def private_wanted(self, user_id: int, guild_id: int | None, asked: bool | None) -> bool:
        """Whether this job's results are private: as asked (`--private`, the option), else
        the member's default; a server may forbid them (asked: refused; default: public)."""
        wanted = asked if asked is not None else bool((await self.get(user_id)).private)
        if wanted and not await self._preferences.private_allowed(guild_id):
            if asked:
                raise InvalidRequest(
                    _("This server does not allow private results: run it without private.")
                )
            return False
        return wanted

    def cached(self, user_id: int) -> MemberSettings | None:
        kept = self._kept.get(user_id)
        return kept[1] if kept else None

    async def get(self, user_id: int) -> MemberSettings:
        kept = self._kept.get(user_id)
        if kept and time.monotonic() - kept[0] < FRESH_S:
            return kept[1]
        return self._keep(await self._db.studio.member(user_id))

    async def save(self, user_id: int, **values: Any) -> MemberSettings:
        """Set (or, with None, clear) some defaults, each checked against the bot's setup."""
        for key, value in values.items():
            if value is not None:
                self._check(key, value)
        return self._keep(await self._db.studio.update_member(user_id, **values))

    async def reset(self, user_id: int) -> MemberSettings:
        await self._db.studio.reset_member(user_id)
        return self._keep(MemberSettings(user_id))

    async def unusable(
        self, settings: MemberSettings, guild_id: int | None, channel_id: int | None
    ) -> dict[str, str]:
        """Each default this server (and channel) does not allow, with the reason."""
        found: dict[str, str] = {}
        here = await self._preferences.here(guild_id, channel_id)
        enabled = self._config.enabled_providers
        if settings.provider and (
            settings.provider not in enabled
            or (here.providers and settings.provider not in here.providers)
        ):
            found["provider"] = _("{provider} is not allowed here", provider=settings.provider)
        if settings.model and (
            not self._offering(settings.model)
            or (here.models and settings.model not in here.models)
        ):
            found["model"] = _("this model is not allowed here")
        if settings.private and guild_id is not None:
            server = await self._db.settings.guild(guild_id)
            if not server.private_results:
                found["private"] = _("this server does not allow private results")
        return found

    async def fill(
        self,
        options: RequestOptions,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
    ) -> RequestOptions:
        """`options` with what the command left open taken from the member's usable defaults."""
        settings = await self.get(user_id)
        skip = await self.unusable(settings, guild_id, channel_id)
        changes: dict[str, Any] = {}
        if options.provider is None and settings.provider and "provider" not in skip:
            changes["provider"] = settings.provider
        provider = changes.get("provider", options.provider)
        offered = provider is None or settings.model in self._models(provider)
        if options.model is None and settings.model and "model" not in skip and offered:
            changes["model"] = settings.model
        if options.aspect_ratio is None and settings.aspect_ratio:
            changes["aspect_ratio"] = settings.aspect_ratio
        if options.count is None and settings.image_count:
            changes["count"] = settings.image_count
        return replace(options, **changes) if changes else options

    def _keep(self, settings: MemberSettings) -> MemberSettings:
        if len(self._kept) >= KEPT_MAX:
            self._kept.clear()
        self._kept[settings.user_id] = (time.monotonic(), settings)
        if settings.private:
            self._private.add(settings.user_id)
        else:
            self._private.discard(settings.user_id)
        if settings.locale:
            i18n.chosen_locales[settings.user_id] = settings.locale
        else:
            i18n.chosen_locales.pop(settings.user_id, None)
        return settings

    def _models(self, provider: str) -> tuple[str, ...]:
        if provider not in self._config.enabled_providers:
            return ()
        return tuple(self._config.providers[provider].allowed_models())

    def _offering(self, model: str) -> bool:
        return any(model in self._models(p) for p in self._config.enabled_providers)

    def _check(self, key: str, value: Any) -> None:
        if key == "provider" and value not in self._config.enabled_providers:
            raise InvalidRequest(
                _(
                    "The {provider} provider is not set up on this bot; choose {providers}.",
                    provider=value,
                    providers=", ".join(self._config.enabled_providers),
                )
            )
        if key == "model" and not self._offering(value):
            raise InvalidRequest(_("No provider of this bot offers that model: see /models."))
        if key == "aspect_ratio" and value not in ASPECT_RATIOS:
            raise InvalidRequest(_("Choose one of {ratios}.", ratios=", ".join(ASPECT_RATIOS)))
        if key == "image_count" and not 1 <= value <= MAX_IMAGES:
            raise InvalidRequest(_("Choose 1 to {limit} images.", limit=MAX_IMAGES))
        if key == "locale" and value not in i18n.LANGUAGES:
            raise InvalidRequest(_("That language is not available."))
