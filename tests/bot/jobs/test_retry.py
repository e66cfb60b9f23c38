"""The one retry policy (`bot.jobs.retry`): how long it waits, and when it stops.

The module's clock, sleep and random numbers are replaced by fakes, so nothing here waits and
no assertion is about timing: a fake sleep moves a fake clock forward by what was asked.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from bot.errors import DeliveryError, ProviderError
from bot.jobs import retry
from bot.jobs.retry import RetryPolicy, retry_on, with_retries

POLICY = RetryPolicy(max_attempts=5, base_delay_s=0.5, max_delay_s=8.0, total_s=60.0)


@dataclass
class FakeTime:
    """The retry module's `time` and `asyncio`: sleeping moves the clock, nothing waits."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(retry, "time", SimpleNamespace(monotonic=fake.monotonic))
    monkeypatch.setattr(retry, "asyncio", SimpleNamespace(sleep=fake.sleep))
    return fake


def _jitter(monkeypatch: pytest.MonkeyPatch, pick: Callable[[float, float], float]) -> None:
    monkeypatch.setattr(retry, "random", SimpleNamespace(uniform=pick))


def failing(*errors: Exception, then: str = "ok") -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """A call that raises `errors` one per attempt, then returns `then`; and its call count."""
    calls: list[int] = []

    async def call() -> str:
        calls.append(len(calls) + 1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return then

    return call, calls


def down(retry_after: float | None = None) -> ProviderError:
    return ProviderError("fal", "503 unavailable", retryable=True, retry_after=retry_after)


def refused() -> ProviderError:
    return ProviderError("fal", "prompt refused", retryable=False, status=422)


# -- RetryPolicy.delay ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 8.0), (20, 8.0)]
)
def test_delay_ceiling_doubles_per_attempt_up_to_max_delay(
    monkeypatch: pytest.MonkeyPatch, attempt: int, ceiling: float
) -> None:
    _jitter(monkeypatch, lambda low, high: high)
    assert POLICY.delay(attempt) == ceiling


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6])
def test_delay_jitter_is_drawn_between_half_the_ceiling_and_the_ceiling(
    monkeypatch: pytest.MonkeyPatch, attempt: int
) -> None:
    drawn: list[tuple[float, float]] = []

    def pick(low: float, high: float) -> float:
        drawn.append((low, high))
        return low

    _jitter(monkeypatch, pick)
    ceiling = min(POLICY.base_delay_s * 2 ** (attempt - 1), POLICY.max_delay_s)
    assert POLICY.delay(attempt) == ceiling / 2
    assert drawn == [(ceiling / 2, ceiling)]


def test_delay_with_real_jitter_stays_within_its_bounds() -> None:
    state = random.getstate()
    random.seed(1234)
    try:
        for attempt in range(1, 8):
            ceiling = min(POLICY.base_delay_s * 2 ** (attempt - 1), POLICY.max_delay_s)
            for _ in range(50):
                assert ceiling / 2 <= POLICY.delay(attempt) <= ceiling
    finally:
        random.setstate(state)


def test_delay_honours_a_servers_retry_after_over_the_backoff() -> None:
    assert POLICY.delay(1, retry_after=3.0) == 3.0
    assert POLICY.delay(5, retry_after=0.25) == 0.25


def test_delay_caps_retry_after_at_four_times_max_delay() -> None:
    assert POLICY.delay(1, retry_after=3600.0) == POLICY.max_delay_s * 4


def test_delay_treats_a_negative_retry_after_as_no_wait() -> None:
    assert POLICY.delay(1, retry_after=-5.0) == 0.0


# -- with_retries / retry_on ----------------------------------------------------------------


async def test_a_call_that_succeeds_first_time_is_not_retried(clock: FakeTime) -> None:
    call, calls = failing()
    assert await with_retries(POLICY, call, what="submit") == "ok"
    assert calls == [1]
    assert clock.sleeps == []


async def test_a_retryable_error_is_retried_until_the_call_succeeds(clock: FakeTime) -> None:
    call, calls = failing(down(), down())
    assert await with_retries(POLICY, call, what="submit") == "ok"
    assert calls == [1, 2, 3]
    assert len(clock.sleeps) == 2


async def test_retries_stop_at_max_attempts_with_the_last_error(clock: FakeTime) -> None:
    policy = RetryPolicy(max_attempts=3, total_s=1e9)
    errors = [down() for _ in range(5)]
    call, calls = failing(*errors)
    with pytest.raises(ProviderError) as raised:
        await with_retries(policy, call, what="submit")
    assert raised.value is errors[2]
    assert calls == [1, 2, 3]
    assert len(clock.sleeps) == 2


async def test_a_policy_of_one_attempt_never_retries(clock: FakeTime) -> None:
    call, calls = failing(down())
    with pytest.raises(ProviderError):
        await with_retries(RetryPolicy(max_attempts=1), call, what="submit")
    assert calls == [1]
    assert clock.sleeps == []


async def test_retries_stop_when_the_next_wait_would_pass_total_s(clock: FakeTime) -> None:
    # Each wait is the server's 10 s: 10 + 10 fit in 25 s, a third would end at 30 s.
    policy = RetryPolicy(max_attempts=10, max_delay_s=8.0, total_s=25.0)
    call, calls = failing(*[down(retry_after=10.0) for _ in range(10)])
    with pytest.raises(ProviderError):
        await with_retries(policy, call, what="submit")
    assert clock.sleeps == [10.0, 10.0]
    assert calls == [1, 2, 3]


async def test_time_spent_inside_the_call_counts_towards_total_s(clock: FakeTime) -> None:
    policy = RetryPolicy(max_attempts=10, total_s=25.0)
    attempts: list[int] = []

    async def slow() -> str:
        attempts.append(1)
        clock.now += 20.0  # the call itself took 20 s
        raise down(retry_after=6.0)

    with pytest.raises(ProviderError):
        await with_retries(policy, slow, what="submit")
    assert attempts == [1]
    assert clock.sleeps == []


async def test_a_non_retryable_error_is_raised_at_once(clock: FakeTime) -> None:
    error = refused()
    call, calls = failing(error)
    with pytest.raises(ProviderError) as raised:
        await with_retries(POLICY, call, what="submit")
    assert raised.value is error
    assert calls == [1]
    assert clock.sleeps == []


async def test_should_retry_can_refuse_a_retryable_error(clock: FakeTime) -> None:
    seen: list[ProviderError] = []

    def only_rate_limits(exc: ProviderError) -> bool:
        seen.append(exc)
        return exc.status == 429

    error = down()
    call, calls = failing(error)
    with pytest.raises(ProviderError) as raised:
        await with_retries(POLICY, call, what="submit", should_retry=only_rate_limits)
    assert raised.value is error
    assert seen == [error]
    assert calls == [1]
    assert clock.sleeps == []


async def test_should_retry_lets_the_errors_it_accepts_be_retried(clock: FakeTime) -> None:
    limited = ProviderError("fal", "429", retryable=True, status=429)
    call, calls = failing(limited, limited)
    result = await with_retries(
        POLICY, call, what="submit", should_retry=lambda exc: exc.status == 429
    )
    assert result == "ok"
    assert calls == [1, 2, 3]


async def test_should_retry_is_not_asked_about_a_non_retryable_error(clock: FakeTime) -> None:
    asked: list[ProviderError] = []

    def always(exc: ProviderError) -> bool:
        asked.append(exc)
        return True

    call, calls = failing(refused())
    with pytest.raises(ProviderError):
        await with_retries(POLICY, call, what="submit", should_retry=always)
    assert asked == []
    assert calls == [1]


async def test_the_wait_is_the_servers_retry_after(clock: FakeTime) -> None:
    call, _ = failing(down(retry_after=2.5), down(retry_after=7.0))
    await with_retries(POLICY, call, what="submit")
    assert clock.sleeps == [2.5, 7.0]


async def test_without_retry_after_the_waits_back_off_exponentially(
    clock: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _jitter(monkeypatch, lambda low, high: high)
    call, _ = failing(down(), down(), down(), down())
    await with_retries(RetryPolicy(max_attempts=5, total_s=1e9), call, what="submit")
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]


async def test_on_retry_is_told_the_error_attempt_and_wait_before_each_sleep(
    clock: FakeTime,
) -> None:
    told: list[tuple[ProviderError, int, float, int]] = []

    async def on_retry(exc: ProviderError, attempt: int, wait: float) -> None:
        told.append((exc, attempt, wait, len(clock.sleeps)))

    first, second = down(retry_after=1.0), down(retry_after=2.0)
    call, _ = failing(first, second)
    await with_retries(POLICY, call, what="submit", on_retry=on_retry)
    assert told == [(first, 1, 1.0, 0), (second, 2, 2.0, 1)]


async def test_retry_on_retries_the_error_type_it_is_given(clock: FakeTime) -> None:
    call, calls = failing(DeliveryError("discord 503"), DeliveryError("discord 503"))
    assert await retry_on(DeliveryError, POLICY, call, what="post") == "ok"
    assert calls == [1, 2, 3]


async def test_retry_on_passes_other_errors_through_untouched(clock: FakeTime) -> None:
    error = down()  # retryable, but not the kind this call retries
    call, calls = failing(error)
    with pytest.raises(ProviderError) as raised:
        await retry_on(DeliveryError, POLICY, call, what="post")
    assert raised.value is error
    assert calls == [1]
    assert clock.sleeps == []


async def test_retry_on_does_not_retry_a_non_retryable_delivery_error(clock: FakeTime) -> None:
    call, calls = failing(DeliveryError("403 missing access", retryable=False))
    with pytest.raises(DeliveryError):
        await retry_on(DeliveryError, POLICY, call, what="post")
    assert calls == [1]


async def test_with_retries_does_not_retry_delivery_errors(clock: FakeTime) -> None:
    call, calls = failing(DeliveryError("discord 503"))
    with pytest.raises(DeliveryError):
        await with_retries(POLICY, call, what="submit")
    assert calls == [1]
