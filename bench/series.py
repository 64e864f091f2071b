"""The series endpoint over a metric with 10 million stored points, through the real HTTP stack.

    .venv/bin/python bench/series.py --points 200000     # a quick trial
    .venv/bin/python bench/series.py                     # 10 million points

What it does, against a throw-away database (`portal_bench_series`, dropped first):

1. migrate, seed one system, one metric, two model versions and a pipeline token;
2. start `manage.py serve web` (gunicorn, WEB_WORKERS=2) on a free port;
3. load `--points` points of the one metric, half per model version, evenly spread
   over the last 399 days (the retention is 400): by default through the ingestion
   API itself, 4 clients posting 10,000-point batches (its throughput is a figure
   too); `--load writer` calls registry.writer.store_points in 2 Django processes
   instead (no HTTP, no validation), for machines where the API is too slow;
4. VACUUM ANALYZE the points and rollups (what autovacuum does after a bulk load);
5. time GET .../metrics/<key>/series/ for each scenario: `--requests` requests
   (default 200) with random window ends within the data: 30 days at 500 buckets
   (all versions, one version, 4 concurrent clients), 30 days at 5000 buckets,
   365 days at 500 buckets, and a 6-hour window (served from raw points);
6. stop the server (SIGTERM to its process group, SIGKILL after 15 s), drop the database.

One JSON line per figure on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

DB = "portal_bench_series"
METRIC = "output_quality"
VERSIONS = ["2.0.0", "2.1.0"]
SPAN_DAYS = 399
LOAD_BATCH = 10_000
LOAD_TIMEOUT_S = 4 * 3600  # every loop is bounded; 10M points take minutes, not hours
DAY_MS = 86_400_000


# --- The data ---------------------------------------------------------------------------


class Layout:
    """Where point j of version v lies: at start_ms + j * step_ms (per version)."""

    def __init__(self, points: int, now_ms: int) -> None:
        self.per_version = points // len(VERSIONS)
        self.end_ms = now_ms - now_ms % 1000 - 3_600_000  # an hour ago, on a second
        self.start_ms = self.end_ms - SPAN_DAYS * DAY_MS
        self.step_ms = max(1, (self.end_ms - self.start_ms) // self.per_version)

    def batches(self) -> list[tuple[int, int, int]]:
        """(version index, first j, count) of every load batch, in time order per version."""
        out = []
        for first in range(0, self.per_version, LOAD_BATCH):
            count = min(LOAD_BATCH, self.per_version - first)
            for version in range(len(VERSIONS)):
                out.append((version, first, count))
        return out

    def at_ms(self, j: int) -> int:
        return self.start_ms + j * self.step_ms

    @staticmethod
    def value(version: int, j: int) -> float:
        return 0.80 + 0.05 * version + 0.1 * ((j * 7919) % 10007) / 10007


def iso_ms(at_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at_ms // 1000)) + f".{at_ms % 1000:03d}Z"


def make_body(layout: Layout, version: int, first: int, count: int) -> bytes:
    parts = [
        f'{{"metric":"{METRIC}","value":{layout.value(version, j):.5f},'
        f'"at":"{iso_ms(layout.at_ms(j))}"}}'
        for j in range(first, first + count)
    ]
    return (f'{{"model_version":"{VERSIONS[version]}","points":[' + ",".join(parts) + "]}").encode()


def load_client(
    port: int, token: str, path: str, points: int, now_ms: int, share: list, deadline: float
) -> dict:
    """POST this client's share of the load batches, one after another."""
    layout = Layout(points, now_ms)
    client = common.Client(port, token, timeout=120)
    accepted = errors = 0
    samples: list[str] = []
    cpu = time.process_time()
    for version, first, count in share:
        if time.time() >= deadline:
            samples.append("load deadline reached")
            break
        body = make_body(layout, version, first, count)
        for _attempt in range(3):  # a failed batch is retried; resending is idempotent
            try:
                status, data = client.request("POST", path, body)
            except Exception as exc:
                status, data = 0, repr(exc).encode()
            if status == 201:
                accepted += json.loads(data)["accepted"]
                break
            errors += 1
            if len(samples) < 3:
                samples.append(f"{status}: {data[:200]!r}")
            time.sleep(1)
    client.close()
    return {
        "accepted": accepted,
        "errors": errors,
        "samples": samples,
        "cpu": time.process_time() - cpu,
    }


def load_http(
    server: common.Server, seeded: common.Seeded, layout: Layout, points: int, now_ms: int
) -> dict:
    batches = layout.batches()
    clients = 4
    # Contiguous time ranges per client, so concurrent batches rarely share a rollup row.
    size = -(-len(batches) // clients)
    shares = [batches[c * size : (c + 1) * size] for c in range(clients)]
    deadline = time.time() + LOAD_TIMEOUT_S
    args = [
        (server.port, seeded.token, seeded.ingest_path(), points, now_ms, share, deadline)
        for share in shares
    ]
    meter = common.CpuMeter(server.process.pid, DB)
    began = time.time()
    results = common.run_parallel(load_client, args, during=meter)
    wall = time.time() - began
    client_cpu = sum(result["cpu"] for result in results)
    cpu = meter.figures(client_cpu_s=client_cpu)
    accepted = sum(result["accepted"] for result in results)
    samples = [sample for result in results for sample in result["samples"]]
    return {
        "path": "http",
        "batch": LOAD_BATCH,
        "clients": clients,
        "points": accepted,
        "wall_s": round(wall, 1),
        "points_per_s": round(accepted / wall) if wall else None,
        "errors": sum(result["errors"] for result in results),
        "client_cpu_s": round(client_cpu, 1),
        **cpu,
        **({"error_samples": samples[:3]} if samples else {}),
    }


def load_writer(layout: Layout, points: int, now_ms: int) -> dict:
    """store_points in 2 Django processes (no HTTP, no JSON, no validation)."""
    batches = layout.batches()
    processes = 2
    size = -(-len(batches) // processes)
    env = common.bench_env(DB, DJANGO_SETTINGS_MODULE="portal.settings")
    env["PYTHONPATH"] = str(common.ROOT)
    began = time.time()
    children = []
    try:
        for p in range(processes):
            spec = {"points": points, "now_ms": now_ms, "first": p * size, "count": size}
            children.append(
                subprocess.Popen(
                    [common.PYTHON, __file__, "--inner", "load", json.dumps(spec)],
                    cwd=common.ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
            )
        accepted = 0
        for child in children:
            out, _ = child.communicate(timeout=LOAD_TIMEOUT_S)
            if child.returncode != 0:
                raise RuntimeError("a writer loader failed (see stderr)")
            accepted += json.loads(out.strip().splitlines()[-1])["accepted"]
    finally:
        for child in children:
            common.stop_process_group(child)
    wall = time.time() - began
    return {
        "path": "writer",
        "batch": LOAD_BATCH,
        "processes": processes,
        "points": accepted,
        "wall_s": round(wall, 1),
        "points_per_s": round(accepted / wall) if wall else None,
    }


def _load_inner(spec: dict) -> None:
    common.django_setup()
    from datetime import UTC, datetime

    from django.db import transaction
    from django.utils import timezone

    from registry.models import AISystem, MetricSpec, ModelVersion
    from registry.validation import ValidPoint
    from registry.writer import store_points

    layout = Layout(spec["points"], spec["now_ms"])
    system = AISystem.objects.get(slug=common.SYSTEM_SLUG)
    metric = MetricSpec.objects.get(system=system, key=METRIC)
    version_ids = [ModelVersion.objects.get(system=system, version=v).pk for v in VERSIONS]
    accepted = 0
    for version, first, count in layout.batches()[spec["first"] : spec["first"] + spec["count"]]:
        points = [
            ValidPoint(
                metric_id=metric.pk,
                at=datetime.fromtimestamp(layout.at_ms(j) / 1000, tz=UTC),
                value=layout.value(version, j),
            )
            for j in range(first, first + count)
        ]
        with transaction.atomic():
            result = store_points(
                system_id=system.pk,
                version_id=version_ids[version],
                points=points,
                received_at=timezone.now(),
            )
        accepted += result.accepted
    print(json.dumps({"accepted": accepted}))


def _profile_inner(spec: dict) -> None:
    """cProfile of series requests in one Django process, and the rollup query's plan."""
    common.django_setup()
    import cProfile
    import io
    import pstats
    from datetime import UTC, datetime, timedelta

    from django.test import Client

    from registry import selectors
    from registry.models import MetricPoint, MetricRollup, MetricSpec, ModelVersion

    layout = Layout(spec["points"], spec["now_ms"])
    client = Client(HTTP_HOST=common.HOST)
    path = f"/api/v1/systems/{common.SYSTEM_SLUG}/metrics/{METRIC}/series/"
    metric = MetricSpec.objects.get(system__slug=common.SYSTEM_SLUG, key=METRIC)
    end = datetime.fromtimestamp(layout.end_ms / 1000, tz=UTC)
    for days, buckets in ((30, 500), (365, 500)):
        start = end - timedelta(days=days)
        query = f"start={iso_ms(layout.end_ms - days * DAY_MS)}&end={iso_ms(layout.end_ms)}"
        url = f"{path}?{query}&buckets={buckets}"

        def get(url=url):
            response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {spec['token']}")
            assert response.status_code == 200, response.content[:300]

        get()
        began = time.perf_counter()
        for _ in range(20):
            get()
        request_ms = (time.perf_counter() - began) / 20 * 1000
        began = time.perf_counter()
        for _ in range(20):
            rows = MetricRollup.objects.filter(
                metric=metric,
                granularity="hour",
                bucket_start__gte=start - timedelta(seconds=3599),
                bucket_start__lt=end,
            ).values_list("bucket_start", "count", "sum", "min", "max")
            fetched = len(list(rows))
        fetch_ms = (time.perf_counter() - began) / 20 * 1000
        began = time.perf_counter()
        for _ in range(20):
            selectors.metric_series(metric=metric, start=start, end=end, buckets=buckets)
        selector_ms = (time.perf_counter() - began) / 20 * 1000
        common.emit(
            {
                "bench": "series_profile",
                "window_days": days,
                "buckets": buckets,
                "rollup_rows": fetched,
                "request_ms": round(request_ms, 1),
                "selector_ms": round(selector_ms, 1),
                "rows_fetch_ms": round(fetch_ms, 1),
            }
        )
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            get()
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        common.log(f"cProfile of 20 series requests, {days} days at {buckets} buckets:")
        common.log(out.getvalue())
        plan = rows.explain(analyze=True, buffers=True)
        common.log(f"EXPLAIN ANALYZE of the rollup query, {days} days:\n{plan}")

    # The raw path (windows of 6 hours or less), all versions and one version.
    start = end - timedelta(hours=6)
    version = ModelVersion.objects.get(system=metric.system, version=VERSIONS[1])
    for chosen in (None, version):
        began = time.perf_counter()
        for _ in range(5):
            selectors.metric_series(metric=metric, start=start, end=end, version=chosen)
        selector_ms = (time.perf_counter() - began) / 5 * 1000
        raw = MetricPoint.objects.filter(metric=metric, at__gte=start, at__lt=end)
        if chosen is not None:
            raw = raw.filter(version_key=chosen.pk)
        plan = raw.values_list("at", "value").explain(analyze=True, buffers=True)
        label = "all versions" if chosen is None else f"version {chosen.version}"
        common.emit(
            {
                "bench": "series_profile",
                "window_days": 0.25,
                "buckets": 500,
                "version": None if chosen is None else chosen.version,
                "selector_ms": round(selector_ms, 1),
            }
        )
        common.log(f"EXPLAIN ANALYZE of the raw-points query, 6 hours, {label}:\n{plan}")


# --- The queries ------------------------------------------------------------------------


def series_client(port: int, token: str, path: str, queries: list[str], deadline: float) -> dict:
    client = common.Client(port, token)
    latencies: list[float] = []
    errors = 0
    samples: list[str] = []
    first_answer = None
    for query in queries:
        if time.time() >= deadline:
            break
        began = time.perf_counter()
        try:
            status, data = client.request("GET", f"{path}?{query}")
        except Exception as exc:
            errors += 1
            samples.append(repr(exc))
            continue
        elapsed = time.perf_counter() - began
        if status != 200:
            errors += 1
            if len(samples) < 3:
                samples.append(f"{status}: {data[:200]!r}")
            continue
        latencies.append(elapsed)
        if first_answer is None:
            answer = json.loads(data)
            first_answer = {
                "resolution": answer["resolution"],
                "buckets": len(answer["buckets"]),
                "count": sum(bucket["count"] for bucket in answer["buckets"]),
            }
    client.close()
    return {"latencies": latencies, "errors": errors, "samples": samples, "first": first_answer}


def run_scenario(
    *,
    name: str,
    server: common.Server,
    seeded: common.Seeded,
    layout: Layout,
    window_days: float,
    buckets: int,
    version: int | None,
    requests: int,
    clients: int,
    rng: random.Random,
) -> dict:
    window_ms = int(window_days * DAY_MS)
    queries = []
    for _ in range(requests):
        end_ms = rng.randrange(layout.start_ms + window_ms, layout.end_ms + 1)
        query = f"start={iso_ms(end_ms - window_ms)}&end={iso_ms(end_ms)}&buckets={buckets}"
        if version is not None:
            query += f"&version={VERSIONS[version]}"
        queries.append(query)
    deadline = time.time() + 600
    path = seeded.series_path(METRIC)
    per_client = [queries[c::clients] for c in range(clients)]
    args = [(server.port, seeded.token, path, share, deadline) for share in per_client]
    began = time.time()
    if clients == 1:
        results = [series_client(*args[0])]
    else:
        results = common.run_parallel(series_client, args)
    wall = time.time() - began
    latencies = [value for result in results for value in result["latencies"]]
    first = results[0]["first"] or {}
    versions = 1 if version is not None else len(VERSIONS)
    expected = window_ms / layout.step_ms * versions
    samples = [sample for result in results for sample in result["samples"]]
    return {
        "bench": "series",
        "scenario": name,
        "window_days": window_days,
        "buckets": buckets,
        "version": VERSIONS[version] if version is not None else None,
        "clients": clients,
        "requests": len(latencies),
        "errors": sum(result["errors"] for result in results),
        "requests_per_s": round(len(latencies) / wall, 1) if wall else None,
        "p50_ms": common.ms(common.percentile(latencies, 50)),
        "p95_ms": common.ms(common.percentile(latencies, 95)),
        "p99_ms": common.ms(common.percentile(latencies, 99)),
        "max_ms": common.ms(max(latencies) if latencies else None),
        "resolution": first.get("resolution"),
        "buckets_returned": first.get("buckets"),
        # Points counted by the first answer over the points in its window: about 1.
        "count_ratio": round(first["count"] / expected, 3) if first and expected else None,
        **({"error_samples": samples[:3]} if samples else {}),
    }


SCENARIOS = [
    # name, window (days), buckets, version index, clients
    ("30d-500", 30, 500, None, 1),
    ("30d-500-version", 30, 500, 1, 1),
    ("30d-5000", 30, 5000, None, 1),
    ("365d-500", 365, 500, None, 1),
    ("6h-500-raw", 0.25, 500, None, 1),
    ("30d-500-4clients", 30, 500, None, 4),
]


def table_facts() -> dict:
    with common.pg_connect(DB) as conn:
        points = conn.execute("SELECT count(*) FROM registry_metricpoint").fetchone()[0]
        rollups = conn.execute(
            "SELECT granularity, count(*), sum(count) FROM registry_metricrollup GROUP BY 1"
        ).fetchall()
        sizes = conn.execute(
            "SELECT pg_total_relation_size('registry_metricpoint'),"
            " pg_total_relation_size('registry_metricrollup')"
        ).fetchone()
    by = {granularity: (rows, int(total)) for granularity, rows, total in rollups}
    return {
        "bench": "series_data",
        "points_in_db": points,
        "hourly_rollups": by.get("hour", (0, 0))[0],
        "daily_rollups": by.get("day", (0, 0))[0],
        "rollups_count_ok": all(total == points for _, total in by.values()),
        "points_table_mib": round(sizes[0] / 2**20),
        "rollups_table_mib": round(sizes[1] / 2**20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--load", choices=["http", "writer"], default="http")
    parser.add_argument("--requests", type=int, default=200, help="per scenario")
    parser.add_argument("--seed", type=int, default=1, help="of the random window ends")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database after")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then profile series requests in one Django process (diagnostic, to stderr)",
    )
    parser.add_argument("inner_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        mode, spec = args.inner_args[0], json.loads(args.inner_args[1])
        (_load_inner if mode == "load" else _profile_inner)(spec)
        return
    if not 10_000 <= args.points <= 50_000_000:
        parser.error("--points: 10,000 to 50,000,000")
    if not 1 <= args.requests <= 10_000:
        parser.error("--requests: 1 to 10,000")

    common.emit(common.machine())
    common.log(f"creating database {DB} and migrating")
    common.create_database(DB)
    try:
        common.migrate(DB)
        seeded = common.seed(DB, metrics=[METRIC], versions=VERSIONS)
        now_ms = int(time.time() * 1000)
        layout = Layout(args.points, now_ms)
        with common.web_server(DB) as server:
            common.log(f"loading {args.points:,} points through the {args.load} path")
            if args.load == "http":
                loaded = load_http(server, seeded, layout, args.points, now_ms)
            else:
                loaded = load_writer(layout, args.points, now_ms)
            facts = {"span_days": SPAN_DAYS, "step_ms": layout.step_ms}
            common.emit({"bench": "series_load", **facts, **loaded})
            common.log("VACUUM ANALYZE of the points and the rollups")
            began = time.time()
            with common.pg_connect(DB) as conn:
                conn.execute("VACUUM (ANALYZE) registry_metricpoint")
                conn.execute("VACUUM (ANALYZE) registry_metricrollup")
            common.log(f"vacuum took {time.time() - began:.0f} s")
            common.emit(table_facts())
            rng = random.Random(args.seed)
            for name, window, buckets, version, clients in SCENARIOS:
                common.log(f"series: {name}, {args.requests} requests")
                common.emit(
                    run_scenario(
                        name=name,
                        server=server,
                        seeded=seeded,
                        layout=layout,
                        window_days=window,
                        buckets=buckets,
                        version=version,
                        requests=args.requests,
                        clients=clients,
                        rng=rng,
                    )
                )
        if args.profile:
            spec = {"points": args.points, "now_ms": now_ms, "token": seeded.token}
            common.run_django(Path(__file__), ["profile", json.dumps(spec)], db=DB, capture=False)
    finally:
        if not args.keep_db:
            common.drop_database(DB)


if __name__ == "__main__":
    main()
