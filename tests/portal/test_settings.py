"""Settings come from the environment only, with safe production behaviour."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.settings import env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Run manage.py with a clean environment (only PATH, HOME and `env`)."""
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "VAR_DIR": str(tmp_path / "var")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_reads_typed_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "off")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a, b,,c ")
    assert env_bool("X_BOOL", default=True) is False
    assert env_bool("X_MISSING", default=True) is True
    assert env_int("X_INT", 1) == 42
    assert env_list("X_LIST") == ["a", "b", "c"]


def test_it_rejects_a_value_of_the_wrong_type(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "forty")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL", default=True)
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 1)


def test_it_reads_a_secret_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_str("X_SECRET") == "s3cret"


def test_it_refuses_to_start_without_a_secret_when_debug_is_off(tmp_path):
    result = run_manage("check", env={"DEBUG": "0"}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_it_generates_a_development_secret_once(tmp_path):
    first = run_manage("check", env={"DEBUG": "1"}, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "secret_key"
    key = key_file.read_text()
    assert len(key) >= 50
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    run_manage("check", env={"DEBUG": "1"}, tmp_path=tmp_path)
    assert key_file.read_text() == key


def test_it_defaults_to_sqlite_in_wal_mode(tmp_path):
    code = (
        "from django.db import connection;"
        "connection.ensure_connection();"
        "cursor = connection.cursor(); cursor.execute('PRAGMA journal_mode');"
        "print(connection.vendor, cursor.fetchone()[0], connection.settings_dict['NAME'])"
    )
    result = run_manage("shell", "-c", code, env={"DEBUG": "1"}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    vendor, mode, name = result.stdout.splitlines()[-1].split()
    assert (vendor, mode) == ("sqlite", "wal")
    assert name == str(tmp_path / "var" / "portal.sqlite3")


def test_deploy_checks_are_clean_with_production_settings(tmp_path):
    env = {
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-5f3e9c1b7d2a",
        "HTTPS": "1",
        "ALLOWED_HOSTS": "portal.example.com",
    }
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
