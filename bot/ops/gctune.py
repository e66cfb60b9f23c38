"""Garbage-collector settings for a long-running bot with many jobs in flight.

CPython 3.11's full (generation 2) collection stops the event loop while it walks every object
the collector tracks. Measured with a thousand jobs in flight (bench/README.md): ~70,000 objects
exist from start-up on and never become garbage (modules, classes, discord.py's and the
provider clients' tables), and each job in flight adds ~130 more (its task, coroutines, timers,
connection); a full collection took 110–160 ms, and the default thresholds ran one every ~7 s.

- `gc.freeze()` once the bot is ready moves the start-up objects into a permanent generation
  that collections skip (a full collection then walks only what jobs created);
- the third threshold goes from 10 to `FULL_COLLECTION_EVERY`: a full collection waits for that
  many second-generation collections instead of ten, so it runs about ten times less often.
  Young collections, which are short, keep their defaults, and reference cycles still get
  collected, just later (the bot closes its big buffers itself, see bot.delivery).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

FULL_COLLECTION_EVERY = 100  # CPython's default third threshold is 10


def tune_for_long_run() -> int:
    """Collect once, freeze what survives, and space out full collections. Call it once, when
    start-up is over. Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    frozen = gc.get_freeze_count()
    log.debug("froze %d start-up objects out of garbage collection", frozen)
    return frozen
