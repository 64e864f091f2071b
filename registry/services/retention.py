"""Retention of raw metric points: delete those past METRIC_RETENTION_DAYS, keep the rollups.

The cutoff is the start of the UTC day that holds `now - retention`, so whole
days are pruned and a day is either complete or gone; a point is never kept
less than the retention, at most a day longer. Ingestion refuses points older
than `now - retention`, so nothing writes to a day once it is past the cutoff.

Before a day's points go, its hourly and daily rollups are checked against
them: a rollup that counts fewer points than the day holds (or is missing) is
rebuilt from those points first, so what the charts and indicators read from
the rollups is the same before and after the prune. The points are then
deleted in batches of bounded size, each in its own transaction, walking the
(metric, at) index one metric at a time, so a large table is never locked in
one long statement and an interrupted run simply continues on the next one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min
from django.db.models.functions import TruncHour
from django.utils import timezone

from registry.choices import Aggregation, Granularity
from registry.models import MetricPoint, MetricRollup, MetricSpec
from registry.rollups import BUCKET_START, day_start, sketch_add

logger = logging.getLogger(__name__)

PRUNE_BATCH_SIZE = 5000
# Key of the PostgreSQL advisory lock that lets one prune run at a time ("prune" in ASCII).
PRUNE_LOCK_KEY = 0x7072756E65
DAY = timedelta(days=1)


@dataclass(frozen=True)
class PruneResult:
    """What a prune did (or, in a dry run, would do).

    `deleted`: raw points deleted; `rebuilt`: (metric, model version, day)
    rollups rebuilt from the points before they went; `batches`: DELETE
    statements run; `skipped`: another prune held the lock, nothing was done.
    """

    cutoff: datetime
    deleted: int = 0
    rebuilt: int = 0
    batches: int = 0
    dry_run: bool = False
    skipped: bool = False


def metric_points_cutoff(*, now: datetime | None = None) -> datetime:
    """The oldest instant whose points are kept: the UTC day that holds now - retention."""
    now = now or timezone.now()
    return day_start(now - timedelta(days=settings.METRIC_RETENTION_DAYS))


@contextmanager
def _prune_lock():
    """Yield whether this run may prune: False while another one runs (PostgreSQL only).

    Two prunes at once (beat and a manual run) could otherwise rebuild a day's
    rollups from points the other one is deleting. On SQLite (one laptop, one
    worker) the runs are not expected to overlap and no lock is taken.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        # Session level, not transaction level: the run spans many transactions.
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [PRUNE_LOCK_KEY])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [PRUNE_LOCK_KEY])


def _oldest_day(metric_id: int, *, start: datetime | None, cutoff: datetime) -> datetime | None:
    """The UTC day of the metric's oldest point before `cutoff` (from `start` on), or None."""
    points = MetricPoint.objects.filter(metric_id=metric_id, at__lt=cutoff)
    if start is not None:
        points = points.filter(at__gte=start)
    oldest = points.aggregate(oldest=Min("at"))["oldest"]
    return day_start(oldest) if oldest else None


def _incomplete_versions(metric_id: int, day: datetime) -> set[int]:
    """Version keys of the metric whose rollups of `day` count fewer points than the day holds.

    Counts are the test: every point is counted in exactly one hourly and one
    daily rollup when it is written. A rollup counting more than the points
    left is complete (an interrupted earlier prune already deleted some).
    """
    day_end = day + DAY
    per_hour = (
        MetricPoint.objects.filter(metric_id=metric_id, at__gte=day, at__lt=day_end)
        .annotate(hour=TruncHour("at", tzinfo=UTC))
        .values("version_key", "hour")
        .annotate(points=Count("pk"))
        .order_by()
    )
    counted = {
        (version_key, granularity, bucket): count
        for version_key, granularity, bucket, count in MetricRollup.objects.filter(
            metric_id=metric_id, bucket_start__gte=day, bucket_start__lt=day_end
        ).values_list("version_key", "granularity", "bucket_start", "count")
    }
    totals: dict[int, int] = defaultdict(int)
    incomplete = set()
    for row in per_hour:
        version_key = row["version_key"]
        totals[version_key] += row["points"]
        if counted.get((version_key, Granularity.HOUR, row["hour"]), 0) < row["points"]:
            incomplete.add(version_key)
    for version_key, total in totals.items():
        if counted.get((version_key, Granularity.DAY, day), 0) < total:
            incomplete.add(version_key)
    return incomplete


def _rollups_rebuild(spec: MetricSpec, version_key: int, day: datetime) -> None:
    """Write the hourly and daily rollups of one metric, version and day from its points."""
    rows = list(
        MetricPoint.objects.filter(
            metric_id=spec.pk, version_key=version_key, at__gte=day, at__lt=day + DAY
        )
        .order_by("at")
        .values_list("at", "value", "model_version_id")
    )
    if not rows:
        return
    version_id = rows[0][2]
    with transaction.atomic():
        for granularity, bucket_of in BUCKET_START.items():
            groups: dict[datetime, list[tuple[datetime, float]]] = defaultdict(list)
            for at, value, _version in rows:
                groups[bucket_of(at)].append((at, value))
            for bucket, items in groups.items():
                values = [value for _, value in items]
                last_at, last_value = items[-1]  # ordered by time
                MetricRollup.objects.update_or_create(
                    metric_id=spec.pk,
                    version_key=version_key,
                    granularity=granularity,
                    bucket_start=bucket,
                    defaults={
                        "model_version_id": version_id,
                        "count": len(values),
                        "sum": sum(values),
                        "min": min(values),
                        "max": max(values),
                        "last_at": last_at,
                        "last_value": last_value,
                        "sketch": (
                            sketch_add(None, values)
                            if spec.aggregation == Aggregation.P95
                            else None
                        ),
                    },
                )


def _delete_day(metric_id: int, day: datetime, *, batch_size: int) -> tuple[int, int]:
    """Delete one metric's points of one day, `batch_size` per statement: (deleted, batches)."""
    day_points = MetricPoint.objects.filter(metric_id=metric_id, at__gte=day, at__lt=day + DAY)
    deleted = batches = 0
    while True:
        # One short transaction per batch: row locks are held for one batch only.
        with transaction.atomic():
            batch = day_points.values("pk")[:batch_size]
            count, _ = MetricPoint.objects.filter(pk__in=batch).delete()
        deleted += count
        batches += 1
        if count < batch_size:
            return deleted, batches


def metric_points_prune(
    *, now: datetime | None = None, batch_size: int = PRUNE_BATCH_SIZE, dry_run: bool = False
) -> PruneResult:
    """Delete raw metric points older than the retention, after checking their days' rollups.

    Idempotent: a second run finds nothing to delete. With `dry_run`, nothing
    is written and the result says what a run would delete and rebuild.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = metric_points_cutoff(now=now)
    deleted = rebuilt = batches = 0
    with _prune_lock() as acquired:
        if not acquired:
            logger.info("metric prune skipped: another prune is running")
            return PruneResult(cutoff=cutoff, dry_run=dry_run, skipped=True)
        for spec in MetricSpec.objects.order_by("pk").only("pk", "aggregation"):
            day = _oldest_day(spec.pk, start=None, cutoff=cutoff)
            while day is not None:
                for version_key in sorted(_incomplete_versions(spec.pk, day)):
                    rebuilt += 1
                    if not dry_run:
                        logger.warning(
                            "metric %s, version key %s: rollups of %s were incomplete; "
                            "rebuilt from the points before pruning them",
                            spec.pk,
                            version_key,
                            day.date().isoformat(),
                        )
                        _rollups_rebuild(spec, version_key, day)
                if dry_run:
                    deleted += MetricPoint.objects.filter(
                        metric_id=spec.pk, at__gte=day, at__lt=day + DAY
                    ).count()
                else:
                    day_deleted, day_batches = _delete_day(spec.pk, day, batch_size=batch_size)
                    deleted += day_deleted
                    batches += day_batches
                day = _oldest_day(spec.pk, start=day + DAY, cutoff=cutoff)
    if not dry_run:
        logger.info(
            "metric prune: %s points before %s deleted in %s batches, %s rollup days rebuilt",
            deleted,
            cutoff.isoformat(),
            batches,
            rebuilt,
        )
    return PruneResult(
        cutoff=cutoff, deleted=deleted, rebuilt=rebuilt, batches=batches, dry_run=dry_run
    )
