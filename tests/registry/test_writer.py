"""Both writers (PostgreSQL's single statement and the portable one) agree exactly."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from registry.models import MetricPoint, MetricRollup
from registry.validation import ValidPoint
from registry.writer import store_points
from tests.registry.factories import MetricSpecFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)


def batch(spec_ids, count, offset=0):
    return [
        ValidPoint(
            metric_id=spec_ids[i % len(spec_ids)],
            at=T0 + timedelta(minutes=7 * (i + offset)),
            value=((i * 37) % 101) / 10,
        )
        for i in range(count)
    ]


def rollup_table():
    return sorted(
        MetricRollup.objects.values_list(
            "metric__key",
            "version_key",
            "granularity",
            "bucket_start",
            "count",
            "min",
            "max",
            "last_at",
            "last_value",
            "sketch",
        )
    ), sorted(round(s, 9) for s in MetricRollup.objects.values_list("sum", flat=True))


def run(fast, version_id, spec_ids, sketch_ids):
    first = store_points(
        system_id=MetricSpecFactory._meta.model.objects.get(pk=spec_ids[0]).system_id,
        version_id=version_id,
        points=batch(spec_ids, 600),
        received_at=T0,
        sketch_metric_ids=sketch_ids,
        fast=fast,
    )
    # Half overlap: 300 duplicates, 300 new points.
    second = store_points(
        system_id=MetricSpecFactory._meta.model.objects.get(pk=spec_ids[0]).system_id,
        version_id=version_id,
        points=batch(spec_ids, 600, offset=300),
        received_at=T0,
        sketch_metric_ids=sketch_ids,
        fast=fast,
    )
    return first, second


@pytest.mark.postgres
def test_the_fast_and_the_portable_writer_produce_the_same_rows():
    assert connection.vendor == "postgresql"
    version = ModelVersionFactory()
    quality = MetricSpecFactory(system=version.system, key="q")
    latency = MetricSpecFactory(
        system=version.system,
        key="lat",
        direction="lower_is_better",
        warning=5,
        critical=8,
        aggregation="p95",
    )
    ids, sketch = [quality.pk, latency.pk], frozenset({latency.pk})

    results = {}
    tables = {}
    for fast in (True, False):
        MetricRollup.objects.all().delete()
        MetricPoint.objects.all().delete()
        results[fast] = run(fast, version.pk, ids, sketch)
        tables[fast] = rollup_table()
    assert results[True] == results[False]
    assert [(r.accepted, r.duplicates) for r in results[True]] == [(600, 0), (300, 300)]
    assert tables[True] == tables[False]


def test_the_portable_writer_counts_duplicates_inside_one_batch():
    spec = MetricSpecFactory()
    point = ValidPoint(metric_id=spec.pk, at=T0, value=1.0)
    result = store_points(
        system_id=spec.system_id,
        version_id=None,
        points=[point, point],
        received_at=T0,
        fast=False,
    )
    assert (result.accepted, result.duplicates) == (1, 1)
    assert MetricRollup.objects.get(granularity="day").count == 1
