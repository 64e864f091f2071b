"""The deployment-status endpoint that traffic routers poll, through the real HTTP stack.

    .venv/bin/python bench/deployment_status.py

Against a throw-away database (`portal_bench_status`, dropped first): migrate,
seed one system and its pipeline token, start `manage.py serve web` (gunicorn,
2 workers, Redis as the cache), then time `GET /api/v1/systems/{slug}/rollout/`
from one keep-alive client: `--requests` times (default 2,000) with a fresh
answer, and as many with `If-None-Match` (304). Target (issue 6): p95 under 5 ms.
One JSON line per figure on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

DB = "portal_bench_status"


def timed_requests(port: int, path: str, token: str, count: int, *, etag: str | None) -> dict:
    connection = http.client.HTTPConnection(common.HOST, port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    if etag:
        headers["If-None-Match"] = etag
    samples, statuses, last_etag = [], {}, None
    for _ in range(count):
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        samples.append(time.perf_counter() - started)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        last_etag = response.getheader("ETag")
    connection.close()
    return {
        "requests": count,
        "statuses": statuses,
        "p50_ms": common.ms(common.percentile(samples, 50)),
        "p95_ms": common.ms(common.percentile(samples, 95)),
        "p99_ms": common.ms(common.percentile(samples, 99)),
        "etag": last_etag,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    common.emit(common.machine())
    common.drop_database(DB)
    common.create_database(DB)
    try:
        common.migrate(DB)
        seeded = common.seed(DB, metrics=["output_quality"], versions=["1.0.0"])
        path = f"/api/v1/systems/{seeded.slug}/rollout/"
        with common.web_server(DB) as server:
            timed_requests(server.port, path, seeded.token, 50, etag=None)  # warm up
            fresh = timed_requests(server.port, path, seeded.token, args.requests, etag=None)
            common.emit({"bench": "deployment_status", "answer": "200", **fresh, "target_ms": 5})
            cached = timed_requests(
                server.port, path, seeded.token, args.requests, etag=fresh["etag"]
            )
            common.emit({"bench": "deployment_status", "answer": "304", **cached, "target_ms": 5})
    finally:
        common.drop_database(DB)


if __name__ == "__main__":
    main()
