"""Reads about systems: versions, metric specs, daily values, series, chart configs, tokens."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from registry.choices import Aggregation, Granularity, TokenKind
from registry.models import (
    AISystem,
    ApiToken,
    MetricPoint,
    MetricRollup,
    MetricSpec,
    ModelVersion,
)
from registry.rollups import day_start, sketch_merge, sketch_quantile

MAX_BUCKETS = 5000
DEFAULT_BUCKETS = 500
# Windows up to this long may be served from raw points (finer than an hour).
RAW_WINDOW = timedelta(hours=6)


def systems_list() -> QuerySet[AISystem]:
    """Every system with its deployed version, by name."""
    return AISystem.objects.select_related("deployed_version").order_by("name")


def system_versions(system: AISystem) -> QuerySet[ModelVersion]:
    """A system's versions, newest first."""
    return ModelVersion.objects.filter(system=system).order_by("-registered_at")


def system_pipeline_tokens(system: AISystem) -> QuerySet[ApiToken]:
    """A system's pipeline tokens, newest first, with who created them."""
    return (
        ApiToken.objects.filter(system=system, kind=TokenKind.PIPELINE)
        .select_related("created_by")
        .order_by("-created_at")
    )


def personal_tokens(user) -> QuerySet[ApiToken]:
    """A person's own API tokens, newest first."""
    return (
        ApiToken.objects.filter(user=user, kind=TokenKind.PERSONAL)
        .select_related("created_by")
        .order_by("-created_at")
    )


def system_metric_specs(system: AISystem) -> QuerySet[MetricSpec]:
    return MetricSpec.objects.filter(system=system).order_by("key")


@dataclass(frozen=True)
class Bucket:
    start: datetime
    count: int
    min: float
    mean: float
    max: float

    def as_dict(self) -> dict:
        return {
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "count": self.count,
            "min": self.min,
            "mean": self.mean,
            "max": self.max,
        }


def series_resolution(start: datetime, end: datetime, buckets: int) -> str:
    """Which table a series query reads: "raw", "hour" or "day"."""
    width = (end - start) / buckets
    if width >= timedelta(days=1):
        return "day"
    if end - start <= RAW_WINDOW and width < timedelta(hours=1):
        return "raw"
    return "hour"


def metric_series(
    *,
    metric: MetricSpec,
    start: datetime,
    end: datetime,
    buckets: int = DEFAULT_BUCKETS,
    version: ModelVersion | None = None,
) -> tuple[str, list[Bucket]]:
    """At most `buckets` equal-width buckets over [start, end), empty ones left out.

    Served from the daily or hourly rollups, or from raw points for windows of
    six hours or less; never a scan of raw points over a long window. From
    rollups, buckets are whole hours or days and the first one starts on the
    hour or day that holds `start`, so it may reach back before `start`.
    Returns the resolution used and the buckets.
    """
    resolution = series_resolution(start, end, buckets)
    origin = start.timestamp()
    width = (end - start).total_seconds() / buckets
    if resolution != "raw":
        # Buckets are whole multiples of the rollups they are built from and start
        # on a rollup boundary, so each bucket's start and contents are exact.
        granule = 86400 if resolution == "day" else 3600
        origin = math.floor(origin / granule) * granule
        width = (end.timestamp() - origin) / buckets
        width = math.ceil(width / granule) * granule
    acc: dict[int, list[float]] = {}

    def add(at: datetime, count: int, total: float, low: float, high: float) -> None:
        index = math.floor((at.timestamp() - origin) / width)
        slot = acc.get(index)
        if slot is None:
            acc[index] = [count, total, low, high]
        else:
            slot[0] += count
            slot[1] += total
            slot[2] = min(slot[2], low)
            slot[3] = max(slot[3], high)

    if resolution == "raw":
        rows = MetricPoint.objects.filter(metric=metric, at__gte=start, at__lt=end)
        if version is not None:
            rows = rows.filter(version_key=version.pk)
        for at, value in rows.values_list("at", "value").iterator(chunk_size=5000):
            add(at, 1, value, value, value)
    else:
        rows = MetricRollup.objects.filter(
            metric=metric,
            granularity=resolution,
            bucket_start__gte=datetime.fromtimestamp(origin, tz=start.tzinfo),
            bucket_start__lt=end,
        )
        if version is not None:
            rows = rows.filter(version_key=version.pk)
        for at, count, total, low, high in rows.values_list(
            "bucket_start", "count", "sum", "min", "max"
        ):
            add(at, count, total, low, high)

    result = [
        Bucket(
            start=datetime.fromtimestamp(origin + index * width, tz=start.tzinfo),
            count=int(count),
            min=low,
            mean=total / count,
            max=high,
        )
        for index, (count, total, low, high) in sorted(acc.items())
        if count and index >= 0
    ]
    return resolution, result[: max(buckets, 1)]


# --- Pages --------------------------------------------------------------------------------
# The browser pages (registry/views.py) read through these; each page costs a fixed
# number of queries whatever the number of systems, versions or days.

DAILY_WINDOW_DAYS = 30


def _count_of(model, field: str = "system") -> Coalesce:
    """A correlated COUNT of `model` rows that point at the outer system."""
    rows = (
        model.objects.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows), 0)


def systems_page_list() -> QuerySet[AISystem]:
    """Every system with its deployed version and its version and metric counts, by name."""
    return (
        AISystem.objects.select_related("deployed_version")
        .annotate(version_count=_count_of(ModelVersion), metric_count=_count_of(MetricSpec))
        .order_by("name", "pk")
    )


def system_versions_page(system: AISystem) -> QuerySet[ModelVersion]:
    """A system's versions with who registered them, newest first."""
    return (
        ModelVersion.objects.filter(system=system)
        .select_related("registered_by")
        .order_by("-registered_at", "-pk")
    )


def system_deployments(system: AISystem) -> list[ModelVersion]:
    """A system's versions that were ever deployed, oldest deployment first."""
    return list(
        ModelVersion.objects.filter(system=system, deployed_at__isnull=False).order_by(
            "deployed_at"
        )
    )


def daily_window(*, days: int = DAILY_WINDOW_DAYS, now: datetime | None = None) -> list[date]:
    """The last `days` UTC days, today included, oldest first."""
    today = day_start(now or timezone.now()).date()
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def daily_value(aggregation: str, rollups: Sequence[MetricRollup]) -> float | None:
    """One day's value from that day's rollups (one per model version), by the spec's aggregation.

    Several versions reporting on the same day fold together: sums and counts
    add, extremes and sketches merge, and "last" is the latest point overall.
    """
    rows = [row for row in rollups if row.count]
    if not rows:
        return None
    if aggregation == Aggregation.MEAN:
        return sum(row.sum for row in rows) / sum(row.count for row in rows)
    if aggregation == Aggregation.SUM:
        return sum(row.sum for row in rows)
    if aggregation == Aggregation.MIN:
        return min(row.min for row in rows)
    if aggregation == Aggregation.MAX:
        return max(row.max for row in rows)
    if aggregation == Aggregation.LAST:
        return max(rows, key=lambda row: row.last_at).last_value
    if aggregation == Aggregation.P95:
        return sketch_quantile(sketch_merge(*(row.sketch for row in rows)), 0.95)
    raise ValueError(f"unknown aggregation {aggregation!r}")


def metric_status(spec: MetricSpec, value: float | None) -> str:
    """A value's status against `spec`'s thresholds: critical, warning, ok or no_data."""
    if value is None:
        return "no_data"
    if spec.breaches(value, "critical"):
        return "critical"
    if spec.breaches(value, "warning"):
        return "warning"
    return "ok"


@dataclass(frozen=True)
class MetricDaily:
    """A metric with its daily values over a window (None where nothing was reported)."""

    spec: MetricSpec
    days: list[tuple[date, float | None]]

    @property
    def reported(self) -> list[tuple[date, float]]:
        return [(day, value) for day, value in self.days if value is not None]

    @property
    def latest(self) -> tuple[date, float] | None:
        reported = self.reported
        return reported[-1] if reported else None

    @property
    def status(self) -> str:
        latest = self.latest
        return metric_status(self.spec, latest[1] if latest else None)


def _daily_rollups(
    *, specs: Sequence[MetricSpec], first_day: date, version_keys: Sequence[int] | None = None
) -> dict[tuple[int, int, date], list[MetricRollup]]:
    """Daily rollups of `specs` from `first_day` on, keyed by (metric id, version key, day)."""
    start = datetime.combine(first_day, time.min, tzinfo=UTC)
    rows = MetricRollup.objects.filter(
        metric__in=[spec.pk for spec in specs],
        granularity=Granularity.DAY,
        bucket_start__gte=start,
    )
    if version_keys is not None:
        rows = rows.filter(version_key__in=version_keys)
    grouped: dict[tuple[int, int, date], list[MetricRollup]] = {}
    for row in rows.order_by("bucket_start"):
        day = row.bucket_start.astimezone(UTC).date()
        grouped.setdefault((row.metric_id, row.version_key, day), []).append(row)
    return grouped


def system_metrics_daily(
    *, system: AISystem, days: int = DAILY_WINDOW_DAYS, now: datetime | None = None
) -> list[MetricDaily]:
    """Each of a system's metrics with its daily values, all versions together, last `days` days."""
    specs = list(system_metric_specs(system))
    window = daily_window(days=days, now=now)
    grouped = _daily_rollups(specs=specs, first_day=window[0])
    by_day: dict[tuple[int, date], list[MetricRollup]] = {}
    for (metric_id, _version_key, day), rows in grouped.items():
        by_day.setdefault((metric_id, day), []).extend(rows)
    return [
        MetricDaily(
            spec=spec,
            days=[
                (day, daily_value(spec.aggregation, by_day.get((spec.pk, day), [])))
                for day in window
            ],
        )
        for spec in specs
    ]


@dataclass(frozen=True)
class ComparisonRow:
    """One day of a comparison: version A's and version B's daily value."""

    day: date
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        if self.a is None or self.b is None:
            return None
        return self.b - self.a


@dataclass(frozen=True)
class MetricComparison:
    """A metric's daily values for two versions; only days on which either reported."""

    spec: MetricSpec
    rows: list[ComparisonRow]


def version_comparison(
    *,
    system: AISystem,
    version_a: ModelVersion,
    version_b: ModelVersion,
    days: int = DAILY_WINDOW_DAYS,
    now: datetime | None = None,
) -> list[MetricComparison]:
    """Two versions' daily values of each of the system's metrics over the last `days` days."""
    specs = list(system_metric_specs(system))
    window = daily_window(days=days, now=now)
    grouped = _daily_rollups(
        specs=specs, first_day=window[0], version_keys=[version_a.pk, version_b.pk]
    )
    comparisons = []
    for spec in specs:
        rows = []
        for day in window:
            a = daily_value(spec.aggregation, grouped.get((spec.pk, version_a.pk, day), []))
            b = daily_value(spec.aggregation, grouped.get((spec.pk, version_b.pk, day), []))
            if a is not None or b is not None:
                rows.append(ComparisonRow(day=day, a=a, b=b))
        comparisons.append(MetricComparison(spec=spec, rows=rows))
    return comparisons


def _iso(at: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a Z, as JavaScript's Date parses it."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _spec_config(spec: MetricSpec) -> dict:
    """What every chart of a metric needs: names, unit, direction and thresholds."""
    return {
        "key": spec.key,
        "name": spec.name,
        "unit": spec.unit,
        "direction": spec.direction,
        "aggregation": spec.aggregation,
        "warning": spec.warning,
        "critical": spec.critical,
    }


def metric_chart_configs(
    *,
    metrics: Sequence[MetricSpec],
    deployments: Sequence[ModelVersion],
    series_urls: dict[str, str],
) -> list[dict]:
    """What static/registry/charts.js needs to draw one live chart per metric (JSON-ready)."""
    marks = [
        {"at": _iso(version.deployed_at), "version": version.version}
        for version in deployments
        if version.deployed_at
    ]
    return [
        {**_spec_config(spec), "url": series_urls[spec.key], "deployments": marks}
        for spec in metrics
    ]


def comparison_chart_configs(
    *, comparisons: Sequence[MetricComparison], version_a: ModelVersion, version_b: ModelVersion
) -> list[dict]:
    """One two-trace daily chart per metric comparing two versions (JSON-ready)."""
    return [
        {
            **_spec_config(comparison.spec),
            "days": [row.day.isoformat() for row in comparison.rows],
            "traces": [
                {"version": version_a.version, "values": [row.a for row in comparison.rows]},
                {"version": version_b.version, "values": [row.b for row in comparison.rows]},
            ],
        }
        for comparison in comparisons
        if comparison.rows
    ]
