"""Moderators stay in control: prompt filters, bans, channel rules, quota tiers and budgets.

`ModerationService.admit` is the gate every new job passes (from `JobService.create`), before
anything is written, sent to a provider or charged.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import Config
from bot.delivery.text import escape
from bot.errors import InvalidRequest, Refused
from bot.i18n import _
from bot.moderation.lookalikes import fold, strip_invisible, unconfuse
from bot.providers.pricing import estimate_cost
from bot.providers.request import GenerationRequest
from db.database import Database
from db.reservation import month_start
from db.settings import GuildSettings

# Leetspeak digits and symbols (not Unicode data: look-alike letters are in
# bot/moderation/lookalikes.py).
_LEET = str.maketrans(
    {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i",
     "|": "l", "+": "t", "€": "e"}
)  # fmt: skip
_SPACED = re.compile(r"(?<![^\W_])(?:[^\W_][\W_]+){2,}[^\W_](?![^\W_])")


def normalize(text: str) -> list[str]:
    """Forms of a prompt to match filters against: no invisible characters, NFKC (fullwidth,
    ligatures, mathematical letters), no accents, look-alike letters from any script read as
    what they look like, leetspeak decoded (both readings of "1"), and letters spelled out with
    separators ("n.s.f.w", "n s f w") joined."""
    text = unicodedata.normalize("NFKC", strip_invisible(text))
    text = unconfuse(fold(text))
    forms = []
    for one in ("i", "l"):
        form = text.translate(_LEET).replace("1", one)
        form = _SPACED.sub(lambda m: re.sub(r"[\W_]+", "", m.group(0)), form)
        forms.append(form)
    return forms


def blocked_by(filters: list[tuple[str, str]], prompt: str) -> str | None:
    """The first filter that matches the prompt, or None. Words match whole words (and their
    plural) in any normalised form; regexes run on the raw and the normalised prompt."""
    forms = normalize(prompt)
    for kind, pattern in filters:
        if kind == "word":
            word = normalize(pattern)[0].strip()
            if not word:
                continue
            squashed = re.sub(r"[\W_]+", "", word)
            rule = re.compile(rf"(?<![^\W_]){re.escape(word)}s?(?![^\W_])")
            squashed_rule = re.compile(rf"(?<![^\W_]){re.escape(squashed)}s?(?![^\W_])")
            if any(rule.search(f) or squashed_rule.search(f) for f in forms):
                return pattern
        else:
            try:
                regex = re.compile(pattern, re.IGNORECASE)
            except re.error:
                continue
            if regex.search(prompt) or any(regex.search(f) for f in forms):
                return pattern
    return None


def next_month(now: float) -> int:
    moment = datetime.fromtimestamp(now, tz=UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Admission:
    """What a job may use: the member's daily limit and the server's budget (None = none)."""

    daily_limit: int
    monthly_budget: float | None
    month_start: float
    cost: float


class ModerationService:
    def __init__(self, config: Config, db: Database) -> None:
        self._config = config
        self._db = db
        self.blocked_listeners: list[Callable[[int, int, int, str, str], None]] = []

    async def estimate_cost(self, request: GenerationRequest) -> float:
        """The job's estimated cost (`bot/providers/pricing.py`): an image job is priced at its
        input image's size, read from the ledger where the image waits."""
        size = None
        if request.image_id is not None and request.mode != "txt2img":
            size = await self._db.images.size(request.image_id)
        return estimate_cost(self._config, request, size)

    async def daily_limit(
        self, guild_id: int | None, user_id: int, role_ids: tuple[int, ...], day: str
    ) -> int:
        """A member's own override wins, else the highest tier among their roles, else the
        bot's default; plus what `/admin quota reset` gave back today."""
        default = self._config.quotas.images_per_user_per_day
        if guild_id is None:  # a user install, in DMs: the member's own quota
            return self._config.quotas.images_per_user_per_day_outside_servers
        own, role_best, bonus = await self._db.settings.quota_tiers(
            guild_id, user_id, role_ids, day
        )
        base = own if own is not None else (role_best if role_best is not None else default)
        return base + bonus

    async def admit(
        self,
        request: GenerationRequest,
        *,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        role_ids: tuple[int, ...],
        day: str,
        now: float | None = None,
    ) -> Admission:
        now = time.time() if now is None else now
        limit = await self.daily_limit(guild_id, user_id, role_ids, day)
        cost = await self.estimate_cost(request)
        if guild_id is None:
            return Admission(limit, None, month_start(now), cost)
        ban = await self._db.settings.active_ban(guild_id, user_id, now)
        if ban is not None:
            raise Refused(_banned(ban.until, ban.reason))
        channel = await self._db.settings.channel(guild_id, channel_id)
        if channel.generation is False:
            raise Refused(_("Image generation is turned off in this channel."))
        settings = await self._db.settings.guild(guild_id)
        allowed = channel.provider_list or settings.provider_list
        if allowed and request.provider not in allowed:
            raise InvalidRequest(
                _(
                    "The {provider} provider isn't allowed here; use {allowed}.",
                    provider=request.provider,
                    allowed=", ".join(allowed),
                )
            )
        plain = request.mode == "txt2img" and not request.loras
        if settings.model_list and plain and request.model not in settings.model_list:
            raise InvalidRequest(
                _(
                    "The model {model} isn't allowed on this server; use {allowed}.",
                    model=request.model,
                    allowed=", ".join(settings.model_list),
                )
            )
        filters = await self._db.settings.filters(guild_id)
        texts = [request.prompt, request.negative_prompt or "", request.region or ""]
        texts.append(request.original_prompt or "")  # prompt help: the rewrite and the words
        match = next((m for t in texts if (m := blocked_by(filters, t))), None) if filters else None
        if match is not None:
            for listener in self.blocked_listeners:
                listener(guild_id, user_id, channel_id, request.prompt, match)
            raise Refused(_("That prompt can't be used on this server."))
        budget = settings.monthly_budget
        if budget is None:
            budget = self._config.quotas.monthly_budget_per_server
        return Admission(limit, budget, month_start(now), cost)

    async def settings(self, guild_id: int | None) -> GuildSettings | None:
        return await self._db.settings.guild(guild_id) if guild_id is not None else None


def _banned(until: float | None, reason: str | None) -> str:
    """The refusal a banned member reads: until when, and the moderator's reason as typed."""
    if until:
        text = _("You can't generate images on this server until <t:{until}:f>.", until=int(until))
    else:
        text = _("You can't generate images on this server.")
    if reason:
        text += " " + _("Reason: {reason}", reason=escape(reason))
    return text
