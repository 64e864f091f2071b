"""Metric ingestion through the real HTTP stack: gunicorn (2 sync workers) on PostgreSQL.

    .venv/bin/python bench/ingest.py                 # 20 s per batch size
    .venv/bin/python bench/ingest.py --duration 3    # a quick trial

What it does, all against a throw-away database (`portal_bench`, dropped first):

1. migrate, seed one system with 10 metrics, one model version and a pipeline token;
2. start `manage.py serve web` (gunicorn, WEB_WORKERS=2) on a free port;
3. for each batch size (5000, 1000, 100, 1 points) run 4 client processes, each
   POSTing batches back to back over its own connection for `--duration` seconds.
   Every point is new: client c writes its own 7-day slice of the last 30 days,
   one second apart, 10 metrics per second (a batch of 5000 is 500 s of 10 metrics);
4. the duplicate path: the same clients resend batches they already sent;
5. check that the points in the database equal the sum of "accepted" answers,
   and that the hourly rollups count exactly those points;
6. stop the server (SIGTERM to its process group, SIGKILL after 15 s), drop the database.

One JSON line per figure on stdout; progress on stderr. CPU seconds of the web
workers and of PostgreSQL are recorded per phase, to show where the time goes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

N_METRICS = 10
CLIENT_SLICE_S = 7 * 86400  # each client writes its own 7 days
MAX_REQUESTS_PER_CLIENT = 1_000_000  # a bound on every loop, whatever the duration
VERSION = "bench-1.0"


def metric_keys() -> list[str]:
    return [f"bench_metric_{n}" for n in range(N_METRICS)]


def client_base(client: int, now: float) -> int:
    """The first second of client's slice: its 7 days within the last 30, day-aligned."""
    first_day = int(now // 86400) - 30
    return (first_day + client * 7) * 86400


def capacity() -> int:
    return CLIENT_SLICE_S * N_METRICS


def make_body(base: int, first: int, count: int, metrics: list[str]) -> bytes:
    """Points first .. first+count-1 of a client's sequence: index i is metric i % 10 at
    second base + i // 10 (so a point's natural key is unique to its index)."""
    n = len(metrics)
    parts = []
    last_second = None
    at = ""
    for i in range(first, first + count):
        second = base + i // n
        if second != last_second:
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
            last_second = second
        value = (i * 7919 % 10007) / 10007
        parts.append(f'{{"metric":"{metrics[i % n]}","value":{value:.5f},"at":"{at}"}}')
    return (f'{{"model_version":"{VERSION}","points":[' + ",".join(parts) + "]}").encode()


def client_run(
    port: int,
    token: str,
    path: str,
    base: int,
    first: int,
    batch: int,
    start_at: float,
    duration: float,
    replay_upto: int | None,
) -> dict:
    """One client: POST batches back to back until the deadline.

    New points continue from index `first`; with `replay_upto` (the duplicate
    path) batches restart at 0 and wrap before `replay_upto`, so all were sent before.
    """
    metrics = metric_keys()
    client = common.Client(port, token)
    latencies: list[float] = []
    accepted = duplicates = errors = points_ok = 0
    error_samples: list[str] = []
    index = 0 if replay_upto is not None else first
    cpu_start = time.process_time()
    while time.time() < start_at:  # a common start, bounded by the caller's small offset
        time.sleep(0.005)
    deadline = start_at + duration
    for _request in range(MAX_REQUESTS_PER_CLIENT):
        if time.time() >= deadline:
            break
        if replay_upto is not None and index + batch > replay_upto:
            if replay_upto < batch:  # too little was sent to resend a whole batch
                error_samples.append("nothing to resend")
                break
            index = 0
        if replay_upto is None and index + batch > capacity():
            error_samples.append("client slice exhausted")
            break
        body = make_body(base, index, batch, metrics)
        began = time.perf_counter()
        try:
            status, data = client.request("POST", path, body)
        except Exception as exc:  # counted, not fatal: the run goes on
            errors += 1
            if len(error_samples) < 3:
                error_samples.append(repr(exc))
            time.sleep(0.05)
            continue
        elapsed = time.perf_counter() - began
        if status == 201:
            answer = json.loads(data)
            accepted += answer["accepted"]
            duplicates += answer["duplicates"]
            points_ok += batch
            latencies.append(elapsed)
            index += batch
        else:
            errors += 1
            if len(error_samples) < 3:
                error_samples.append(f"{status}: {data[:200]!r}")
    end = time.time()
    client.close()
    return {
        "latencies": latencies,
        "accepted": accepted,
        "duplicates": duplicates,
        "points_ok": points_ok,
        "errors": errors,
        "error_samples": error_samples,
        "next": index,
        "end": end,
        "cpu": time.process_time() - cpu_start,
    }


def _per_point(seconds: float, points: int) -> float | None:
    return round(seconds / points * 1e6, 1) if points else None


def run_phase(
    *,
    db: str,
    server: common.Server,
    seeded: common.Seeded,
    bases: list[int],
    nexts: list[int],
    batch: int,
    duration: float,
    clients: int,
    replay_upto: list[int] | None = None,
) -> dict:
    start_at = time.time() + 1.0  # time for the pool's processes to fork
    args = [
        (
            server.port,
            seeded.token,
            seeded.ingest_path(),
            bases[c],
            nexts[c],
            batch,
            start_at,
            duration,
            None if replay_upto is None else replay_upto[c],
        )
        for c in range(clients)
    ]
    meter = common.CpuMeter(server.process.pid, db)
    results = common.run_parallel(client_run, args, during=meter)
    client_cpu = sum(result["cpu"] for result in results)
    cpu = meter.figures(client_cpu_s=client_cpu)
    wall = max(result["end"] for result in results) - start_at
    latencies = [value for result in results for value in result["latencies"]]
    points_ok = sum(result["points_ok"] for result in results)
    if replay_upto is None:
        for c, result in enumerate(results):
            nexts[c] = result["next"]
    samples = [sample for result in results for sample in result["error_samples"]]
    return {
        "wall_s": round(wall, 2),
        "points": points_ok,
        "points_per_s": round(points_ok / wall) if wall > 0 else None,
        "requests": len(latencies) + sum(result["errors"] for result in results),
        "p50_ms": common.ms(common.percentile(latencies, 50)),
        "p95_ms": common.ms(common.percentile(latencies, 95)),
        "p99_ms": common.ms(common.percentile(latencies, 99)),
        "max_ms": common.ms(max(latencies) if latencies else None),
        "errors": sum(result["errors"] for result in results),
        "accepted": sum(result["accepted"] for result in results),
        "duplicates": sum(result["duplicates"] for result in results),
        "client_cpu_s": round(client_cpu, 2),
        **cpu,
        "web_cpu_us_per_point": _per_point(cpu["web_cpu_s"], points_ok),
        "postgres_cpu_us_per_point": _per_point(cpu["postgres_cpu_s"], points_ok),
        **({"error_samples": samples[:3]} if samples else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per batch size")
    parser.add_argument(
        "--batches",
        default="5000,1000,100,1",
        help="batch sizes, comma-separated (default: 5000,1000,100,1)",
    )
    parser.add_argument("--duplicate-batch", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--db", default=common.DEFAULT_DB)
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database after")
    args = parser.parse_args()
    batches = [int(size) for size in args.batches.split(",") if size.strip()]
    if not 1 <= args.clients <= 4:
        parser.error("--clients: 1 to 4 (each has its own 7-day slice of the last 30 days)")
    if not 0 < args.duration <= 600:
        parser.error("--duration: more than 0, at most 600 seconds")

    common.emit(common.machine())
    common.log(f"creating database {args.db} and migrating")
    common.create_database(args.db)
    try:
        common.migrate(args.db)
        seeded = common.seed(args.db, metrics=metric_keys(), versions=[VERSION])
        now = time.time()
        bases = [client_base(c, now) for c in range(args.clients)]
        nexts = [0] * args.clients
        total_accepted = 0
        with common.web_server(args.db, workers=args.workers) as server:
            common.log("warm-up: 3 s of 1000-point batches (not reported)")
            warm = run_phase(
                db=args.db,
                server=server,
                seeded=seeded,
                bases=bases,
                nexts=nexts,
                batch=1000,
                duration=3,
                clients=args.clients,
            )
            total_accepted += warm["accepted"]
            for batch in batches:
                common.log(f"{batch}-point batches, {args.clients} clients, {args.duration} s")
                figures = run_phase(
                    db=args.db,
                    server=server,
                    seeded=seeded,
                    bases=bases,
                    nexts=nexts,
                    batch=batch,
                    duration=args.duration,
                    clients=args.clients,
                )
                total_accepted += figures["accepted"]
                common.emit(
                    {
                        "bench": "ingest",
                        "batch": batch,
                        "clients": args.clients,
                        "workers": args.workers,
                        "duplicates_path": False,
                        **figures,
                    }
                )
            common.log(f"duplicate path: resending {args.duplicate_batch}-point batches")
            figures = run_phase(
                db=args.db,
                server=server,
                seeded=seeded,
                bases=bases,
                nexts=[0] * args.clients,
                batch=args.duplicate_batch,
                duration=args.duration,
                clients=args.clients,
                replay_upto=list(nexts),
            )
            total_accepted += figures["accepted"]
            common.emit(
                {
                    "bench": "ingest",
                    "batch": args.duplicate_batch,
                    "clients": args.clients,
                    "workers": args.workers,
                    "duplicates_path": True,
                    **figures,
                }
            )
        with common.pg_connect(args.db) as conn:
            stored = conn.execute("SELECT count(*) FROM registry_metricpoint").fetchone()[0]
            hourly = conn.execute(
                "SELECT coalesce(sum(count), 0) FROM registry_metricrollup"
                " WHERE granularity = 'hour'"
            ).fetchone()[0]
            daily = conn.execute(
                "SELECT coalesce(sum(count), 0) FROM registry_metricrollup"
                " WHERE granularity = 'day'"
            ).fetchone()[0]
        common.emit(
            {
                "bench": "ingest_check",
                "accepted_total": total_accepted,
                "points_in_db": stored,
                "hourly_rollup_count": int(hourly),
                "daily_rollup_count": int(daily),
                "ok": stored == total_accepted == int(hourly) == int(daily),
            }
        )
    finally:
        if not args.keep_db:
            common.drop_database(args.db)


if __name__ == "__main__":
    main()
