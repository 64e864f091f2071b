"""Properties of the cohort checkpoint verdict (rollout/checkpoints.py).

A metric short of `min_points` is insufficient data, whatever its value; a
judged metric that breaches its threshold fails the checkpoint, whatever the
others say; a pass needs every metric judged and meeting its threshold (a
value exactly at it meets it). The verdict depends on the points, not on the
order they arrived in (except for "last", which is the point of it), nor on
the order the metrics are listed in.
"""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import assume, given
from hypothesis import strategies as st

from rollout.checkpoints import (
    FAIL,
    INSUFFICIENT_DATA,
    PASS,
    CheckpointMetric,
    Observed,
    aggregate,
    checkpoint_verdict,
    observe,
)
from tests.properties import PROPERTIES

ORDER_FREE = ["mean", "p95", "min", "max", "sum"]
values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
point_lists = st.lists(values, max_size=30)


@st.composite
def metrics(draw, *, key: str) -> CheckpointMetric:
    """A checkpoint metric from raw points, its threshold sometimes exactly its aggregate."""
    aggregation = draw(st.sampled_from([*ORDER_FREE, "last"]))
    points = draw(point_lists)
    observed = observe(aggregation, points)
    if observed.value is not None and draw(st.booleans()):
        threshold = observed.value
    else:
        threshold = draw(values)
    return CheckpointMetric(key, draw(st.booleans()), threshold, aggregation, observed)


@st.composite
def checkpoints(draw, min_size: int = 0):
    count = draw(st.integers(min_size, 5))
    return [draw(metrics(key=f"metric_{n}")) for n in range(count)]


min_points = st.integers(1, 12)


def meets(metric: CheckpointMetric) -> bool:
    value = metric.observed.value
    return value >= metric.threshold if metric.higher_is_better else value <= metric.threshold


@PROPERTIES
@given(checkpoints(), min_points)
def test_the_verdict_follows_its_three_rules(metric_list, minimum):
    verdict = checkpoint_verdict(metric_list, min_points=minimum)
    judged = [m for m in metric_list if m.observed.points >= minimum]
    short = [m for m in metric_list if m.observed.points < minimum]
    if any(not meets(m) for m in judged):
        assert verdict.status == FAIL  # even while other metrics are short of points
    elif short or not metric_list:
        assert verdict.status == INSUFFICIENT_DATA  # never silently a pass
    else:
        assert verdict.status == PASS


@PROPERTIES
@given(checkpoints(), min_points)
def test_a_metric_short_of_points_is_insufficient_data_whatever_its_value(metric_list, minimum):
    verdict = checkpoint_verdict(metric_list, min_points=minimum)
    for metric, result in zip(metric_list, verdict.metrics, strict=True):
        if metric.observed.points < minimum:
            assert (result.status, result.value) == (INSUFFICIENT_DATA, None)
        else:
            assert result.status == (PASS if meets(metric) else FAIL)
    if any(m.observed.points < minimum for m in metric_list):
        assert verdict.status != PASS


@PROPERTIES
@given(checkpoints(min_size=1), min_points, st.randoms(use_true_random=False))
def test_the_order_of_the_metrics_does_not_matter(metric_list, minimum, random):
    verdict = checkpoint_verdict(metric_list, min_points=minimum)
    shuffled = list(metric_list)
    random.shuffle(shuffled)
    again = checkpoint_verdict(shuffled, min_points=minimum)
    assert again.status == verdict.status
    assert Counter(again.metrics) == Counter(verdict.metrics)


@PROPERTIES
@given(st.sampled_from(ORDER_FREE), point_lists, st.randoms(use_true_random=False))
def test_the_aggregate_does_not_depend_on_the_order_the_points_arrived_in(
    aggregation, points, random
):
    shuffled = list(points)
    random.shuffle(shuffled)
    assert observe(aggregation, shuffled) == observe(aggregation, points)


@PROPERTIES
@given(st.lists(values, min_size=1, max_size=50))
def test_p95_is_the_nearest_rank_value(points):
    p95 = aggregate("p95", points)
    assert p95 in points
    at_or_below = sum(v <= p95 for v in points)
    below = sum(v < p95 for v in points)
    # The smallest value with at least 95% of the points at or below it.
    assert at_or_below >= 0.95 * len(points)
    assert below < 0.95 * len(points)


@PROPERTIES
@given(checkpoints(min_size=1), min_points, st.integers(0, 4))
def test_one_ulp_past_the_threshold_fails_a_metric_that_passes_exactly_at_it(
    metric_list, minimum, pick
):
    metric = metric_list[pick % len(metric_list)]
    assume(metric.observed.value is not None)
    points = max(metric.observed.points, minimum)
    at = CheckpointMetric(
        metric.key,
        metric.higher_is_better,
        metric.observed.value,
        metric.aggregation,
        Observed(points, metric.observed.value),
    )
    assert checkpoint_verdict([at], min_points=minimum).status == PASS
    stricter = math.nextafter(at.threshold, math.inf if at.higher_is_better else -math.inf)
    past = CheckpointMetric(at.key, at.higher_is_better, stricter, at.aggregation, at.observed)
    assert checkpoint_verdict([past], min_points=minimum).status == FAIL
    # A failing metric fails the checkpoint whatever the others say.
    assert checkpoint_verdict([past, *metric_list], min_points=minimum).status == FAIL
