"""Coalesce follow-up evaluations: while one is queued and not yet started, a new one adds nothing.

Each committed metric batch enqueues an evaluation of what it touched. Under
ingestion load they came faster than the worker ran them (docs/benchmarks.md,
"Load"), although one evaluation that has not started yet will read every batch
committed before it starts. So a batch enqueues an evaluation only if none is
pending for the same thing (a system, a rollout):

- `enqueue_coalesced` marks the evaluation pending with `cache.add` (atomic on
  Redis), holding what it covers (the metric ids), and sends the task only when
  it set the mark, or when the pending one does not cover what the batch touched.
- The task calls `pending_clear` when it starts, before it reads any data: a
  batch that lands while it runs finds no mark and enqueues one more run, so
  nothing is missed.

The mark expires after PENDING_SECONDS: a lost message (a flushed broker)
holds evaluations back that long at most, and the beat sweep evaluates
everything every minute anyway. A cache that is away or fails means sending the
task as before: coalescing saves work, it must never lose an evaluation or fail
the request whose batch is already committed. In eager mode (the tests) the task
runs inside `enqueue` and clears its mark before it returns, so every batch is
evaluated at once, as without coalescing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache

from core.resilience import enqueue

logger = logging.getLogger(__name__)

# Longer than a backlog normally lasts (the load bench drained 194 tasks in 53 s), short
# enough that a lost message delays nothing for long: a longer wait just sends another.
PENDING_SECONDS = 300


def pending_key(task, ident: int) -> str:
    """The cache key marking a run of `task` for `ident` (a system, a rollout) as pending."""
    return f"coalesce:{task.name}:{ident}"


def enqueue_coalesced(task, *args: Any, ident: int, covers: Iterable[int] = ()) -> bool:
    """Send `task(*args)` unless a pending run for `ident` already covers `covers`.

    True when sent; False when a pending run covers it, or when the broker is
    away (core.resilience.enqueue; the beat sweep catches up).
    """
    key = pending_key(task, ident)
    wanted = sorted(set(covers))
    marked = False
    # Any error, not just a connection error: the batch is committed, and the only cost of
    # not coalescing is one more evaluation.
    try:
        marked = cache.add(key, wanted, PENDING_SECONDS)
        if not marked:
            # None: the pending run has just started (or expired), or the cache is away.
            pending = cache.get(key)
            if pending is not None and set(wanted) <= set(pending):
                return False
    except Exception:
        logger.warning("could not coalesce %s for %s; sending it", task.name, ident, exc_info=True)
    sent = enqueue(task, *args)
    if marked and not sent:
        # Nothing is pending after all: the next batch must try the broker again.
        pending_clear(task, ident)
    return sent


def pending_clear(task, ident: int) -> None:
    """A run of `task` for `ident` starts: the next batch enqueues a run of its own."""
    try:
        cache.delete(pending_key(task, ident))
    except Exception:
        # The mark stays until it expires; the beat sweep evaluates meanwhile.
        logger.warning("could not clear the pending mark of %s for %s", task.name, ident)
