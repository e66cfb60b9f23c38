"""Domain exceptions.

Each carries a message written for the member who ran the command, so the one tree error
handler (and the job runner) can show it as is. Internal details go to the log, not here.
"""

from __future__ import annotations

from bot.i18n import _, n_


class ArtFactoryError(Exception):
    """Base class: `str(exc)` is safe and useful to show to a Discord user."""


class ConfigError(ArtFactoryError):
    """The configuration is unusable; the process exits with status 2 and this one line."""


class Refusal(ArtFactoryError):
    """A job was refused before anything was written, sent or charged."""


class InvalidRequest(Refusal):
    """The member's options are out of range or contradict each other. Nothing was charged."""


class Refused(Refusal):
    """A moderation refusal (ban, blocked prompt, channel rule)."""


class BudgetExceeded(Refusal):
    """The server's monthly budget cannot cover the job."""

    def __init__(self, budget: float, spent: float, cost: float, resets_at: int) -> None:
        self.budget, self.spent, self.cost, self.resets_at = budget, spent, cost, resets_at
        used = _(
            "This server has used its ${budget:.2f} image budget for this month "
            "(${spent:.2f} spent; this job would cost about ${cost:.2f}).",
            budget=budget,
            spent=spent,
            cost=cost,
        )
        resets = _(
            "The budget resets <t:{resets_at}:R> (the 1st of the month, UTC).", resets_at=resets_at
        )
        super().__init__(f"{used} {resets}")


class QuotaExceeded(Refusal):
    """The member has no images left today. Nothing was charged."""

    def __init__(self, limit: int, used: int, requested: int, resets_at: int) -> None:
        self.limit = limit
        self.used = used
        self.requested = requested
        self.resets_at = resets_at  # unix seconds, next UTC midnight
        left = max(limit - used, 0)
        if left == 0:
            head = n_(
                "You have used all {n} of your images for today.",
                "You have used all {n} of your images for today.",
                limit,
            )
        else:
            head = n_(
                "You asked for {requested} images but only {n} of your {limit} daily images are "
                "left.",
                "You asked for {requested} images but only {n} of your {limit} daily images are "
                "left.",
                left,
                requested=requested,
                limit=limit,
            )
        resets = _("Your quota resets <t:{resets_at}:R> (midnight UTC).", resets_at=resets_at)
        super().__init__(f"{head} {resets}")


class ProviderError(ArtFactoryError):
    """A provider refused or failed a job.

    `retryable` tells the member whether trying again later may help; `reason` is the provider's
    own explanation, already trimmed for display.
    """

    def __init__(
        self,
        provider: str,
        reason: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        maybe_accepted: bool = False,
    ) -> None:
        self.provider = provider
        self.reason = reason
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        # True when a submit failed in a way that does not prove the provider refused it
        # (e.g. the answer timed out): sending it again could pay for the same job twice.
        self.maybe_accepted = maybe_accepted
        super().__init__(f"{provider}: {reason}")


class RegionNotFound(ArtFactoryError):
    """Vary (Region): the words matched nothing in the image (or no model here can find a
    region by words). The job ends refunded."""

    def __init__(self, region: str, *, by_words: bool = True) -> None:
        self.region = region
        if by_words:
            # i18n: keep "left half, top third, centre" in English: members type these words
            text = _(
                "Nothing in the image matched “{region}”: describe that part differently, or "
                "pick a rough region (left half, top third, centre…).",
                region=region,
            )
        else:
            # i18n: keep "left half, top third, centre" in English: members type these words
            text = _(
                "No model on this bot can find a region by words: pick a rough region (left "
                "half, top third, centre…)."
            )
        super().__init__(text)


class JobTimedOut(ArtFactoryError):
    """The job ran past `job_timeout_s`."""


class DeliveryError(ArtFactoryError):
    """The images were generated but could not be fetched or posted."""

    def __init__(
        self, reason: str, *, retryable: bool = True, retry_after: float | None = None
    ) -> None:
        self.retryable = retryable
        self.retry_after = retry_after  # seconds the server asked to wait, for bot/jobs/retry.py
        super().__init__(reason)


class DatabaseBusy(Refusal):
    """Another program held the ledger's write lock for longer than the bot waits. Raised
    where a statement changed nothing, so for a new job nothing was recorded or charged."""

    def __init__(self, waited_s: float) -> None:
        self.waited_s = waited_s
        super().__init__(
            _(
                "The bot's database is busy right now (another program is holding it), so this "
                "was not recorded and nothing was charged. Please try again in a minute."
            )
        )
