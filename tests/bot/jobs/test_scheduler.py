from __future__ import annotations

from bot.jobs.scheduler import FairScheduler


def test_round_robin_across_users_with_limits() -> None:
    scheduler = FairScheduler(global_limit=3, per_user_limit=2)
    for job in range(1, 6):
        scheduler.push(user_id=1, job_id=job)  # user 1 bursts five jobs
    scheduler.push(user_id=2, job_id=10)
    scheduler.push(user_id=3, job_id=20)
    started = [scheduler.pop_ready() for _ in range(3)]
    assert started == [(1, 1), (2, 10), (3, 20)]
    assert scheduler.pop_ready() is None  # global limit
    scheduler.done(2)
    assert scheduler.pop_ready() == (1, 2)
    scheduler.done(3)
    assert scheduler.pop_ready() is None  # user 1 already has two in flight
    assert scheduler.positions() == {3: 1, 4: 2, 5: 3}
    scheduler.done(1)
    assert scheduler.pop_ready() == (1, 3)


def test_positions_interleave_users() -> None:
    scheduler = FairScheduler(global_limit=0, per_user_limit=1)
    for job in (1, 2, 3):
        scheduler.push(1, job)
    scheduler.push(2, 9)
    assert scheduler.positions() == {1: 1, 9: 2, 2: 3, 3: 4}


def test_a_job_put_back_starts_first_and_its_member_leads_the_round() -> None:
    """A job that could not start (every process's slots were full) loses no place."""
    scheduler = FairScheduler(global_limit=1, per_user_limit=1)
    scheduler.push(1, 1)
    scheduler.push(2, 20)
    scheduler.push(1, 2)
    assert scheduler.pop_ready() == (1, 1)
    scheduler.done(1)
    scheduler.push_front(1, 1)
    assert scheduler.positions() == {1: 1, 20: 2, 2: 3}
    assert scheduler.pop_ready() == (1, 1)
