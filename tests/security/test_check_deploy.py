"""A production environment passes `check --deploy` and gets secure cookies.

Each test starts manage.py in a subprocess with a clean environment, because
the settings are read from the environment once, at import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k3y-" + "9f2c1a7e5b3d8f0a6c4e2b1d9f7a5c3e1b0d8f6a4c2e0b9d7f5a3c1e" * 2,
    "ALLOWED_HOSTS": "portal.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://portal.example.com",
    # Only parsed: neither command below opens a connection.
    "DATABASE_URL": "postgres://portal:secret@127.0.0.1:5432/portal",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}
COOKIE_SETTINGS = [
    "HTTPS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_SAMESITE",
]


def run_manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """manage.py with only PATH, HOME, VAR_DIR and `env` in its environment."""
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "VAR_DIR": str(tmp_path / "var")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def cookie_settings(env: dict[str, str], tmp_path: Path) -> dict:
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {COOKIE_SETTINGS!r}}}))"
    )
    result = run_manage("shell", "-c", code, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_in_production(tmp_path):
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_production_cookies_are_secure_http_only_and_same_site(tmp_path):
    # DEBUG=0 alone means HTTPS: no HTTPS variable is set here.
    assert cookie_settings(PRODUCTION, tmp_path) == {
        "HTTPS": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_SAMESITE": "Lax",
    }


def test_https_0_serves_plain_http_with_debug_off_when_asked_explicitly(tmp_path):
    values = cookie_settings({**PRODUCTION, "HTTPS": "0"}, tmp_path)
    assert values["HTTPS"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    # The rest does not depend on TLS.
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SESSION_COOKIE_SAMESITE"] == "Lax"


@pytest.mark.django_db
def test_over_https_every_page_but_the_health_probes_redirects_plain_http(client, settings):
    settings.SECURE_SSL_REDIRECT = True  # as HTTPS=1 sets it; the exemptions are the portal's
    login = client.get("/login/")
    assert login.status_code == 301
    assert login["Location"] == "https://testserver/login/"
    # Probes (docker compose, load balancers) talk plain HTTP to the process itself.
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)
