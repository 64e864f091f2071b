"""Where the time of one ingestion request goes (a diagnostic, not a figure to compare).

    .venv/bin/python bench/profile_ingest.py

Against a throw-away database (`portal_bench_profile`), in one Django process
(no gunicorn, so no queueing, one request at a time): the whole request through
Django's test client (middleware, token authentication, the rate counter in
Redis, view, service, writer), then its parts:

1. the SQL statements of a 1-point request, each with its wall time;
2. per batch size: wall time, time in SQL, and CPU of this (Python) process and of
   its PostgreSQL backend (read from /proc), so Python and database costs separate;
3. a 5000-point batch's JSON decoding, validation, array transfer and writer timed apart;
4. cProfile of 5000-point requests and of 1-point requests (top functions);
5. EXPLAIN ANALYZE of the writer's statement for 5000 new points (rolled back);
6. experiments for the fixes proposed in docs/benchmarks.md, on this throw-away
   database only: the writer's statement with binary array parameters, without the
   points table's redundant indexes, and with synchronous_commit off.

JSON lines (figures) go to stdout; the profiles and the plan go to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import ingest

DB = "portal_bench_profile"


def _pg_cpu(pid: int) -> float:
    """CPU seconds of one PostgreSQL backend so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / common._TICK


def _inner(seeded: dict, repeats: int) -> None:
    common.django_setup()
    from datetime import UTC, datetime, timedelta

    import psycopg
    from django.conf import settings
    from django.db import connection, transaction
    from django.test import Client

    from registry import writer
    from registry.models import AISystem, MetricSpec
    from registry.validation import validate_batch

    token = seeded["token"]
    path = f"/api/v1/systems/{seeded['slug']}/metrics/"
    metrics = ingest.metric_keys()
    client = Client(HTTP_HOST=common.HOST)
    state = {"client": 0, "next": 0}

    def new_body(size: int) -> bytes:
        if state["next"] + size > ingest.capacity():  # the next client's slice: still new
            state["client"] += 1
            state["next"] = 0
        base = ingest.client_base(state["client"], time.time())
        body = ingest.make_body(base, state["next"], size, metrics)
        state["next"] += size
        return body

    def post(body: bytes):
        response = client.post(
            path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert response.status_code == 201, response.content[:300]
        return response

    queries: list[tuple[str, float]] = []

    def record(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            queries.append((sql, time.perf_counter() - began))

    def backend_pid() -> int:
        connection.ensure_connection()
        return connection.connection.info.backend_pid

    def measure(size: int, count: int, *, duplicate: bool = False) -> dict:
        bodies = [new_body(size) for _ in range(count)]
        if duplicate:
            for body in bodies:
                post(body)
        walls, sql_times, n_queries, py_cpu, pg_cpu = [], [], [], [], []
        for body in bodies:
            queries.clear()
            pid = backend_pid()
            pg_before, py_before = _pg_cpu(pid), time.process_time()
            with connection.execute_wrapper(record):
                began = time.perf_counter()
                post(body)
                walls.append(time.perf_counter() - began)
            py_cpu.append(time.process_time() - py_before)
            pg_cpu.append(_pg_cpu(pid) - pg_before if backend_pid() == pid else float("nan"))
            sql_times.append(sum(duration for _, duration in queries))
            n_queries.append(len(queries))

        def mean_ms(values: list[float]) -> float:
            return round(statistics.fmean(values) * 1000, 2)

        return {
            "bench": "ingest_profile",
            "batch": size,
            "duplicates_path": duplicate,
            "requests": count,
            "wall_ms": mean_ms(walls),
            "in_sql_ms": mean_ms(sql_times),
            "python_cpu_ms": mean_ms(py_cpu),
            "postgres_cpu_ms": mean_ms(pg_cpu),
            "queries_per_request": round(statistics.fmean(n_queries), 1),
            "points_per_s_one_process": round(size / statistics.fmean(walls)),
        }

    for size in (1000, 1):  # warm-up: imports, connection, caches
        for _ in range(3):
            post(new_body(size))

    # 1. The statements of a 1-point request.
    queries.clear()
    with connection.execute_wrapper(record):
        post(new_body(1))
    lines = [f"  {took * 1000:7.2f} ms  {' '.join(sql.split())[:100]}" for sql, took in queries]
    common.log("one 1-point request, statement by statement:\n" + "\n".join(lines))

    # 2. Whole requests, per batch size.
    for size in (1, 100, 1000, 5000):
        common.emit(measure(size, repeats * 10 if size == 1 else repeats))
    common.emit(measure(5000, repeats, duplicate=True))

    # 3. The parts of a 5000-point request.
    system_id = AISystem.objects.get(slug=seeded["slug"]).pk
    specs = list(MetricSpec.objects.values_list("key", "id", "aggregation"))
    metric_ids = {key: pk for key, pk, _ in specs}
    retention = timedelta(days=settings.METRIC_RETENTION_DAYS)

    def valid_points(body: bytes):
        points, _version, errors = validate_batch(
            json.loads(body), metric_ids=metric_ids, now=datetime.now(UTC), retention=retention
        )
        assert not errors
        return points

    parts: dict[str, list[float]] = {
        "json_decode": [],
        "validate": [],
        "send_arrays": [],
        "store_points_and_commit": [],
    }
    for _ in range(repeats):
        body = new_body(5000)
        began = time.perf_counter()
        decoded = json.loads(body)
        parts["json_decode"].append(time.perf_counter() - began)
        began = time.perf_counter()
        points, _version, _errors = validate_batch(
            decoded, metric_ids=metric_ids, now=datetime.now(UTC), retention=retention
        )
        parts["validate"].append(time.perf_counter() - began)
        # Only the transfer of the three arrays (Django's client-side binding), no insert.
        arrays = [[p.metric_id for p in points], [p.at for p in points], [p.value for p in points]]
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT cardinality(%s::bigint[]) + cardinality(%s::timestamptz[])"
                " + cardinality(%s::float8[])",
                arrays,
            )
            cursor.fetchone()
        parts["send_arrays"].append(time.perf_counter() - began)
        began = time.perf_counter()
        with transaction.atomic():
            result = writer.store_points(
                system_id=system_id, version_id=None, points=points, received_at=datetime.now(UTC)
            )
        parts["store_points_and_commit"].append(time.perf_counter() - began)
        assert result.accepted == 5000
    common.emit(
        {
            "bench": "ingest_parts",
            "batch": 5000,
            **{f"{name}_ms": round(statistics.fmean(v) * 1000, 2) for name, v in parts.items()},
        }
    )

    # 4. cProfile of whole requests.
    for size, count, order, top in ((5000, repeats, "tottime", 30), (1, 200, "cumulative", 60)):
        bodies = [new_body(size) for _ in range(count)]
        profiler = cProfile.Profile()
        profiler.enable()
        for body in bodies:
            post(body)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
        common.log(f"cProfile of {count} requests of {size} new points, by {order}:")
        common.log(out.getvalue())

    # 5. The writer's statement, explained (executed, then rolled back).
    points = valid_points(new_body(5000))
    params = _writer_params(points, system_id)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, WAL) " + writer._PG_SQL, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    common.log(f"EXPLAIN ANALYZE of the writer's statement, 5000 new points:\n{plan}")

    # 6. Experiments (this throw-away database only; indexes are dropped on the way).
    binary_sql = writer._PG_SQL
    for name in ("metric_ids", "ats", "values", "sketch_ids"):
        binary_sql = binary_sql.replace(f"%({name})s", f"%({name})b")

    def store_as_is(points):
        writer.store_points(
            system_id=system_id, version_id=None, points=points, received_at=datetime.now(UTC)
        )

    def store_binary(points, *, synchronous: bool = True):
        # psycopg.Cursor binds on the server, so arrays travel in binary; same transaction.
        with psycopg.Cursor(connection.connection) as cursor:
            if not synchronous:
                cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(binary_sql, _writer_params(points, system_id))
            cursor.fetchone()

    def wal_lsn() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
            return cursor.fetchone()[0]

    def wal_bytes(start: str, end: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)", [end, start])
            return int(cursor.fetchone()[0])

    def experiment(label: str, store) -> None:
        walls, statements, py_cpu, pg_cpu, wal = [], [], [], [], []
        for _ in range(max(repeats, 8)):
            points = valid_points(new_body(5000))
            start = wal_lsn()
            pid = backend_pid()
            pg_before, py_before = _pg_cpu(pid), time.process_time()
            began = time.perf_counter()
            with transaction.atomic():
                store(points)
                statements.append(time.perf_counter() - began)
            walls.append(time.perf_counter() - began)  # the commit included
            py_cpu.append(time.process_time() - py_before)
            pg_cpu.append(_pg_cpu(pid) - pg_before)
            wal.append(wal_bytes(start, wal_lsn()))
        common.emit(
            {
                "bench": "ingest_experiment",
                "batch": 5000,
                "variant": label,
                "median_ms": round(statistics.median(walls) * 1000, 1),
                "statement_ms": round(statistics.median(statements) * 1000, 1),
                "commit_ms": round(
                    statistics.median(w - s for w, s in zip(walls, statements, strict=True)) * 1000,
                    1,
                ),
                "python_cpu_ms": round(statistics.median(py_cpu) * 1000, 1),
                "postgres_cpu_ms": round(statistics.median(pg_cpu) * 1000, 1),
                "wal_bytes_per_point": round(statistics.median(wal) / 5000),
            }
        )

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")  # full-page images then weigh the same on every variant
    for _round in range(2):  # twice, interleaved: the machine is shared and noisy
        experiment("writer as is (text arrays, client-side binding)", store_as_is)
        experiment("binary array parameters", store_binary)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s"
            " AND (indexdef LIKE '%%(metric_id)' OR indexdef LIKE '%%(system_id)')",
            [writer.POINTS],
        )
        redundant = [row[0] for row in cursor.fetchall()]
        for name in redundant:
            cursor.execute(f'DROP INDEX "{name}"')
    common.log(f"dropped {redundant} (metric_id leads the natural key's index already)")
    experiment("binary, no metric_id/system_id indexes", store_binary)
    experiment("as is, no metric_id/system_id indexes", store_as_is)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'f'",
            [writer.POINTS],
        )
        foreign_keys = cursor.fetchall()
        for name, _definition in foreign_keys:
            cursor.execute(f'ALTER TABLE {writer.POINTS} DROP CONSTRAINT "{name}"')
    listed = "\n".join(f"  {name}: {definition}" for name, definition in foreign_keys)
    common.log(f"dropped the points table's foreign keys (checked per row, at commit):\n{listed}")
    experiment("binary, no redundant indexes, no foreign keys", store_binary)
    experiment(
        "binary, no redundant indexes, no foreign keys, synchronous_commit off",
        lambda points: store_binary(points, synchronous=False),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1",
            [writer.POINTS],
        )
        left = "\n".join(f"  {name}: {definition}" for name, definition in cursor.fetchall())
    common.log(f"indexes of the points table left:\n{left}")


def _writer_params(points, system_id: int) -> dict:
    """The parameters registry/writer.py passes to its statement (no model version)."""
    from datetime import UTC, datetime

    return {
        "metric_ids": [p.metric_id for p in points],
        "ats": [p.at for p in points],
        "values": [p.value for p in points],
        "system_id": system_id,
        "version_id": None,
        "version_key": 0,
        "received_at": datetime.now(UTC),
        "sketch_ids": [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seeded", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.repeats <= 100:
        parser.error("--repeats: 1 to 100")
    if args.inner:
        _inner(json.loads(args.seeded), args.repeats)
        return
    common.emit(common.machine())
    common.create_database(DB)
    try:
        common.migrate(DB)
        seeded = common.seed(DB, metrics=ingest.metric_keys(), versions=[ingest.VERSION])
        common.run_django(
            Path(__file__),
            ["--seeded", json.dumps(seeded.__dict__), "--repeats", str(args.repeats)],
            db=DB,
            capture=False,
            timeout=1800,
        )
    finally:
        if not args.keep_db:
            common.drop_database(DB)


if __name__ == "__main__":
    main()
