"""The p95 sketch and the bucket boundaries (pure)."""

import math
import random
from datetime import UTC, datetime, timedelta, timezone

from registry.rollups import day_start, hour_start, sketch_add, sketch_merge, sketch_quantile


def exact_quantile(values, q):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_the_p95_is_within_one_percent_of_the_exact_order_statistic():
    rng = random.Random(7)
    for values in (
        [rng.lognormvariate(5, 1) for _ in range(10_000)],
        [rng.uniform(0.5, 1.0) for _ in range(1_000)],
        [rng.gauss(0, 10) for _ in range(2_000)],
    ):
        exact = exact_quantile(values, 0.95)
        estimate = sketch_quantile(sketch_add(None, values), 0.95)
        assert abs(estimate - exact) <= 0.0101 * abs(exact), (estimate, exact)


def test_merging_sketches_equals_sketching_everything():
    rng = random.Random(3)
    a = [rng.expovariate(1) for _ in range(500)]
    b = [rng.expovariate(2) for _ in range(700)]
    assert sketch_merge(sketch_add(None, a), sketch_add(None, b)) == sketch_add(None, a + b)


def test_zero_and_negative_values_have_their_own_buckets():
    sketch = sketch_add(None, [0.0, -5.0, -5.0, 5.0])
    assert sketch_quantile(sketch, 0.25) < -4.9
    assert sketch_quantile(sketch, 0.75) == 0.0 or abs(sketch_quantile(sketch, 0.75)) < 1e-9
    assert 4.95 < sketch_quantile(sketch, 1.0) < 5.05


def test_an_empty_sketch_has_no_quantile():
    assert sketch_quantile(None, 0.95) is None
    assert sketch_quantile({}, 0.95) is None


def test_buckets_are_utc_hours_and_days():
    at = datetime(2026, 11, 25, 7, 30, 15, tzinfo=timezone(timedelta(hours=8)))
    assert hour_start(at) == datetime(2026, 11, 24, 23, tzinfo=UTC)
    assert day_start(at) == datetime(2026, 11, 24, tzinfo=UTC)
