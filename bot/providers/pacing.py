"""When to poll a provider next: few requests per job, yet completion seen soon after it happens.

A fixed interval trades one for the other (fal-client's 0.1 s default costs ~200 requests for a
20 s generation; 1 s costs ~0.5 s of delivery latency on average). `PollPacer` instead:

- starts fast and backs off geometrically while nothing changes, never slower than `ceiling_s`
  (the configured `poll_interval_s`);
- goes back to fast polling when the phase changes (queued → running), since the next change
  often follows soon;
- while the model reports steps (`step x/y`), it predicts when the job will finish from the step
  rate and schedules polls at half the remaining time, so polls get denser just before the
  predicted finish and the `completed` state is seen within ~`floor_s` of happening; past the
  prediction it backs off from the floor again.

Progress is shown at most every `progress_interval_s` (≥ 1.5 s) anyway, so a ceiling of 1.5–2 s
loses nothing a member would see.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.providers.base import ProviderUpdate


class PollPacer:
    def __init__(
        self,
        ceiling_s: float,
        *,
        floor_s: float = 0.1,
        first_s: float = 0.3,
        growth: float = 1.6,
        approach: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.floor_s = min(floor_s, ceiling_s)
        self.ceiling_s = max(ceiling_s, self.floor_s)
        self.growth = growth
        self.approach = approach
        self._clock = clock
        self._first_s = min(max(first_s, self.floor_s), self.ceiling_s)
        self._interval = self._first_s
        self._key: tuple[str, int | None, int | None] | None = None
        # (time, step) of the first and the latest step change seen while running
        self._origin: tuple[float, int] | None = None
        self._latest: tuple[float, int] | None = None
        self._last_poll: float | None = None
        self._finish_at: float | None = None

    def next_delay(self, update: ProviderUpdate) -> float:
        """Seconds to wait before the next poll, given the update the last poll returned."""
        now = self._clock()
        key = (update.phase, update.step, update.total_steps)
        if self._key is not None:
            if key[0] != self._key[0]:
                self._interval = self._first_s  # a phase change: the next may follow soon
            elif key == self._key:
                self._interval = min(self._interval * self.growth, self.ceiling_s)
        self._key = key
        finish = self._predict_finish(update, now)
        if finish is not None and finish > now:
            # Ahead of the predicted finish: close in on it (by half the remaining time with
            # the default `approach`). Past it, the backoff above starts again from the floor.
            self._interval = self.floor_s
            return min(max((finish - now) * self.approach, self.floor_s), self.ceiling_s)
        return self._interval

    def _predict_finish(self, update: ProviderUpdate, now: float) -> float | None:
        step, total = update.step, update.total_steps
        last_poll, self._last_poll = self._last_poll, now
        if update.phase != "running" or step is None or not total:
            self._origin = self._latest = self._finish_at = None
            return None
        if self._latest is not None and step == self._latest[1]:
            return self._finish_at
        # The step changed somewhere between the previous poll and this one: take the middle.
        seen = (now + last_poll) / 2 if last_poll is not None else now
        if self._origin is None or step < self._origin[1]:
            self._origin = self._latest = (seen, step)
            self._finish_at = None
            return None
        self._latest = (seen, step)
        t0, s0 = self._origin
        if seen > t0:
            rate = (step - s0) / (seen - t0)
            # One more step's worth after the last one: decoding and upload take about that.
            self._finish_at = seen + (total - step + 1) / rate
        return self._finish_at
