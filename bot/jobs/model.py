"""The job's states and kinds, and the state machine in one table.

The ledger (db/jobs.py) stores these as their string values; `StrEnum` keeps the two equal, so
a row read back compares equal to the enum member.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum, StrEnum

INTERACTION_TOKEN_LIFETIME_S = 15 * 60  # Discord's: edits and follow-ups stop working after


@dataclass(frozen=True)
class Origin:
    """Where a job came from and where its answer goes: the interaction that asked for it, as
    intake receives it, the ledger row keeps it (`JobRow.origin`) and the messenger answers it.
    `role_ids` only matter at admission and are not stored."""

    user_id: int
    guild_id: int | None
    channel_id: int
    application_id: int
    interaction_id: int | None
    interaction_token: str
    interaction_created_at: float  # unix seconds, when the bot received it
    message_id: int | None = None  # the response that becomes the job's message
    attachment_size_limit: int = 10 * 1024 * 1024
    channel_nsfw: bool = False
    role_ids: tuple[int, ...] = ()
    locale: str = "en-US"  # the language the member's answers are written in (bot/i18n)
    private: bool = False  # results only for the member (ephemeral), never shown to others

    def token_alive(self, now: float | None = None, margin_s: float = 30.0) -> bool:
        """Whether the interaction's response can still be edited (with `margin_s` to spare)."""
        now = time.time() if now is None else now
        return now - self.interaction_created_at < INTERACTION_TOKEN_LIFETIME_S - margin_s

    @property
    def token_expires(self) -> float:
        return self.interaction_created_at + INTERACTION_TOKEN_LIFETIME_S


class JobState(StrEnum):
    QUEUED = "queued"  # accepted and charged (reserved); not yet sent
    SUBMITTED = "submitted"  # the provider returned a request id
    RUNNING = "running"  # the provider started generating
    DELIVERING = "delivering"  # images fetched; the result is being posted
    DONE = "done"  # posted; the reserved images are committed
    FAILED = "failed"  # ended with a notice; refunded
    CANCELLED = "cancelled"  # by the member or a moderator; refunded
    EXPIRED = "expired"  # past the deadline, stopped at the provider; refunded


ACTIVE_STATES: tuple[JobState, ...] = (
    JobState.QUEUED,
    JobState.SUBMITTED,
    JobState.RUNNING,
    JobState.DELIVERING,
)
FINAL_STATES: tuple[JobState, ...] = (
    JobState.DONE,
    JobState.FAILED,
    JobState.CANCELLED,
    JobState.EXPIRED,
)
_ENDS = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})

# Where each state may go. Every active state can end early (failed, cancelled, expired); only
# a job being delivered becomes done, and only a submitted (or running) one is delivered.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.SUBMITTED}) | _ENDS,
    JobState.SUBMITTED: frozenset({JobState.RUNNING, JobState.DELIVERING}) | _ENDS,
    JobState.RUNNING: frozenset({JobState.DELIVERING}) | _ENDS,
    JobState.DELIVERING: frozenset({JobState.DONE}) | _ENDS,
    JobState.DONE: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.EXPIRED: frozenset(),
}


def sources(target: JobState) -> tuple[JobState, ...]:
    """The states a job may reach `target` from (what a guarded UPDATE checks)."""
    return tuple(state for state, nexts in TRANSITIONS.items() if target in nexts)


class JobKind(StrEnum):
    """How a job came to be: credit lines and lineage read it."""

    IMAGINE = "imagine"
    LORA = "lora"
    REROLL = "reroll"
    VARIATION = "variation"
    REMIX = "remix"
    UPSCALE = "upscale"
    # The image actions (issue 15); the values are how credit lines name them.
    REGION = "region edit"  # Vary (Region)
    ZOOM = "zoom out"
    PAN = "pan"
    ANIMATE = "animation"
    BLEND = "blend"
    DESCRIBE = "describe"

    @property
    def derived(self) -> bool:
        """Built on another member's image: the result credits its author."""
        return self not in (JobKind.IMAGINE, JobKind.LORA, JobKind.DESCRIBE)

    @property
    def of_one_image(self) -> bool:
        """Built on one image of a result (its number is shown)."""
        return self not in (
            JobKind.IMAGINE,
            JobKind.LORA,
            JobKind.REROLL,
            JobKind.REMIX,
            JobKind.DESCRIBE,
        )


class Advice(Enum):
    """What a failure notice tells the member about trying again."""

    MAY_HELP = "may help"  # a fault on the way (provider down, timeout, Discord)
    WONT_HELP = "won't help"  # the input was refused: change the prompt or options
    NONE = "none"  # cancelled: nothing to advise

    @classmethod
    def of(cls, retryable: bool) -> Advice:
        return cls.MAY_HELP if retryable else cls.WONT_HELP

    @property
    def retryable(self) -> bool | None:
        """As the ledger's `error_retryable` column stores it."""
        return {Advice.MAY_HELP: True, Advice.WONT_HELP: False, Advice.NONE: None}[self]


class CancelOutcome(StrEnum):
    """What a member's ❌ Cancel did."""

    CANCELLED = "cancelled"  # stopped (at the provider too) and refunded
    FINISHED = "finished"  # too late: it already ended or is being delivered
    UNKNOWN = "unknown"  # no such job
