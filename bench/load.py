"""Load: pipelines push metrics while an operations director approves a cohort in the browser.

    .venv/bin/python bench/load.py                            # 4 clients for 60 s (issue 9)
    .venv/bin/python bench/load.py --clients 2 --duration 5   # a quick trial (what CI runs)

What it does, against a throw-away database (`portal_bench_load`, dropped first
and at the end) and a Redis database the run may flush (`--redis-url`):

1. flush the Redis database, so that no message of an earlier run is consumed;
2. migrate, load the demo (`load_demo`: the card fraud screener's rollout of
   2.4.0 waits at 25% for a director) and create one pipeline token per demo
   system through `registry.services`, in one Django process, while
   `manage.py collectstatic` runs beside it;
3. start the production stack as docker compose does (`manage.py serve web`,
   `serve worker`, `serve beat`: gunicorn with 2 sync workers, a Celery worker
   and Celery beat), with DEBUG=0, on PostgreSQL and Redis;
4. run `--clients` processes, each POSTing `--batch`-point batches of the systems'
   declared metrics at current timestamps to `/api/v1/systems/{slug}/metrics/`
   back to back for `--duration` seconds, every system and version in turn;
5. meanwhile (from `--approve-after` seconds in) Debian's chromium (Playwright)
   logs in as director, opens the rollout, clicks "Approve the 25% cohort…",
   confirms and sees "Cohort approved."; on a slow machine the clients go on
   pushing past `--duration` until it has, so that the approval is always made
   under load (`wall_s` is then longer than the duration);
6. wait until the worker has drained every queue, then check.

Checks (exit status 1 when one fails): no client error (every answer 201);
no 5xx in the web server's access log and no error in its log; the approval
was seen in the browser and is in the database; the queues drained; the points
added to the database equal the sum of the "accepted" answers; no error in the
worker's or beat's log (a failed task, a traceback).

DEBUG is off, as in production: errors are not rendered, static files are the
hashed, compressed copies of `collectstatic`, and SQL is not recorded. The
only difference from `portal.settings` is STATIC_ROOT, moved to the run's
temporary directory (a settings module written there) so that the run leaves
nothing in the working tree. HTTPS=0: the bench talks plain HTTP to 127.0.0.1.

One JSON line per figure on stdout; progress and a summary on stderr.
Processes are stopped by process group (SIGTERM, SIGKILL after 15 s) and the
database is dropped, also when a step fails.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

DB = "portal_bench_load"
REDIS_URL = f"redis://{common.HOST}:6379/13"  # the benches' database (bench/common.py)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
QUEUES = ("ingest", "gates", "notify", "default")  # portal/celery.py
MAX_REQUESTS_PER_CLIENT = 1_000_000  # a bound on every loop, whatever the duration
SETTINGS_MODULE = "bench_load_settings"
SETTINGS_TEXT = '''"""portal.settings with STATIC_ROOT in the load bench's temporary directory."""

import os

from portal.settings import *  # noqa: F403

STATIC_ROOT = os.environ["BENCH_STATIC_ROOT"]
'''


# --- The environment and the processes ---------------------------------------------------


def load_env(db: str, redis_url: str, tmp: Path, workers: int) -> dict[str, str]:
    """Every Django process of the run: DEBUG=0, the bench database and Redis database."""
    env = common.bench_env(db, REDIS_URL=redis_url)
    # The caller's environment (a test run, a shell) must not pick the broker or limits.
    for name in (
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
        "API_TOKEN_RATE_LIMIT_PER_MINUTE",  # the production default, not the benches' 10^8
        "WEB_BIND",
    ):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
        PYTHONPATH=os.pathsep.join([str(tmp), str(common.ROOT)]),
        BENCH_STATIC_ROOT=str(tmp / "static"),
        HTTPS="0",
        WEB_WORKERS=str(workers),
        SIMULATE="0",
        VAR_DIR=str(tmp / "var"),
    )
    return env


def run(args: list[str], env: dict[str, str], what: str, *, timeout: float = 900) -> str:
    """Run a command of the portal to completion; its stdout, or RuntimeError with its output."""
    began = time.monotonic()
    done = subprocess.run(
        args,
        cwd=common.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    common.log(f"{what}: {time.monotonic() - began:.1f} s")
    return done.stdout


def prepare(env: dict[str, str]) -> dict:
    """The database (see _setup_inner), with collectstatic beside it (it needs no database)."""
    seeded: dict = {}
    failures: list[BaseException] = []

    def database() -> None:
        try:
            out = run([common.PYTHON, str(Path(__file__).resolve()), "--inner"], env, "setup")
            seeded.update(json.loads(out.strip().splitlines()[-1]))
        except BaseException as exc:
            failures.append(exc)

    def static() -> None:
        try:
            run([common.PYTHON, "manage.py", "collectstatic", "--noinput"], env, "collectstatic")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=database), threading.Thread(target=static)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    common.log(f"migrate {seeded['migrate_s']} s, load_demo {seeded['load_demo_s']} s")
    return seeded


def start(name: str, env: dict[str, str], tmp: Path) -> tuple[subprocess.Popen, Path]:
    """`manage.py serve <name>` in its own session, its output in a log file."""
    log_path = tmp / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [common.PYTHON, "manage.py", "serve", name],
            cwd=common.ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )
    return process, log_path


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        if predicate():
            return
        time.sleep(0.25)
    raise RuntimeError(f"{what}: not ready in {timeout:.0f} s")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{common.HOST}:{port}/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def log_has(path: Path, pattern: str) -> bool:
    return re.search(pattern, path.read_text(errors="replace")) is not None


# --- The database: migrate, the demo, tokens through the services ---------------------------


def _setup_inner() -> None:
    """Migrate, load the demo, and print the demo systems with a new pipeline token each.

    One Django process for the three steps (`manage.py migrate` and `manage.py
    load_demo` through call_command), which saves two start-ups of Django.
    """
    common.django_setup()
    from django.core.management import call_command

    began = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    migrated = time.monotonic()
    # DEBUG is off: the demo's published passwords need the explicit flag.
    call_command("load_demo", allow_production=True, stdout=io.StringIO())
    loaded = time.monotonic()

    from portal.demo import DEMO_METRICS
    from registry import services
    from registry.models import AISystem, MetricSpec, ModelVersion
    from rollout.choices import RolloutState
    from rollout.models import Rollout

    typical = {metric[0]: (metric[-2], metric[-1]) for metric in DEMO_METRICS}
    systems = []
    for system in AISystem.objects.select_related("deployed_version").order_by("slug"):
        specs = list(MetricSpec.objects.filter(system=system).order_by("key"))
        if not specs:
            continue
        # What a pipeline reports on: the deployed version and a rolling-out candidate.
        versions = [system.deployed_version.version] if system.deployed_version else []
        running = Rollout.objects.filter(
            system=system, state=RolloutState.RUNNING, is_rehearsal=False
        ).select_related("candidate")
        versions += [rollout.candidate.version for rollout in running]
        if not versions:
            latest = ModelVersion.objects.filter(system=system).order_by("-pk").first()
            versions = [latest.version] if latest else []
        if not versions:
            continue
        _token, secret = services.api_token_create(by=None, name="bench-load", system=system)
        metrics = []
        for spec in specs:
            level, noise = typical.get(spec.key, (spec.warning, abs(spec.warning) * 0.01))
            # Healthy values only: a breach would open escalations and could fail the
            # checkpoint the director is about to approve.
            metrics.append({"key": spec.key, "level": level, "noise": noise})
        systems.append(
            {"slug": system.slug, "token": secret, "versions": versions, "metrics": metrics}
        )
    rollout = Rollout.objects.get(system__slug="card-fraud-screener", is_rehearsal=False)
    print(
        json.dumps(
            {
                "systems": systems,
                "rollout_id": rollout.pk,
                "migrate_s": round(migrated - began, 1),
                "load_demo_s": round(loaded - migrated, 1),
            }
        )
    )


# --- The clients ----------------------------------------------------------------------------


def _iso(micros: int) -> str:
    seconds, rest = divmod(micros, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest:06d}Z"


def make_batch(system: dict, version: str, batch: int, first_ms: int, client: int, rng) -> bytes:
    """`batch` points of the system's metrics in turn, one millisecond per round of metrics.

    The microseconds of every timestamp are the client's number, so no two clients
    ever send the same (metric, version, at): every point is new.
    """
    metrics = system["metrics"]
    points = []
    for i in range(batch):
        metric = metrics[i % len(metrics)]
        spread = max(-2.0, min(2.0, rng.gauss(0, 1)))
        points.append(
            {
                "metric": metric["key"],
                "value": round(metric["level"] + metric["noise"] * spread, 4),
                "at": _iso((first_ms + i // len(metrics)) * 1000 + client),
            }
        )
    return json.dumps({"model_version": version, "points": points}).encode()


# Set by the browser when the director's flow has ended; inherited by the forked clients.
_approval_done = None
LONGEST_OVERRUN_S = 900  # how long the clients wait past --duration for the approval


def _client_init(event) -> None:
    # An Event reaches a pool's processes only through the initializer (it cannot be pickled).
    global _approval_done
    _approval_done = event


def client_run(
    client: int, port: int, systems: list[dict], batch: int, start_at: float, duration: float
) -> dict:
    """One pipeline client: POST batches back to back, each system in turn, for `duration`
    seconds and until the director's flow has ended (so that it always runs under load)."""
    rng = random.Random(client)
    connections = [common.Client(port, system["token"]) for system in systems]
    latencies: list[float] = []
    accepted = duplicates = errors = 0
    statuses: dict[str, int] = {}
    samples: list[str] = []
    next_ms = 0
    cpu_start = time.process_time()
    while time.time() < start_at:  # a common start; the caller's offset is small
        time.sleep(0.005)
    deadline = start_at + duration
    for request in range(MAX_REQUESTS_PER_CLIENT):
        now = time.time()
        if now >= deadline and (
            _approval_done is None or _approval_done.is_set() or now >= deadline + LONGEST_OVERRUN_S
        ):
            break
        which = (client + request) % len(systems)
        system = systems[which]
        version = system["versions"][(request // len(systems)) % len(system["versions"])]
        first_ms = max(int(time.time() * 1000), next_ms)
        next_ms = first_ms + -(-batch // len(system["metrics"]))
        body = make_batch(system, version, batch, first_ms, client, rng)
        began = time.perf_counter()
        try:
            status, data = connections[which].request(
                "POST", f"/api/v1/systems/{system['slug']}/metrics/", body
            )
        except Exception as exc:  # counted as an error; the run goes on
            errors += 1
            statuses["exception"] = statuses.get("exception", 0) + 1
            if len(samples) < 3:
                samples.append(repr(exc))
            time.sleep(0.05)
            continue
        elapsed = time.perf_counter() - began
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 201:
            answer = json.loads(data)
            accepted += answer["accepted"]
            duplicates += answer["duplicates"]
            latencies.append(elapsed)
        else:
            errors += 1
            if len(samples) < 3:
                samples.append(f"{status}: {data[:200]!r}")
    end = time.time()
    for connection in connections:
        connection.close()
    return {
        "latencies": latencies,
        "accepted": accepted,
        "duplicates": duplicates,
        "errors": errors,
        "statuses": statuses,
        "samples": samples,
        "end": end,
        "cpu": time.process_time() - cpu_start,
    }


# --- The director, in the browser -----------------------------------------------------------


def approve_in_browser(base_url: str, rollout_id: int, *, at: float) -> dict:
    """Log in as director and approve the 25% cohort, as tests/e2e/test_rollout.py does.

    Returns the timings (seconds) of each step, or the error that stopped it.
    """
    from playwright.sync_api import expect, sync_playwright

    while time.time() < at:
        time.sleep(0.05)
    result: dict = {"started_at": time.time(), "ok": False}
    page_errors: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            result["chromium"] = browser.version
            try:
                context = browser.new_context(
                    viewport={"width": 1280, "height": 900}, locale="en-GB"
                )
                page = context.new_page()
                page.set_default_timeout(60_000)
                expect.set_options(timeout=60_000)
                page.on("pageerror", lambda error: page_errors.append(str(error)))
                began = time.perf_counter()
                page.goto(f"{base_url}/login/")
                page.get_by_label("Username").fill("director")
                page.get_by_label("Password").fill("demo-director")
                page.get_by_role("button", name="Log in").click()
                page.wait_for_url(f"{base_url}/")
                logged_in = time.perf_counter()
                page.goto(f"{base_url}/rollouts/{rollout_id}/")
                page.get_by_role(
                    "heading", name="Rollout of 2.4.0 on Card fraud screener"
                ).wait_for()
                expect(page.locator("[data-cohort='25']")).to_have_attribute(
                    "data-state", "awaiting_approval"
                )
                page.locator("[data-rollout-chart] svg").first.wait_for()
                shown = time.perf_counter()
                page.get_by_role("link", name="Approve the 25% cohort…").click()
                page.get_by_role(
                    "heading", name="Approve the 25% cohort of 2.4.0 on Card fraud screener?"
                ).wait_for()
                confirming = time.perf_counter()
                page.get_by_role("button", name="Approve this cohort").click()
                page.get_by_text("Cohort approved.").wait_for()
                approved = time.perf_counter()
                expect(page.locator("[data-cohort='25']")).to_have_attribute(
                    "data-state", "approved"
                )
                expect(page.locator("[data-cohort='50']")).to_have_attribute(
                    "data-state", "observing"
                )
                result.update(
                    login_s=round(logged_in - began, 3),
                    rollout_page_s=round(shown - logged_in, 3),
                    confirm_page_s=round(confirming - shown, 3),
                    approve_s=round(approved - confirming, 3),
                    flow_s=round(approved - began, 3),
                    ok=not page_errors,
                )
            finally:
                browser.close()
    except Exception as exc:  # reported as a failed check, with what stopped it
        result["error"] = repr(exc)[:500]
    result["ended_at"] = time.time()
    if page_errors:
        result["page_errors"] = page_errors[:3]
    return result


# --- Measuring ------------------------------------------------------------------------------


class GroupCpu:
    """CPU seconds over a block, per process group and for the database's PostgreSQL backends.

    Sampled every 0.5 s, keeping each process's last value, so that a process that
    ends inside the block still counts (as common.CpuMeter does for one server).
    """

    def __init__(self, groups: dict[str, int], db: str) -> None:
        self.groups = groups
        self.db = db
        self.last: dict[str, dict[int, float]] = {name: {} for name in [*groups, "postgres"]}

    def _snapshot(self) -> tuple[dict[str, dict[int, float]], float, float]:
        by_group = {pgid: name for name, pgid in self.groups.items()}
        seen: dict[str, dict[int, float]] = {name: {} for name in self.last}
        for pid, cmdline, pgrp, own, children in common._proc_cpu():
            if pgrp in by_group:
                seen[by_group[pgrp]][pid] = own + children
            elif cmdline.startswith("postgres:") and (
                f" {self.db} " in cmdline or any(name in cmdline for name in common._PG_AUX)
            ):
                seen["postgres"][pid] = own  # this database's backends and the shared helpers
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = ticks[3] + ticks[4]
        return seen, (sum(ticks) - idle) / common._TICK, sum(ticks) / common._TICK

    def __enter__(self) -> GroupCpu:
        self.first, self.busy0, self.total0 = self._snapshot()
        self.busy1, self.total1 = self.busy0, self.total0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        seen, self.busy1, self.total1 = self._snapshot()
        for name, values in seen.items():
            self.last[name].update(values)

    def _run(self) -> None:
        for _tick in range(10_000_000):  # bounded; ends with the block
            if self._stop.wait(0.5):
                break
            self._sample()

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._sample()

    def figures(self) -> dict:
        spent = {
            name: round(
                sum(value - self.first[name].get(pid, 0.0) for pid, value in values.items()), 2
            )
            for name, values in self.last.items()
        }
        busy = self.busy1 - self.busy0
        total = self.total1 - self.total0
        return {
            **{f"{name}_cpu_s": value for name, value in spent.items()},
            # Everything else the machine did meanwhile: other people's work (noise).
            "other_cpu_s": round(max(0.0, busy - sum(spent.values())), 2),
            "machine_busy": round(busy / total, 3) if total else None,
            "cpus": os.cpu_count(),
        }


def queued(redis_client) -> int:
    """Messages waiting in the portal's queues, plus those delivered and not yet acknowledged
    (acks_late: a task being run stays in kombu's "unacked" hash until it ends)."""
    waiting = 0
    for queue in QUEUES:
        # kombu's Redis transport keeps one list per priority step: "q" and "q\x06\x16<n>".
        for key in redis_client.scan_iter(match=f"{queue}*", count=1000):
            if key == queue.encode() or key.startswith(queue.encode() + b"\x06\x16"):
                waiting += redis_client.llen(key)
    return waiting + redis_client.hlen("unacked")


def drain(redis_client, timeout: float) -> float | None:
    """Seconds until the queues were empty twice in a row, a second apart; None on timeout."""
    began = time.monotonic()
    empty_since = None
    while time.monotonic() - began < timeout:
        if queued(redis_client) == 0:
            if empty_since is not None and time.monotonic() - empty_since >= 1:
                return round(empty_since - began, 1)
            empty_since = empty_since or time.monotonic()
        else:
            empty_since = None
        time.sleep(0.25)
    return None


ACCESS_LINE = re.compile(r'"(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) [^"]*" (\d{3}) ')


def access_statuses(log_path: Path) -> dict[str, int]:
    """Responses by status class in gunicorn's access log ("2xx", "3xx", ...)."""
    counts: dict[str, int] = {}
    for match in ACCESS_LINE.finditer(log_path.read_text(errors="replace")):
        key = match.group(1)[0] + "xx"
        counts[key] = counts.get(key, 0) + 1
    return counts


def access_samples(log_path: Path, status_class: str) -> list[str]:
    """The first access-log lines of a status class ("4xx"), to tell what they were."""
    lines = log_path.read_text(errors="replace").splitlines()
    return [
        line
        for line in lines
        if (match := ACCESS_LINE.search(line)) and match.group(1)[0] == status_class[0]
    ][:3]


def error_lines(log_path: Path) -> list[str]:
    """Lines of a log that report an error: a failed task, a traceback, a worker timeout."""
    return [
        line
        for line in log_path.read_text(errors="replace").splitlines()
        if re.search(
            r"ERROR/|CRITICAL/|\[ERROR\]|\[CRITICAL\]|raised unexpected|Traceback"
            r"|Internal Server Error",
            line,
        )
    ]


TASK_DONE = re.compile(r"Task ([\w.]+)\[[^\]]*\] succeeded in ([\d.]+)s")


def tasks_run(log_path: Path) -> dict[str, dict]:
    """Tasks the worker finished, by name: how many, and their mean and slowest seconds."""
    runs: dict[str, list[float]] = {}
    for name, seconds in TASK_DONE.findall(log_path.read_text(errors="replace")):
        runs.setdefault(name, []).append(float(seconds))
    return {
        name: {
            "n": len(times),
            "mean_s": round(sum(times) / len(times), 3),
            "max_s": round(max(times), 3),
        }
        for name, times in sorted(runs.items(), key=lambda item: -len(item[1]))
    }


def database_counts(db: str, rollout_id: int) -> dict:
    with common.pg_connect(db) as conn:
        points = conn.execute("SELECT count(*) FROM registry_metricpoint").fetchone()[0]
        step = conn.execute(
            "SELECT state, (SELECT count(*) FROM rollout_cohortapproval a"
            " JOIN auth_user u ON u.id = a.approver_id"
            " WHERE a.step_id = s.id AND u.username = 'director')"
            " FROM rollout_cohortstep s WHERE s.rollout_id = %s AND s.percent = 25",
            [rollout_id],
        ).fetchone()
    return {"points": points, "step_25_state": step[0], "director_approvals": step[1]}


def redis_version(client) -> str | None:
    with suppress(Exception):
        return client.info("server")["redis_version"]
    return None


# --- The run --------------------------------------------------------------------------------


def load_phase(
    *, port: int, seeded: dict, args, groups: dict[str, int]
) -> tuple[list[dict], dict, dict]:
    """The clients (forked first), then the browser beside them; their results and the CPU."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    start_at = time.time() + 1.0  # time for the pool's processes to start waiting
    client_args = [
        (c, port, seeded["systems"], args.batch, start_at, args.duration)
        for c in range(args.clients)
    ]
    done = context.Event()
    # The pool forks now, before this process starts the browser's and the meter's threads.
    with context.Pool(args.clients, initializer=_client_init, initargs=(done,)) as pool:
        pending = pool.starmap_async(client_run, client_args)
        with GroupCpu({**groups, "bench": os.getpgrp()}, args.db) as meter:
            approve_at = start_at + min(args.approve_after, args.duration / 4)
            try:
                approval = approve_in_browser(
                    f"http://{common.HOST}:{port}", seeded["rollout_id"], at=approve_at
                )
            finally:
                done.set()
            results = pending.get(timeout=args.duration + LONGEST_OVERRUN_S + 300)
        approval["offset_s"] = round(approval["started_at"] - start_at, 2)
        approval["under_load"] = approval["ended_at"] <= min(r["end"] for r in results)
    return results, approval, meter.figures() | {"start_at": start_at}


def summarise(results: list[dict], start_at: float, args) -> dict:
    wall = max(result["end"] for result in results) - start_at
    latencies = [value for result in results for value in result["latencies"]]
    statuses: dict[str, int] = {}
    for result in results:
        for status, count in result["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    samples = [sample for result in results for sample in result["samples"]]
    return {
        "bench": "load",
        "clients": args.clients,
        "duration_s": args.duration,
        "batch": args.batch,
        "workers": args.workers,
        "wall_s": round(wall, 2),
        "pushes": len(latencies),
        "pushes_per_s": round(len(latencies) / wall, 1),
        "points_per_s": round(len(latencies) * args.batch / wall),
        "p50_ms": common.ms(common.percentile(latencies, 50)),
        "p95_ms": common.ms(common.percentile(latencies, 95)),
        "p99_ms": common.ms(common.percentile(latencies, 99)),
        "max_ms": common.ms(max(latencies) if latencies else None),
        "errors": sum(result["errors"] for result in results),
        "statuses": statuses,
        "accepted": sum(result["accepted"] for result in results),
        "duplicates": sum(result["duplicates"] for result in results),
        "client_cpu_s": round(sum(result["cpu"] for result in results), 2),
        **({"error_samples": samples[:3]} if samples else {}),
    }


def start_stack(
    env: dict[str, str], tmp: Path, processes: dict[str, subprocess.Popen], logs: dict[str, Path]
) -> int:
    """Web, worker and beat, as docker compose starts them; the web server's port once all
    three are up. `processes` is filled as they start, so that the caller can stop them."""
    port = common.free_port()
    env["WEB_BIND"] = f"{common.HOST}:{port}"
    for name in ("web", "worker", "beat"):
        processes[name], logs[name] = start(name, env, tmp)
    wait_for(lambda: healthy(port), 120, "web", processes["web"])
    wait_for(lambda: log_has(logs["worker"], r" ready\."), 120, "worker", processes["worker"])
    wait_for(lambda: log_has(logs["beat"], r"beat: Starting"), 120, "beat", processes["beat"])
    return port


def verify(
    *, figures: dict, approval: dict, before: dict, after: dict, logs: dict, drain_s
) -> dict:
    """The checks of the run, with the evidence of any that failed."""
    statuses = access_statuses(logs["web"])
    task_failures = error_lines(logs["worker"]) + error_lines(logs["beat"])
    server_errors = error_lines(logs["web"])
    stored = after["points"] - before["points"]
    checks = {
        "no_client_error": figures["errors"] == 0,
        "no_5xx": statuses.get("5xx", 0) == 0,
        "no_server_error_logged": not server_errors,
        "approved_in_browser": approval["ok"],
        "approved_in_database": after["step_25_state"] == "approved"
        and after["director_approvals"] == 1,
        "drained": drain_s is not None,
        "points_equal_accepted": stored == figures["accepted"],
        "no_failed_task": not task_failures,
    }
    return {
        "bench": "load_check",
        "points_before": before["points"],
        "points_after": after["points"],
        "points_stored": stored,
        "accepted": figures["accepted"],
        "access_log": statuses,
        **{
            f"access_{kind}_samples": access_samples(logs["web"], kind)
            for kind in ("4xx", "5xx")
            if statuses.get(kind)
        },
        "web_errors": len(server_errors),
        **({"web_error_samples": server_errors[:3]} if server_errors else {}),
        "drain_s": drain_s,
        "tasks": tasks_run(logs["worker"]),
        "worker_errors": len(task_failures),
        **({"worker_error_samples": task_failures[:3]} if task_failures else {}),
        "checks": checks,
        "ok": all(checks.values()),
    }


def summary_line(figures: dict, approval: dict, check: dict) -> str:
    failed = [name for name, ok in check["checks"].items() if not ok]
    return (
        f"summary: {figures['pushes_per_s']} pushes/s, {figures['points_per_s']} points/s, "
        f"p50/p95/p99/max {figures['p50_ms']}/{figures['p95_ms']}/{figures['p99_ms']}/"
        f"{figures['max_ms']} ms, {figures['errors']} errors over {figures['wall_s']} s; "
        f"approval {approval.get('approve_s')} s (whole flow {approval.get('flow_s')} s); "
        f"stored {check['points_stored']}, accepted {check['accepted']}; "
        f"drained in {check['drain_s']} s; "
        + ("PASS" if not failed else "FAIL: " + ", ".join(failed))
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--batch", type=int, default=50, help="points per request")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--approve-after",
        type=float,
        default=10.0,
        help="seconds into the load when the browser starts (at most a quarter of it)",
    )
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--db", default=DB, help="a throw-away database (portal_bench*)")
    parser.add_argument(
        "--redis-url", default=REDIS_URL, help="a Redis database that the run flushes"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the logs of a passed run")
    args = parser.parse_args()
    if not 1 <= args.clients <= 32:
        parser.error("--clients: 1 to 32")
    if not 0 < args.duration <= 3600:
        parser.error("--duration: more than 0, at most 3600 seconds")
    if not 1 <= args.batch <= 10_000:
        parser.error("--batch: 1 to 10,000 points (the API's limit)")
    return args


def main() -> int:
    args = parse_args()
    if args.inner:
        _setup_inner()
        return 0

    import redis

    redis_client = redis.Redis.from_url(args.redis_url)
    common.emit(
        common.machine() | {"redis": redis_version(redis_client), "load_average": os.getloadavg()}
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    (tmp / f"{SETTINGS_MODULE}.py").write_text(SETTINGS_TEXT)
    env = load_env(args.db, args.redis_url, tmp, args.workers)
    processes: dict[str, subprocess.Popen] = {}
    logs: dict[str, Path] = {}
    passed = False
    try:
        redis_client.flushdb()  # no message of an earlier run may be consumed here
        common.log(f"creating database {args.db}; migrate, load_demo and collectstatic")
        common.create_database(args.db)
        seeded = prepare(env)
        before = database_counts(args.db, seeded["rollout_id"])
        port = start_stack(env, tmp, processes, logs)
        common.log(
            f"stack up (web :{port}, {args.workers} workers; worker; beat); "
            f"{args.clients} clients x {args.duration:g} s of {args.batch}-point batches "
            f"over {len(seeded['systems'])} systems"
        )
        groups = {name: process.pid for name, process in processes.items()}
        results, approval, cpu = load_phase(port=port, seeded=seeded, args=args, groups=groups)
        figures = summarise(results, cpu.pop("start_at"), args)
        common.emit(figures)
        common.emit({"bench": "load_approval", **approval})
        common.emit({"bench": "load_cpu", **cpu, "load_average": os.getloadavg()})
        backlog = queued(redis_client)
        common.log(f"clients done; waiting for the worker to drain {backlog} queued tasks")
        drain_s = drain(redis_client, args.drain_timeout)
        after = database_counts(args.db, seeded["rollout_id"])
        check = verify(
            figures=figures,
            approval=approval,
            before=before,
            after=after,
            logs=logs,
            drain_s=drain_s,
        )
        common.emit(check | {"backlog_at_end": backlog})
        common.log(summary_line(figures, approval, check))
        passed = check["ok"]
    finally:
        for name in ("beat", "worker", "web"):
            if name in processes:
                common.stop_process_group(processes[name])
        common.drop_database(args.db)
        with suppress(Exception):
            redis_client.flushdb()
        shutil.rmtree(tmp / "static", ignore_errors=True)
        if passed and not args.keep_logs:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            common.log(f"logs kept in {tmp}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
