"""Fair scheduling for one process's jobs: who runs next when slots free up.

FIFO per member, round-robin across members, with a global cap and a per-member cap on jobs
in flight. Pure and synchronous (no I/O), so it is tested on its own.
"""

from __future__ import annotations

from collections import OrderedDict, deque


class FairScheduler:
    """FIFO per user, round-robin across users, with global and per-user in-flight limits."""

    def __init__(self, global_limit: int, per_user_limit: int) -> None:
        self.global_limit = global_limit
        self.per_user_limit = per_user_limit
        self._waiting: OrderedDict[int, deque[int]] = OrderedDict()
        self._waiting_ids: set[int] = set()
        self._running: dict[int, int] = {}
        self.running_total = 0

    def push(self, user_id: int, job_id: int) -> None:
        self._waiting.setdefault(user_id, deque()).append(job_id)
        self._waiting_ids.add(job_id)

    def push_front(self, user_id: int, job_id: int) -> None:
        """Put back a job that could not start after all (the caps of all processes were
        full): first in its member's line, and its member first in the round."""
        self._waiting.setdefault(user_id, deque()).appendleft(job_id)
        self._waiting.move_to_end(user_id, last=False)
        self._waiting_ids.add(job_id)

    def is_waiting(self, job_id: int) -> bool:
        return job_id in self._waiting_ids

    def remove(self, user_id: int, job_id: int) -> bool:
        queue = self._waiting.get(user_id)
        if queue is None or job_id not in queue:
            return False
        queue.remove(job_id)
        self._waiting_ids.discard(job_id)
        if not queue:
            del self._waiting[user_id]
        return True

    def pop_ready(self) -> tuple[int, int] | None:
        if self.running_total >= self.global_limit:
            return None
        for user_id in list(self._waiting):
            if self._running.get(user_id, 0) >= self.per_user_limit:
                continue
            queue = self._waiting[user_id]
            job_id = queue.popleft()
            self._waiting_ids.discard(job_id)
            # Served users go to the back of the line: round-robin.
            del self._waiting[user_id]
            if queue:
                self._waiting[user_id] = queue
            self._running[user_id] = self._running.get(user_id, 0) + 1
            self.running_total += 1
            return user_id, job_id
        return None

    def done(self, user_id: int) -> None:
        left = self._running.get(user_id, 0) - 1
        if left > 0:
            self._running[user_id] = left
        else:
            self._running.pop(user_id, None)
        self.running_total -= 1

    def positions(self) -> dict[int, int]:
        """1-based place of every waiting job in the order the scheduler would start them."""
        result: dict[int, int] = {}
        queues = [list(q) for q in self._waiting.values()]
        place = 0
        depth = 0
        while any(depth < len(q) for q in queues):
            for q in queues:
                if depth < len(q):
                    place += 1
                    result[q[depth]] = place
            depth += 1
        return result

    @property
    def waiting_total(self) -> int:
        return len(self._waiting_ids)
