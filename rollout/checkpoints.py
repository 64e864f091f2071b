"""A cohort's checkpoint verdict, as a pure function over the candidate's points.

pass: every checkpoint metric has at least `min_points` points since the cohort
began and its aggregate meets its threshold. fail: some metric with at least
`min_points` points breaches its threshold (a fail is reported even while other
metrics are still short of points). insufficient data: neither; never silently
a pass or a fail.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

PASS = "pass"
FAIL = "fail"
INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class Observed:
    """A metric's points since the cohort began: how many, and their aggregate (None if none)."""

    points: int
    value: float | None


@dataclass(frozen=True)
class CheckpointMetric:
    """One metric of a checkpoint: what was observed, its aggregation and the threshold to meet."""

    key: str
    higher_is_better: bool
    threshold: float
    aggregation: str
    observed: Observed


@dataclass(frozen=True)
class MetricResult:
    """One metric's part of the verdict."""

    key: str
    status: str
    value: float | None
    threshold: float
    points: int
    detail: str


@dataclass(frozen=True)
class Verdict:
    """The checkpoint's verdict and each metric's part in it."""

    status: str
    metrics: list[MetricResult]

    @property
    def reasons(self) -> list[str]:
        return [m.detail for m in self.metrics if m.status != PASS]


def aggregate(aggregation: str, values: Sequence[float]) -> float:
    """A metric's points folded the way its spec says (mean, p95, min, max, last, sum)."""
    if not values:
        raise ValueError("no values to aggregate")
    if aggregation == "mean":
        return statistics.fmean(values)
    if aggregation == "p95":
        ordered = sorted(values)
        # Nearest rank: the smallest value with at least 95% of the points at or below it.
        return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]
    if aggregation == "min":
        return min(values)
    if aggregation == "max":
        return max(values)
    if aggregation == "last":
        return values[-1]
    if aggregation == "sum":
        return math.fsum(values)
    raise ValueError(f"unknown aggregation {aggregation!r}")


def observe(aggregation: str, values: Sequence[float]) -> Observed:
    """Points folded by the metric's aggregation (the database folds most of them itself)."""
    return Observed(len(values), aggregate(aggregation, values) if values else None)


def metric_result(metric: CheckpointMetric, *, min_points: int) -> MetricResult:
    """One metric against its threshold; short of points is insufficient data."""
    points = metric.observed.points
    comparison = ">=" if metric.higher_is_better else "<="
    if points < min_points:
        return MetricResult(
            metric.key,
            INSUFFICIENT_DATA,
            None,
            metric.threshold,
            points,
            f"{metric.key}: {points} of {min_points} points needed",
        )
    value = metric.observed.value
    if value is None:
        raise ValueError(f"{metric.key}: {points} points but no aggregate")
    meets = value >= metric.threshold if metric.higher_is_better else value <= metric.threshold
    return MetricResult(
        metric.key,
        PASS if meets else FAIL,
        value,
        metric.threshold,
        points,
        f"{metric.key}: {metric.aggregation} {value:.4g} over {points} points, "
        f"must be {comparison} {metric.threshold:g}",
    )


def checkpoint_verdict(metrics: Sequence[CheckpointMetric], *, min_points: int) -> Verdict:
    """pass, fail or insufficient data for a cohort (see the module's docstring)."""
    if min_points < 1:
        raise ValueError("min_points must be at least 1")
    results = [metric_result(metric, min_points=min_points) for metric in metrics]
    if not results:
        return Verdict(INSUFFICIENT_DATA, [])
    statuses = {result.status for result in results}
    if FAIL in statuses:
        status = FAIL
    elif INSUFFICIENT_DATA in statuses:
        status = INSUFFICIENT_DATA
    else:
        status = PASS
    return Verdict(status, results)
