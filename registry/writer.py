"""Store a validated batch of points and fold it into the rollups, in one transaction.

Two implementations of one contract: `store_points` returns how many points
were new; duplicates (same metric, model version and time) are skipped and
never counted twice in a rollup.

- PostgreSQL: one statement. The points travel as three binary arrays (`unnest`),
  `INSERT ... ON CONFLICT DO NOTHING RETURNING` yields only the new rows, and
  two more data-modifying CTEs upsert the hourly and daily rollups from them.
- Anything else (SQLite for `make run`): the same SQL shape in chunks, with
  the new rows aggregated in Python.

p95 metrics also merge the new values into their rollups' sketches, under the
row locks the upserts already hold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from registry.models import MetricPoint, MetricRollup
from registry.rollups import BUCKET_START, sketch_add
from registry.validation import ValidPoint

POINTS = MetricPoint._meta.db_table
ROLLUPS = MetricRollup._meta.db_table

_ROLLUP_UPDATE = f"""
    count = {ROLLUPS}.count + EXCLUDED.count,
    sum = {ROLLUPS}.sum + EXCLUDED.sum,
    min = CASE WHEN EXCLUDED.min < {ROLLUPS}.min THEN EXCLUDED.min ELSE {ROLLUPS}.min END,
    max = CASE WHEN EXCLUDED.max > {ROLLUPS}.max THEN EXCLUDED.max ELSE {ROLLUPS}.max END,
    last_value = CASE WHEN EXCLUDED.last_at >= {ROLLUPS}.last_at
                      THEN EXCLUDED.last_value ELSE {ROLLUPS}.last_value END,
    last_at = CASE WHEN EXCLUDED.last_at > {ROLLUPS}.last_at
                   THEN EXCLUDED.last_at ELSE {ROLLUPS}.last_at END
"""
_ROLLUP_CONFLICT = "(metric_id, version_key, granularity, bucket_start)"
_ROLLUP_COLUMNS = (
    "(metric_id, model_version_id, version_key, granularity, bucket_start,"
    " count, sum, min, max, last_at, last_value)"
)


def _pg_rollup_upsert(name: str, granularity: str, source: str) -> str:
    """A CTE that upserts `granularity` rollups from `source` (per-hour groups)."""
    return f"""{name} AS (
    INSERT INTO {ROLLUPS} {_ROLLUP_COLUMNS}
    SELECT metric_id, %(version_id)s::bigint, %(version_key)s::bigint, '{granularity}',
           date_trunc('{granularity}', bucket, 'UTC'),
           sum(n), sum(total), min(low), max(high), max(last_at),
           (array_agg(last_value ORDER BY last_at DESC))[1]
    FROM {source} GROUP BY metric_id, date_trunc('{granularity}', bucket, 'UTC')
    ON CONFLICT {_ROLLUP_CONFLICT} DO UPDATE SET {_ROLLUP_UPDATE}
    RETURNING 1
)"""


_PG_SQL = f"""
WITH incoming AS (
    SELECT * FROM unnest(%(metric_ids)b::bigint[], %(ats)b::timestamptz[], %(values)b::float8[])
        AS t(metric_id, at, value)
), inserted AS (
    INSERT INTO {POINTS} (system_id, metric_id, model_version_id, version_key, at, value,
                          received_at)
    SELECT %(system_id)s::bigint, metric_id, %(version_id)s::bigint, %(version_key)s::bigint,
           at, value, %(received_at)s::timestamptz
    FROM incoming
    ON CONFLICT (metric_id, at, version_key) DO NOTHING
    RETURNING metric_id, at, value
), hour_groups AS (
    -- The new points are grouped once, by hour; the day rollups fold those groups
    -- (at most 24 per metric and day) instead of every point a second time.
    SELECT metric_id, date_trunc('hour', at, 'UTC') AS bucket, count(*) AS n,
           sum(value) AS total, min(value) AS low, max(value) AS high, max(at) AS last_at,
           (array_agg(value ORDER BY at DESC))[1] AS last_value
    FROM inserted GROUP BY metric_id, date_trunc('hour', at, 'UTC')
), {_pg_rollup_upsert("hourly", "hour", "hour_groups")},
   {_pg_rollup_upsert("daily", "day", "hour_groups")}
SELECT (SELECT count(*) FROM inserted),
       (SELECT coalesce(json_agg(json_build_array(metric_id, at, value)), '[]'::json)
        FROM inserted WHERE metric_id = ANY(%(sketch_ids)b::bigint[]))
"""


@dataclass(frozen=True)
class StoreResult:
    accepted: int
    duplicates: int


def store_points(
    *,
    system_id: int,
    version_id: int | None,
    points: Sequence[ValidPoint],
    received_at: datetime,
    sketch_metric_ids: frozenset[int] = frozenset(),
    fast: bool | None = None,
) -> StoreResult:
    """Insert the new points and update the rollups; the caller's transaction wraps both."""
    if not points:
        return StoreResult(0, 0)
    use_fast = connection.vendor == "postgresql" if fast is None else fast
    # No savepoint: the caller's transaction already makes the batch all or nothing.
    with transaction.atomic(savepoint=False):
        if use_fast:
            new_for_sketch, accepted = _store_postgresql(
                system_id, version_id, points, received_at, sketch_metric_ids
            )
        else:
            new_for_sketch, accepted = _store_portable(
                system_id, version_id, points, received_at, sketch_metric_ids
            )
        if new_for_sketch:
            _merge_sketches(version_id or 0, new_for_sketch)
    return StoreResult(accepted=accepted, duplicates=len(points) - accepted)


def _store_postgresql(system_id, version_id, points, received_at, sketch_metric_ids):
    params = {
        "metric_ids": [p.metric_id for p in points],
        "ats": [p.at for p in points],
        "values": [p.value for p in points],
        "system_id": system_id,
        "version_id": version_id,
        "version_key": version_id or 0,
        "received_at": received_at,
        "sketch_ids": sorted(sketch_metric_ids),
    }
    # A psycopg cursor of Django's own connection (so, the same transaction) that
    # binds on the server: the three arrays travel in binary instead of being
    # rendered as text literals element by element (5x less Python time per batch).
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_PG_SQL, params)
        accepted, sketch_rows = cursor.fetchone()
    new = [(metric_id, parse_datetime(at), value) for metric_id, at, value in sketch_rows]
    return new, accepted


_CHUNK = 500


def _store_portable(system_id, version_id, points, received_at, sketch_metric_ids):
    ops = connection.ops
    version_key = version_id or 0
    received = ops.adapt_datetimefield_value(received_at)
    inserted: list[tuple[int, datetime, float]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(points), _CHUNK):
            chunk = points[start : start + _CHUNK]
            by_key = {(p.metric_id, str(ops.adapt_datetimefield_value(p.at))): p for p in chunk}
            rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(by_key))
            params: list = []
            for (metric_id, at), point in by_key.items():
                params += [system_id, metric_id, version_id, version_key, at, point.value, received]
            cursor.execute(
                f"INSERT INTO {POINTS} (system_id, metric_id, model_version_id, version_key,"
                f" at, value, received_at) VALUES {rows}"
                " ON CONFLICT (metric_id, at, version_key) DO NOTHING RETURNING metric_id, at",
                params,
            )
            for metric_id, at in cursor.fetchall():
                point = by_key[(metric_id, str(at))]
                inserted.append((metric_id, point.at, point.value))

        for granularity, bucket_of in BUCKET_START.items():
            groups: dict[tuple[int, datetime], list[tuple[datetime, float]]] = defaultdict(list)
            for metric_id, at, value in inserted:
                groups[(metric_id, bucket_of(at))].append((at, value))
            for (metric_id, bucket), items in groups.items():
                values = [value for _, value in items]
                last_at, last_value = max(items, key=lambda item: item[0])
                cursor.execute(
                    f"INSERT INTO {ROLLUPS} {_ROLLUP_COLUMNS}"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    f" ON CONFLICT {_ROLLUP_CONFLICT} DO UPDATE SET {_ROLLUP_UPDATE}",
                    [
                        metric_id,
                        version_id,
                        version_key,
                        granularity,
                        ops.adapt_datetimefield_value(bucket),
                        len(values),
                        sum(values),
                        min(values),
                        max(values),
                        ops.adapt_datetimefield_value(last_at),
                        last_value,
                    ],
                )
    new_for_sketch = [row for row in inserted if row[0] in sketch_metric_ids]
    return new_for_sketch, len(inserted)


def _merge_sketches(version_key: int, rows: list[tuple[int, datetime, float]]) -> None:
    """Add the new values of p95 metrics to their hourly and daily sketches.

    One locking read and one bulk update per granularity; the upserts above
    already hold these rows' locks in this transaction.
    """
    for granularity, bucket_of in BUCKET_START.items():
        groups: dict[tuple[int, datetime], list[float]] = defaultdict(list)
        for metric_id, at, value in rows:
            groups[(metric_id, bucket_of(at))].append(value)
        buckets = {bucket for _, bucket in groups}
        rollups = MetricRollup.objects.select_for_update().filter(
            metric_id__in={metric_id for metric_id, _ in groups},
            version_key=version_key,
            granularity=granularity,
            bucket_start__in=buckets,
        )
        changed = []
        for rollup in rollups:
            values = groups.get((rollup.metric_id, rollup.bucket_start))
            if values:
                rollup.sketch = sketch_add(rollup.sketch, values)
                changed.append(rollup)
        MetricRollup.objects.bulk_update(changed, ["sketch"], batch_size=500)
