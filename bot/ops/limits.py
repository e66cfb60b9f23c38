"""The process's open-file limit, raised to what the system allows.

Every job in flight holds a socket (its status stream) and Discord, the CDNs and the ledger
hold more: ten thousand jobs in flight need over ten thousand descriptors, while many systems
start a process with a soft limit of 1024. The soft limit may be raised up to the hard one
without privileges, as servers such as nginx and PostgreSQL do at start-up.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

CEILING = 1 << 20  # when the hard limit is unlimited


def raise_open_files() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force."""
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %s to %s: %s", soft, target, exc)
    return soft
