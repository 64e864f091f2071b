"""Helpers shared by the benchmarks: a throw-away database, the real web server, HTTP clients.

The benchmark process itself never imports Django: everything that needs the
ORM runs in a subprocess (`python bench/common.py seed ...`, or another
bench module's `--inner` mode) with the bench environment, so the figures
measure the server, not the harness.

Everything here talks to 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
DEFAULT_DB = "portal_bench"
SYSTEM_SLUG = "bench-system"
RATE_LIMIT = 100_000_000  # per token and minute: never the bottleneck here


def emit(record: dict) -> None:
    """One figure: one JSON line on stdout, flushed, so runs can be compared with diff/jq."""
    print(json.dumps(record, sort_keys=False), flush=True)


def log(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the JSON figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- Database ---------------------------------------------------------------------------


def database_url(db: str) -> str:
    return f"postgres://postgres@{HOST}:5432/{db}"


def bench_env(db: str, **extra: str) -> dict[str, str]:
    """The environment of every Django process of a run: production-like settings, bench DB."""
    env = dict(os.environ)
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_POOL", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database_url(db),
        DEBUG="0",
        HTTPS="0",  # DEBUG=0 implies HTTPS; the benches talk plain HTTP to 127.0.0.1
        SECRET_KEY="bench-not-a-secret-" + "x" * 40,
        ALLOWED_HOSTS=HOST,
        # Redis: the per-token rate counter is shared by the web workers, as in production.
        REDIS_URL=f"redis://{HOST}:6379/13",
        API_TOKEN_RATE_LIMIT_PER_MINUTE=str(RATE_LIMIT),
        LOG_LEVEL="WARNING",
        PYTHONHASHSEED="0",
    )
    env.update(extra)
    return env


def pg_connect(db: str = "postgres", *, autocommit: bool = True):
    import psycopg

    return psycopg.connect(
        f"host={HOST} port=5432 user=postgres dbname={db}", autocommit=autocommit
    )


def create_database(db: str) -> None:
    """Drop (forcing out any session) and create the bench database."""
    _check_name(db)
    with pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')


def drop_database(db: str) -> None:
    _check_name(db)
    with pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _check_name(db: str) -> None:
    # Only a throw-away database of our own; never the portal's or anyone else's.
    if not db.startswith("portal_bench") or not db.replace("_", "").isalnum():
        raise SystemExit(f"refusing to touch database {db!r}: its name must start portal_bench")


def manage(args: Sequence[str], *, db: str, timeout: float = 600) -> str:
    """Run `manage.py <args>` against the bench database; its stdout."""
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=bench_env(db),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def migrate(db: str) -> None:
    manage(["migrate", "--noinput"], db=db)


def run_django(
    script: Path, args: Sequence[str], *, db: str, timeout: float = 7200, capture: bool = True
) -> str:
    """Run `python <script> --inner <args>`: a module of bench/ that calls django.setup()."""
    env = bench_env(db, DJANGO_SETTINGS_MODULE="portal.settings")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [PYTHON, str(script), "--inner", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE if capture else None,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} --inner {' '.join(args)} failed (see stderr)")
    return done.stdout or ""


def django_setup() -> None:
    """For --inner modes: make the project importable and set Django up."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()


@dataclass(frozen=True)
class Seeded:
    """What the benchmark needs to know of the seeded data."""

    slug: str
    token: str
    metrics: list[str]
    metric_ids: dict[str, int]
    versions: list[str]

    def ingest_path(self) -> str:
        return f"/api/v1/systems/{self.slug}/metrics/"

    def series_path(self, metric: str) -> str:
        return f"/api/v1/systems/{self.slug}/metrics/{metric}/series/"


def seed(db: str, *, metrics: Sequence[str], versions: Sequence[str]) -> Seeded:
    """One system, its metric specs (mean aggregation), model versions and a pipeline token."""
    spec = {"slug": SYSTEM_SLUG, "metrics": list(metrics), "versions": list(versions)}
    out = run_django(Path(__file__), ["seed", json.dumps(spec)], db=db, timeout=300)
    data = json.loads(out.strip().splitlines()[-1])
    return Seeded(**data)


def _seed_inner(spec: dict) -> None:
    django_setup()
    from registry import services

    system = services.ai_system_create(
        by=None,
        slug=spec["slug"],
        name="Benchmark system",
        purpose="Load generated by bench/",
        business_unit="Benchmarks",
        risk_tier="low",
    )
    ids = {}
    for key in spec["metrics"]:
        metric = services.metric_spec_create(
            system=system,
            by=None,
            key=key,
            name=key,
            kind="quality",
            unit="",
            direction="higher_is_better",
            warning=0.2,
            critical=0.1,
            aggregation="mean",
            expected_interval_seconds=60,
        )
        ids[key] = metric.pk
    for version in spec["versions"]:
        services.model_version_register(
            system=system, by=None, version=version, artifact_uri=f"s3://bench/{version}"
        )
    _token, secret = services.api_token_create(by=None, name="bench", system=system)
    print(
        json.dumps(
            {
                "slug": system.slug,
                "token": secret,
                "metrics": list(spec["metrics"]),
                "metric_ids": ids,
                "versions": list(spec["versions"]),
            }
        )
    )


# --- The web server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: Path


@contextmanager
def web_server(db: str, *, workers: int = 2, startup_timeout: float = 60) -> Iterator[Server]:
    """`manage.py serve web` (gunicorn, `workers` sync workers) on a free port; stopped by pid.

    The access log goes to a temporary file (gunicorn writes one line per request,
    as in production); it is deleted afterwards unless the server failed to start.
    """
    port = free_port()
    env = bench_env(db, WEB_BIND=f"{HOST}:{port}", WEB_WORKERS=str(workers))
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in the finally below
        prefix="bench-web-", suffix=".log", delete=False
    )
    log_path = Path(log_file.name)
    process = subprocess.Popen(
        [PYTHON, "manage.py", "serve", "web"],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: gunicorn master and workers
    )
    ok = False
    try:
        _wait_healthy(process, port, startup_timeout, log_path)
        ok = True
        log(f"web server up: pid {process.pid}, port {port}, {workers} workers")
        yield Server(process=process, port=port, log_path=log_path)
    finally:
        stop_process_group(process)
        log_file.close()
        if ok:
            log_path.unlink(missing_ok=True)
        else:
            log(f"web server log kept at {log_path}")


def _wait_healthy(process: subprocess.Popen, port: int, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://{HOST}:{port}/healthz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the web server exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the web server did not answer /healthz in {timeout:.0f} s; see {log_path}")


def stop_process_group(process: subprocess.Popen, *, grace: float = 15) -> None:
    """SIGTERM to the process's group (it leads its own session), then SIGKILL after `grace`."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# --- HTTP --------------------------------------------------------------------------------


class Client:
    """One HTTP/1.1 connection, reused (gunicorn's sync workers close it after each
    response, and http.client then reconnects transparently on the next request)."""

    def __init__(self, port: int, token: str, *, timeout: float = 60) -> None:
        self.port = port
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            raise
        return response.status, data

    def close(self) -> None:
        self.conn.close()


# --- Figures ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return ordered[int(rank) - 1]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def machine() -> dict:
    """The machine and versions, for the record."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for name in ("django", "gunicorn", "psycopg", "rest_framework"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "?")
        except ImportError:
            versions[name] = None
    try:
        with pg_connect() as conn:
            versions["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    except Exception:  # the record is best effort
        versions["postgresql"] = None
    return {
        "bench": "machine",
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        **versions,
    }


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu() -> Iterator[tuple[int, str, int, float, float]]:
    """(pid, command line, process group, own CPU s, CPU s of reaped children) per process."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state) of proc(5): pgrp is 5, utime..cstime are 14..17.
        pgrp = int(fields[2])
        own = (int(fields[11]) + int(fields[12])) / _TICK
        children = (int(fields[13]) + int(fields[14])) / _TICK
        yield int(entry.name), cmdline, pgrp, own, children


_PG_AUX = ("checkpointer", "background writer", "walwriter")


def cpu_snapshot(server_pgid: int | None, db: str) -> dict:
    """CPU seconds so far, per process: the web server's group, PostgreSQL backends of `db`,
    PostgreSQL's shared helpers (WAL writer, checkpointer, ...), and the whole machine."""
    web: dict[int, float] = {}
    backends: dict[int, float] = {}
    aux: dict[int, float] = {}
    for pid, cmdline, pgrp, own, children in _proc_cpu():
        if server_pgid is not None and pgrp == server_pgid:
            web[pid] = own + children  # the master reaps the workers it replaces
        elif cmdline.startswith("postgres:"):
            if f" {db} " in cmdline:
                (aux if "autovacuum" in cmdline else backends)[pid] = own
            elif any(name in cmdline for name in _PG_AUX):
                aux[pid] = own
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(value) for value in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return {
        "web": web,
        "postgres": backends,
        "postgres_aux": aux,
        "busy": (sum(ticks) - idle) / _TICK,
        "total": sum(ticks) / _TICK,
    }


_PARTIES = ("web", "postgres", "postgres_aux")


class CpuMeter:
    """CPU seconds spent over a block by the web server, PostgreSQL and the rest of the machine.

    Sampled every `interval` seconds from /proc, keeping each process's last value, so a
    process that ends inside the block still counts (Django replaces its database
    connection, hence its PostgreSQL backend, every CONN_MAX_AGE = 60 s).
    `other_cpu_s` is what the machine spent outside the web server, PostgreSQL and the
    bench's clients: other people's work on a shared machine, i.e. noise.
    """

    def __init__(self, server_pgid: int | None, db: str, *, interval: float = 0.25) -> None:
        self.server_pgid = server_pgid
        self.db = db
        self.interval = interval

    def __enter__(self) -> CpuMeter:
        import threading

        self.first = cpu_snapshot(self.server_pgid, self.db)
        self.last = {party: dict(self.first[party]) for party in _PARTIES}
        self.final = self.first
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        snapshot = cpu_snapshot(self.server_pgid, self.db)
        for party in _PARTIES:
            self.last[party].update(snapshot[party])
        self.final = snapshot

    def _run(self) -> None:
        for _tick in range(10_000_000):  # bounded; ends when the block does
            if self._stop.wait(self.interval):
                break
            self._sample()

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._sample()

    def figures(self, *, client_cpu_s: float = 0.0) -> dict[str, float | None]:
        spent = {
            party: sum(
                value - self.first[party].get(pid, 0.0) for pid, value in self.last[party].items()
            )
            for party in _PARTIES
        }
        total = self.final["total"] - self.first["total"]
        busy = self.final["busy"] - self.first["busy"]
        ours = sum(spent.values()) + client_cpu_s
        return {
            "web_cpu_s": round(spent["web"], 2),
            "postgres_cpu_s": round(spent["postgres"], 2),
            "postgres_aux_cpu_s": round(spent["postgres_aux"], 2),
            "other_cpu_s": round(max(0.0, busy - ours), 2),
            "machine_busy": round(busy / total, 3) if total else None,
        }


def run_parallel(target: Callable, args_list: Sequence[tuple], *, during=None) -> list:
    """Run `target(*args)` in one process per argument tuple; their results, in order.

    `during` (e.g. a CpuMeter) is entered once the processes are forked, so that no
    thread of this process is running while they fork.
    """
    import multiprocessing

    context = multiprocessing.get_context("fork")
    with context.Pool(len(args_list)) as pool:
        if during is None:
            return pool.starmap(target, args_list)
        with during:
            return pool.starmap(target, args_list)


def main() -> None:
    parser = argparse.ArgumentParser(description="bench helpers (internal)")
    parser.add_argument("--inner", action="store_true")
    parser.add_argument("command", choices=["seed"])
    parser.add_argument("spec")
    args = parser.parse_args()
    if args.command == "seed":
        _seed_inner(json.loads(args.spec))


if __name__ == "__main__":
    main()
