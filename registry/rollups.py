"""Pure helpers for rollups: bucket boundaries and the p95 sketch.

How p95 is computed: every point of a p95 metric is also counted in a
log-bucketed histogram (the DDSketch idea): a positive value v falls in bucket
i = ceil(log(v) / log(GAMMA)), with GAMMA = (1 + 0.01) / (1 - 0.01), stored
under the key "p<i>"; a negative value under "n<i>" and zero under "z". Merging two
sketches adds their counts, so hourly and daily rollups are kept exactly in
step with the points. The p95 is the representative value of the bucket that
holds the rank ceil(0.95 * n) point, 2 * GAMMA^i / (GAMMA + 1), which is
within 1% of the true order statistic, at any volume.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
# Values closer to zero than this share the zero bucket.
MIN_INDEXABLE = 1e-9
ZERO_KEY = "z"


def hour_start(at: datetime) -> datetime:
    """The UTC hour that contains `at`."""
    at = at.astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def day_start(at: datetime) -> datetime:
    """The UTC day that contains `at`."""
    return hour_start(at).replace(hour=0)


BUCKET_START = {"hour": hour_start, "day": day_start}
BUCKET_WIDTH = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


def sketch_key(value: float) -> str:
    """The sketch bucket of one value (JSON object keys are strings)."""
    if abs(value) < MIN_INDEXABLE:
        return ZERO_KEY
    index = math.ceil(math.log(abs(value)) / _LOG_GAMMA)
    # The index itself may be negative (|value| < 1), so the sign is a letter.
    return f"p{index}" if value > 0 else f"n{index}"


def sketch_add(sketch: dict[str, int] | None, values: Iterable[float]) -> dict[str, int]:
    """A new sketch: `sketch` plus `values`."""
    merged = dict(sketch or {})
    for value in values:
        key = sketch_key(value)
        merged[key] = merged.get(key, 0) + 1
    return merged


def sketch_merge(*sketches: dict[str, int] | None) -> dict[str, int]:
    """The sum of several sketches."""
    merged: dict[str, int] = {}
    for sketch in sketches:
        for key, count in (sketch or {}).items():
            merged[key] = merged.get(key, 0) + count
    return merged


def _bucket_value(key: str) -> float:
    if key == ZERO_KEY:
        return 0.0
    negative = key[0] == "n"
    index = int(key[1:])
    magnitude = 2 * GAMMA**index / (GAMMA + 1)
    return -magnitude if negative else magnitude


def sketch_quantile(sketch: dict[str, int] | None, q: float) -> float | None:
    """The q-quantile (0 < q <= 1) read from a sketch; None when it is empty."""
    if not sketch:
        return None
    ordered = sorted(sketch.items(), key=lambda item: _bucket_value(item[0]))
    total = sum(count for _, count in ordered)
    rank = max(1, math.ceil(q * total))
    seen = 0
    for key, count in ordered:
        seen += count
        if seen >= rank:
            return _bucket_value(key)
    return _bucket_value(ordered[-1][0])
