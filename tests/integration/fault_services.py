"""Private PostgreSQL and Redis servers, and the portal's programs on them, for the fault tests.

The fault tests stop and restart servers. The shared ones (PostgreSQL on 5432,
Redis on 6379) serve the rest of the suite and other runs on the machine, so
each fault module starts its own on free ports and throws them away after:
a PostgreSQL cluster made by initdb in a temporary directory (run as the
postgres user when the tests run as root, since PostgreSQL refuses root), and
a Redis without persistence, so a restarted Redis comes back empty, as a
replaced or crashed one would.

Every program (web, worker, beat) runs in a process group of its own, so that
a SIGKILL reaches its children (a worker's pool) too.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_LIB = Path("/usr/lib/postgresql")
SECRET_KEY = "fault-tests-only-secret-key-not-for-production-0123456789"


class ServiceUnavailable(Exception):
    """A program the fault tests need (initdb, redis-server) is not installed."""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], *, timeout: float, what: str) -> object:
    """Poll until the predicate returns something truthy; return it, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def _listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


# --- Redis ----------------------------------------------------------------------------------


class RedisServer:
    """A redis-server of our own on a fixed free port, which can be stopped and started again."""

    def __init__(self, directory: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise ServiceUnavailable("redis-server is not installed")
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=2, socket_timeout=5)

    def start(self) -> None:
        log = (self.directory / "redis.log").open("a")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until(self._answers, timeout=10, what=f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Stop the server (no save: it comes back empty) and wait until the port is closed."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None
        wait_until(lambda: not _listens(self.port), timeout=10, what="redis-server to stop")


# --- PostgreSQL ---------------------------------------------------------------------------------


def _postgres_bin() -> Path:
    versions = sorted(
        (path for path in POSTGRES_LIB.glob("*/bin") if (path / "initdb").exists()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if not versions:
        raise ServiceUnavailable(f"no PostgreSQL server binaries under {POSTGRES_LIB}")
    return versions[-1]


class PostgresServer:
    """A PostgreSQL cluster of our own (initdb, trust auth) on a free port; restartable."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.port = free_port()
        # Not under pytest's tmp_path: that is private to root (0700), and the server
        # runs as the postgres user, which must reach its data directory.
        self.directory = Path(tempfile.mkdtemp(prefix="portal-faults-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        subprocess.run(
            [*prefix, str(self.bin / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def init(self) -> None:
        data = str(self.data)
        self._run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        # fsync off: a throwaway cluster, and every restart of the tests is a clean one.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.directory} -c fsync=off"
        )
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, *extra
        )

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`, as an operator would: every session is cut, then it is back."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str, **kwargs) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, **kwargs
        )

    def create_database(self, name: str) -> None:
        with self.connect("postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


# --- The portal's programs ------------------------------------------------------------------------


def portal_env(*, database_url: str, redis_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a portal program on the private services (nothing inherited)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(var_dir),
        "VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "1",
        "SIMULATE": "0",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "LOG_LEVEL": "INFO",
        **extra,
    }


def manage(*args: str, env: dict[str, str], timeout: float = 180) -> str:
    """Run a manage.py command to the end; its standard output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def spawn(argv: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a program in a process group of its own, its output going to `log`."""
    with log.open("a") as out:
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_process(process: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 15):
    """Signal the program's whole process group and wait; SIGKILL whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    # Pool children outlive a killed parent for a moment; none may keep running.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def web_argv(port: int) -> list[str]:
    """Gunicorn as `manage.py serve web` runs it (portal/processes.py), one worker."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "portal.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
    ]


def worker_argv(name: str) -> list[str]:
    """A Celery worker on every queue, one prefork child taking one task at a time."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "--queues",
        "ingest,gates,notify,default",
        "--hostname",
        f"{name}@%h",
        "--pool",
        "prefork",
        "--concurrency",
        "1",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]


def beat_argv(schedule_dir: Path) -> list[str]:
    """Celery beat with the portal's database scheduler (django-celery-beat)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "beat",
        "--loglevel",
        "INFO",
        "--pidfile",
        str(schedule_dir / "beat.pid"),
    ]


class Response:
    """Status and decoded JSON body of one HTTP exchange."""

    def __init__(self, status: int, body: object) -> None:
        self.status = status
        self.body = body

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body!r}>"


def http(
    method: str, url: str, *, token: str | None = None, body: object = None, timeout: float = 10
) -> Response:
    """One request; an HTTP error is a response too, a timeout or refused connection raises."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw = error.read()
        status = error.code
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = raw.decode(errors="replace")[:2000]
    return Response(status, decoded)
