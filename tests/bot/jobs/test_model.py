"""The job state machine (`TRANSITIONS`, `sources`) and what the job kinds and advice mean."""

from __future__ import annotations

import pytest

from bot.jobs.model import (
    ACTIVE_STATES,
    FINAL_STATES,
    TRANSITIONS,
    Advice,
    JobKind,
    JobState,
    sources,
)

EARLY_ENDS = (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED)


def test_every_state_is_either_active_or_final_and_in_the_table() -> None:
    assert set(ACTIVE_STATES) | set(FINAL_STATES) == set(JobState)
    assert set(ACTIVE_STATES).isdisjoint(FINAL_STATES)
    assert set(TRANSITIONS) == set(JobState)


@pytest.mark.parametrize("state", ACTIVE_STATES)
@pytest.mark.parametrize("end", EARLY_ENDS)
def test_every_active_state_can_end_failed_cancelled_or_expired(
    state: JobState, end: JobState
) -> None:
    assert end in TRANSITIONS[state]


def test_only_a_delivering_job_becomes_done() -> None:
    assert sources(JobState.DONE) == (JobState.DELIVERING,)


def test_only_a_submitted_or_running_job_is_delivered() -> None:
    assert set(sources(JobState.DELIVERING)) == {JobState.SUBMITTED, JobState.RUNNING}


def test_only_a_queued_job_is_submitted_and_only_a_submitted_one_runs() -> None:
    assert sources(JobState.SUBMITTED) == (JobState.QUEUED,)
    assert sources(JobState.RUNNING) == (JobState.SUBMITTED,)


def test_nothing_goes_back_to_queued() -> None:
    assert sources(JobState.QUEUED) == ()


@pytest.mark.parametrize("state", FINAL_STATES)
def test_final_states_go_nowhere(state: JobState) -> None:
    assert TRANSITIONS[state] == frozenset()


@pytest.mark.parametrize("state", ACTIVE_STATES)
def test_no_state_leads_to_itself(state: JobState) -> None:
    assert state not in TRANSITIONS[state]


@pytest.mark.parametrize("target", list(JobState))
def test_sources_are_exactly_the_states_listing_the_target(target: JobState) -> None:
    listing = [state for state in JobState if target in TRANSITIONS[state]]
    assert sorted(sources(target)) == sorted(listing)
    assert len(set(sources(target))) == len(sources(target))


@pytest.mark.parametrize("end", EARLY_ENDS)
def test_an_early_end_is_reached_from_every_active_state_and_no_final_one(end: JobState) -> None:
    assert set(sources(end)) == set(ACTIVE_STATES)


def test_states_compare_equal_to_the_strings_the_ledger_stores() -> None:
    assert JobState.DELIVERING == "delivering"
    assert JobState("expired") is JobState.EXPIRED


@pytest.mark.parametrize(
    ("kind", "derived"),
    [
        (JobKind.IMAGINE, False),
        (JobKind.LORA, False),
        (JobKind.REROLL, True),
        (JobKind.VARIATION, True),
        (JobKind.REMIX, True),
        (JobKind.UPSCALE, True),
    ],
)
def test_jobs_built_on_another_image_are_derived(kind: JobKind, derived: bool) -> None:
    assert kind.derived is derived


@pytest.mark.parametrize(
    ("kind", "of_one_image"),
    [
        (JobKind.IMAGINE, False),
        (JobKind.LORA, False),
        (JobKind.REROLL, False),
        (JobKind.VARIATION, True),
        (JobKind.REMIX, False),
        (JobKind.UPSCALE, True),
    ],
)
def test_only_variations_and_upscales_are_of_one_image(kind: JobKind, of_one_image: bool) -> None:
    assert kind.of_one_image is of_one_image


def test_a_job_of_one_image_is_always_derived() -> None:
    assert all(kind.derived for kind in JobKind if kind.of_one_image)


@pytest.mark.parametrize(
    ("advice", "stored"),
    [(Advice.MAY_HELP, True), (Advice.WONT_HELP, False), (Advice.NONE, None)],
)
def test_advice_is_stored_as_the_ledgers_retryable_flag(
    advice: Advice, stored: bool | None
) -> None:
    assert advice.retryable is stored


@pytest.mark.parametrize("retryable", [True, False])
def test_advice_of_a_retryable_flag_round_trips(retryable: bool) -> None:
    assert Advice.of(retryable).retryable is retryable


def test_a_retryable_error_advises_that_trying_again_may_help() -> None:
    assert Advice.of(True) is Advice.MAY_HELP
    assert Advice.of(False) is Advice.WONT_HELP
