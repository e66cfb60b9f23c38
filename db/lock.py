"""One process per SQLite ledger: an exclusive OS lock on a file beside it, `<path>-lock`.

Two bots on one ledger would each resume, submit and deliver the same jobs (and charge them
twice), and each keeps its own intake journal and schedule in memory, so SQLite serves exactly
one process. The bot and `db migrate` take this lock before they open the intake journal or
the database; a second one is refused at once (`LedgerInUse`, one line naming the holder).
Read-only commands (`db check`) take no lock: SQLite's WAL lets a reader see a consistent
snapshot next to the one writer without disturbing it. Several processes share a PostgreSQL
ledger instead (`[database] url`), where no file lock is taken.

Why `flock(2)` on a file of its own:
- the kernel drops the lock when the process dies, however it dies (SIGKILL, OOM, power), so a
  crashed bot never leaves a stale lock behind: the file may stay, the lock does not;
- the file is never deleted (deleting it would let a third process lock a new file while the
  second still holds the old one), and its text names the holder (pid and host: in a
  container, the host name is the container's) only so the refusal can say who it is;
- `flock` locks belong to the open file, not the process (unlike `fcntl`/`lockf` record
  locks, which any `close()` of the same file in the process would drop), and work across
  containers that share the volume.
The `filelock` package does the same `flock`, but opens the file with `O_TRUNC`, so every
refused attempt would wipe the holder's pid the message names; hence these few lines.

Windows is not a target (the bot runs on Linux, in Docker): there `fcntl` does not exist, the
module still imports, and no lock is taken.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from types import TracebackType

if sys.platform != "win32":
    import fcntl


class LedgerUnavailable(Exception):
    """The ledger can't be locked for this process; `str(exc)` is the one line to print."""


class LedgerInUse(LedgerUnavailable):
    """Another process holds the ledger."""

    def __init__(self, db_path: str, holder: str) -> None:
        self.db_path, self.holder = db_path, holder
        who = f" ({holder})" if holder else ""
        super().__init__(
            f"{db_path} is in use by another Art Factory process{who}: one SQLite ledger "
            "serves one process, or its jobs would run twice; stop that process first "
            "(several processes will need a shared PostgreSQL database)."
        )


class LedgerLock:
    """`with LedgerLock(path):` holds the ledger for this process (`:memory:` needs none)."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.path = None if db_path == ":memory:" else Path(f"{db_path}-lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting; raises LedgerInUse when another process has it."""
        if self.path is None or sys.platform == "win32":
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise LedgerUnavailable(f"{self.db_path}: can't open {self.path}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise LedgerInUse(self.db_path, holder) from None
        except OSError as exc:  # e.g. a network filesystem without locks
            os.close(fd)
            raise LedgerUnavailable(f"{self.db_path}: can't lock {self.path}: {exc}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the ledger up (call once the database and the journal are closed)."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # still ours here: nobody is named as holder any more
        os.close(self._fd)  # the last descriptor of the open file: the lock goes with it
        self._fd = None

    def __enter__(self) -> LedgerLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _holder(fd: int) -> str:
    """The holder, named from its line ("pid 1234 on host"); empty until it has written it."""
    try:
        pid, _, host = os.pread(fd, 300, 0).decode("utf-8", "replace").strip().partition(" ")
    except OSError:
        return ""
    if not pid.isdigit():
        return ""
    return f"pid {pid} on {host}" if host else f"pid {pid}"
