"""`manage.py serve` (what `make run` starts): web, worker and beat, stopped together.

Each run starts the real programs (gunicorn, a Celery worker, Celery beat)
against a database of its own: SQLite with the filesystem broker, as on a
laptop with nothing installed, and PostgreSQL with Redis, as in production.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(*args: str, env: dict[str, str], timeout: float = 180) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=timeout,
        capture_output=True,
    )


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def log_in(base_url: str, username: str, password: str) -> str:
    """Log in through the real form (CSRF included); return the home page."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base_url}/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(f"{base_url}/login/", data=data, headers={"Referer": base_url})
    with opener.open(request, timeout=10) as response:
        assert response.url.rstrip("/") == base_url, "login did not redirect home"
        return response.read().decode()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def run_the_portal(env: dict[str, str], heartbeat_seen) -> None:
    """Migrate, load the demo, serve; check all three programs work; Ctrl-C; no orphans."""
    port = free_port()
    env = {**env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "1"}
    base_url = f"http://127.0.0.1:{port}"
    manage("migrate", "--noinput", env=env)
    manage("load_demo", env=env)
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        wait_until(lambda: answers(f"{base_url}/login/"), 90, "the login page")
        home = log_in(base_url, "director", "demo-director")
        assert "Operations director" in home
        # Beat sends the heartbeat at start-up; the worker runs it and writes the row.
        wait_until(heartbeat_seen, 90, "a worker heartbeat sent by beat")
        serve.send_signal(signal.SIGINT)  # what Ctrl-C does
        out, _ = serve.communicate(timeout=60)
        output.append(out)
    finally:
        if serve.poll() is None:
            serve.kill()
            output.append(serve.communicate()[0])
    text = "".join(output)
    assert serve.returncode == 0, text
    assert "The portal is up" in text
    pids = [int(pid) for pid in re.findall(r"started \w+ \(pid (\d+)\)", text)]
    assert len(pids) == 4, text  # web, worker, beat and the demo's simulator
    assert "simulating " in text, text
    for pid in pids:  # each program ran in its own process group, now empty
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    assert not answers(f"{base_url}/healthz")


def base_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "VAR_DIR": str(tmp_path / "var"),
        "DEBUG": "1",
    }


def test_it_runs_on_sqlite_and_the_filesystem_broker(tmp_path):
    env = base_env(tmp_path)
    database = tmp_path / "var" / "portal.sqlite3"

    def heartbeat_seen() -> bool:
        with sqlite3.connect(database, timeout=10) as conn:
            return conn.execute("SELECT count(*) FROM portal_workerheartbeat").fetchone()[0] > 0

    run_the_portal(env, heartbeat_seen)


@pytest.mark.postgres
@pytest.mark.redis
def test_it_runs_on_postgresql_and_redis(tmp_path):
    admin_url = settings.DATABASES["default"]
    name = f"portal_serve_{uuid.uuid4().hex[:8]}"
    conninfo = psycopg.conninfo.make_conninfo(
        host=admin_url["HOST"],
        port=admin_url["PORT"],
        user=admin_url["USER"],
        password=admin_url["PASSWORD"] or None,
        dbname="postgres",
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    host = f"{admin_url['HOST']}:{admin_url['PORT']}"
    user = admin_url["USER"]
    redis_url = settings.REDIS_URL.rsplit("/", 1)[0] + "/14"  # a database of its own
    redis.Redis.from_url(redis_url).flushdb()
    env = {
        **base_env(tmp_path),
        "DATABASE_URL": f"postgres://{user}@{host}/{name}",
        "REDIS_URL": redis_url,
    }

    def heartbeat_seen() -> bool:
        with psycopg.connect(conninfo.replace("dbname=postgres", f"dbname={name}")) as conn:
            return conn.execute("SELECT count(*) FROM portal_workerheartbeat").fetchone()[0] > 0

    try:
        run_the_portal(env, heartbeat_seen)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
