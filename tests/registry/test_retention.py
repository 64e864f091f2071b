"""Retention: raw metric points past METRIC_RETENTION_DAYS are pruned, the rollups stay.

The clock is frozen at NOW. With the default 400 days the cutoff is the start
of the UTC day that holds NOW - 400 days (2025-10-21T00:00Z): a point 401
days old goes, one 400 or 399 days old stays.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import psycopg
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask

from registry.models import MetricPoint, MetricRollup, MetricSpec, ModelVersion
from registry.selectors import metric_series, system_metrics_daily
from registry.services import metric_batch_ingest, metric_points_prune
from registry.services.retention import PRUNE_LOCK_KEY, metric_points_cutoff
from registry.tasks import prune_metric_points
from tests.registry.factories import ModelVersionFactory, loan_classifier

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CUTOFF = datetime(2025, 10, 21, tzinfo=UTC)


def days_ago(days: float, hours: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def ingest(clock, system, points, *, version=None, at=None):
    """Push a batch through the ingestion service, the clock at `at` (default: just after it)."""
    clock.move_to(at or max(when for _, when, _ in points) + timedelta(minutes=1))
    body = {
        "points": [{"metric": key, "at": when.isoformat(), "value": v} for key, when, v in points]
    }
    if version:
        body["model_version"] = version
    metric_batch_ingest(system=system, body=body, by=None)
    clock.move_to(NOW)


def rollups():
    """Every rollup row, sums rounded, so two snapshots compare exactly."""
    rows = MetricRollup.objects.values_list(
        "metric_id",
        "version_key",
        "granularity",
        "bucket_start",
        "count",
        "sum",
        "min",
        "max",
        "last_at",
        "last_value",
        "sketch",
    )
    return sorted((*row[:5], round(row[5], 9), *row[6:]) for row in rows)


@pytest.fixture
def system(clock):
    """The loan classifier with points 401, 400 and 399 days old, and one from an hour ago."""
    system = loan_classifier()
    ingest(
        clock,
        system,
        [
            ("output_quality", days_ago(401), 0.91),
            ("output_quality", days_ago(401, hours=-1), 0.93),
            ("output_quality", days_ago(400), 0.95),
            ("output_quality", days_ago(399), 0.97),
        ],
        version="2.1.0",
    )
    ingest(
        clock,
        system,
        [
            ("latency_ms", days_ago(401), 120.0),
            ("latency_ms", days_ago(401, hours=-2), 480.0),
            ("latency_ms", days_ago(401, hours=-3), 950.0),
            ("latency_ms", days_ago(399), 300.0),
        ],
    )
    ingest(clock, system, [("output_quality", NOW - timedelta(hours=1), 0.99)], at=NOW)
    return system


def kept_times():
    return sorted(MetricPoint.objects.values_list("at", flat=True))


def test_the_cutoff_is_the_start_of_the_day_that_holds_the_retention_boundary():
    assert metric_points_cutoff(now=NOW) == CUTOFF
    assert metric_points_cutoff(now=datetime(2026, 11, 25, tzinfo=UTC)) == CUTOFF
    assert metric_points_cutoff(now=datetime(2026, 11, 25, 23, 59, tzinfo=UTC)) == CUTOFF


def test_it_deletes_the_points_past_the_retention_and_keeps_every_rollup(system):
    before = rollups()
    result = metric_points_prune()
    assert (result.cutoff, result.deleted, result.rebuilt) == (CUTOFF, 5, 0)
    assert kept_times() == [
        days_ago(400),
        days_ago(399),
        days_ago(399),
        NOW - timedelta(hours=1),
    ]
    assert rollups() == before


def test_the_day_that_holds_the_boundary_is_kept_whole(clock):
    system = loan_classifier()
    ingest(
        clock,
        system,
        [
            ("output_quality", CUTOFF - timedelta(microseconds=1), 0.9),
            ("output_quality", CUTOFF, 0.9),
            ("output_quality", days_ago(400, hours=1), 0.9),  # past 400 days, same day as 400
        ],
    )
    assert metric_points_prune().deleted == 1
    assert kept_times() == [CUTOFF, days_ago(400, hours=1)]


def test_charts_and_daily_values_read_from_the_rollups_are_unchanged(system):
    quality = MetricSpec.objects.get(key="output_quality")
    latency = MetricSpec.objects.get(key="latency_ms")
    version = ModelVersion.objects.get(version="2.1.0")

    def read():
        return (
            metric_series(metric=quality, start=days_ago(410), end=NOW, buckets=100),
            metric_series(metric=latency, start=days_ago(402), end=days_ago(398), buckets=96),
            metric_series(
                metric=quality, start=days_ago(402), end=days_ago(398), buckets=4, version=version
            ),
            [(m.spec.key, m.days) for m in system_metrics_daily(system=system, days=410, now=NOW)],
        )

    before = read()
    assert before[0][0] == "day" and before[1][0] == "hour"
    assert sum(bucket.count for bucket in before[0][1]) == 5
    metric_points_prune()
    assert read() == before


def test_a_missing_rollup_is_rebuilt_from_the_points_before_they_go(system):
    before = rollups()
    old_day = datetime(2025, 10, 20, tzinfo=UTC)
    # Both metrics lose their rollups of the day about to be pruned (a p95 one with its sketch).
    lost = MetricRollup.objects.filter(bucket_start__gte=old_day, bucket_start__lt=CUTOFF)
    assert lost.count() == (1 + 2) + (1 + 3)  # a day each, and two and three hours
    lost.delete()
    result = metric_points_prune()
    assert (result.deleted, result.rebuilt) == (5, 2)
    assert rollups() == before


def test_a_rollup_counting_too_few_points_is_rebuilt(system):
    before = rollups()
    MetricRollup.objects.filter(
        metric__key="output_quality", granularity="day", bucket_start__lt=CUTOFF
    ).update(count=1, sum=0.5, max=0.5)
    assert metric_points_prune().rebuilt == 1
    assert rollups() == before


def test_each_model_version_is_checked_and_rebuilt_on_its_own(clock):
    system = loan_classifier()
    ModelVersionFactory(system=system, version="2.2.0")
    for version, value in (("2.1.0", 0.8), ("2.2.0", 0.9)):
        ingest(clock, system, [("output_quality", days_ago(401), value)], version=version)
    newer = ModelVersion.objects.get(version="2.2.0")
    MetricRollup.objects.filter(version_key=newer.pk, granularity="hour").delete()
    before_older = sorted(r for r in rollups() if r[1] != newer.pk)
    result = metric_points_prune()
    assert (result.deleted, result.rebuilt) == (2, 1)
    rebuilt = MetricRollup.objects.get(version_key=newer.pk, granularity="hour")
    assert (rebuilt.count, rebuilt.sum, rebuilt.model_version_id) == (1, 0.9, newer.pk)
    assert sorted(r for r in rollups() if r[1] != newer.pk) == before_older


def test_it_is_idempotent(system):
    metric_points_prune()
    after_first = (kept_times(), rollups())
    second = metric_points_prune()
    assert (second.deleted, second.rebuilt) == (0, 0)
    assert (kept_times(), rollups()) == after_first


def test_each_delete_removes_at_most_one_batch(clock):
    system = loan_classifier()
    old = [("output_quality", days_ago(401, hours=-minute / 60), 0.9) for minute in range(7)]
    ingest(clock, system, old)
    ingest(clock, system, [("latency_ms", days_ago(405), 100.0)])
    with CaptureQueriesContext(connection) as queries:
        result = metric_points_prune(batch_size=3)
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    # output_quality: 3 + 3 + 1; latency_ms: 1 (a short batch ends the day's loop).
    assert (result.deleted, result.batches, len(deletes)) == (8, 4, 4)
    assert all("LIMIT 3" in sql for sql in deletes)
    assert not MetricPoint.objects.exists()


def test_the_retention_comes_from_the_settings(system, settings):
    settings.METRIC_RETENTION_DAYS = 30
    result = metric_points_prune()
    assert result.cutoff == datetime(2026, 10, 26, tzinfo=UTC)
    assert (result.deleted, kept_times()) == (8, [NOW - timedelta(hours=1)])


def test_a_dry_run_counts_and_writes_nothing(system):
    MetricRollup.objects.filter(
        metric__key="latency_ms", granularity="day", bucket_start__lt=CUTOFF
    ).delete()
    before = (kept_times(), rollups())
    result = metric_points_prune(dry_run=True)
    assert (result.deleted, result.rebuilt, result.batches, result.dry_run) == (5, 1, 0, True)
    assert (kept_times(), rollups()) == before


def test_a_batch_size_below_one_is_refused(system):
    with pytest.raises(ValueError, match="batch_size"):
        metric_points_prune(batch_size=0)
    assert MetricPoint.objects.count() == 9


@pytest.mark.postgres
def test_a_prune_does_nothing_while_another_one_runs(system):
    params = connection.settings_dict
    with psycopg.connect(
        dbname=params["NAME"],
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [PRUNE_LOCK_KEY])
        result = metric_points_prune()
    assert (result.skipped, result.deleted) == (True, 0)
    assert MetricPoint.objects.count() == 9
    assert metric_points_prune().deleted == 5  # the lock went with the other session


# --- Task, schedule, command --------------------------------------------------------------


def test_the_task_prunes(system):
    assert prune_metric_points.apply().get() == 5
    assert MetricPoint.objects.count() == 4


def test_beat_runs_the_prune_daily_on_the_ingest_queue():
    task = PeriodicTask.objects.get(name="registry.tasks.prune_metric_points")
    assert (task.task, task.enabled, task.queue) == (
        "registry.tasks.prune_metric_points",
        True,
        "ingest",
    )
    assert (task.interval.every, task.interval.period) == (86400, "seconds")


def test_the_command_reports_a_dry_run_and_a_real_run(system):
    out = StringIO()
    call_command("prune_metrics", "--dry-run", stdout=out)
    assert out.getvalue().strip() == (
        "dry run: would delete 5 metric points before 2025-10-21T00:00:00Z "
        "(retention 400 days); would rebuild 0 rollup days first"
    )
    assert MetricPoint.objects.count() == 9
    out = StringIO()
    call_command("prune_metrics", "--batch-size", "2", stdout=out)
    assert out.getvalue().strip() == (
        "deleted 5 metric points before 2025-10-21T00:00:00Z (retention 400 days) "
        "in 4 batches; rebuilt 0 rollup days first"
    )
    assert MetricPoint.objects.count() == 4


@pytest.mark.parametrize("size", ["0", "-3", "many"])
def test_the_command_refuses_a_bad_batch_size_and_deletes_nothing(system, size):
    with pytest.raises(CommandError, match="must be a whole number of at least 1"):
        call_command("prune_metrics", "--batch-size", size)
    assert MetricPoint.objects.count() == 9
