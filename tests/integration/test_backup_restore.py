"""Backup and restore as docs/backup.md prescribes it, for real, on PostgreSQL.

Data is seeded through the services (a system, a version, a metric, points
and their rollups, a pipeline token, an audit trail), the test database is
dumped with `pg_dump -Fc`, restored with `pg_restore` into a new database,
and the portal itself is then run on the copy (`manage.py` with DATABASE_URL
pointing at it): no migration is missing, every table holds the same rows,
the audit chain verifies with the same head hash, the pipeline token still
authenticates, and new events chain on after the restored ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.utils import timezone
from psycopg import sql

from governance.models import AuditEvent
from registry.services import (
    ai_system_create,
    ai_system_update,
    api_token_create,
    metric_batch_ingest,
    metric_spec_create,
    model_version_register,
)
from tests import services

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Run by `manage.py shell` on the restored database; the token comes in the environment.
ON_THE_COPY = """
import io, json, os
from django.core.management import call_command
from registry.models import AISystem
from registry.services import ai_system_update, api_token_authenticate
token = api_token_authenticate(os.environ["RESTORE_TEST_TOKEN"])
system = AISystem.objects.get(slug="loan-classifier")
ai_system_update(system=system, by=None, purpose="Scores loan applications (restored)")
verified = io.StringIO()
call_command("audit_verify", stdout=verified)
print(json.dumps({"token_system": token.system.slug if token else None,
                  "token_active": bool(token and token.is_active),
                  "audit": verified.getvalue().splitlines()[0]}))
"""


@pytest.fixture
def postgres_tools():
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        reason = f"{' and '.join(missing)} not installed"
        if services.require_services():
            pytest.fail(f"REQUIRE_SERVICES=1: {reason}")
        pytest.skip(reason)


def conninfo(dbname: str) -> str:
    database = settings.DATABASES["default"]
    return psycopg.conninfo.make_conninfo(
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        user=database["USER"] or None,
        password=database["PASSWORD"] or None,
        dbname=dbname,
    )


def row_counts(dbname: str) -> dict[str, int]:
    """Rows in every table of the public schema."""
    with psycopg.connect(conninfo(dbname)) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        return {
            table: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]
            for table in tables
        }


def run(args: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{args[:3]} failed:\n{result.stdout}\n{result.stderr}"
    return result


def seed(director) -> str:
    """A system with its history, through the services; returns the pipeline token."""
    system = ai_system_create(
        by=director,
        slug="loan-classifier",
        name="Loan classifier",
        business_unit="Retail banking",
        risk_tier="high",
    )
    ai_system_update(system=system, by=director, purpose="Scores loan applications")
    metric_spec_create(
        system=system,
        by=director,
        key="output_quality",
        name="Output quality",
        kind="quality",
        direction="higher_is_better",
        warning=0.9,
        critical=0.8,
    )
    model_version_register(
        system=system, by=director, version="2.1.0", artifact_uri="s3://models/loan/2.1.0"
    )
    token, secret = api_token_create(by=director, name="nightly pipeline", system=system)
    now = timezone.now()
    metric_batch_ingest(
        system=system,
        body={
            "model_version": "2.1.0",
            "points": [
                {
                    "metric": "output_quality",
                    "at": (now - timedelta(minutes=30 * n)).isoformat(),
                    "value": 0.9 + n / 1000,
                }
                for n in range(48)
            ],
        },
        by=token,
    )
    return secret


def test_a_dump_restores_into_a_fresh_database_that_the_portal_runs_on(
    director, postgres_tools, tmp_path
):
    secret = seed(director)
    source = settings.DATABASES["default"]["NAME"]
    events, head = AuditEvent.objects.count(), AuditEvent.objects.order_by("-id")[0].hash
    assert events >= 5

    dump = tmp_path / "portal.dump"
    run(["pg_dump", "--format=custom", f"--file={dump}", f"--dbname={conninfo(source)}"])

    restored = f"portal_restore_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(restored))
        )
    try:
        run(
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                f"--dbname={conninfo(restored)}",
                str(dump),
            ]
        )
        before = row_counts(source)
        assert before["registry_metricpoint"] == 48 and before["registry_apitoken"] == 1
        assert row_counts(restored) == before

        database = settings.DATABASES["default"]
        login = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
        portal_env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "VAR_DIR": str(tmp_path / "var"),
            "DEBUG": "1",
            "SECRET_KEY": settings.SECRET_KEY,
            # No REDIS_URL: a local-memory cache, so nothing cached from the source answers.
            "DATABASE_URL": f"postgres://{login}@{database['HOST']}:{database['PORT']}/{restored}",
        }
        manage = [sys.executable, "manage.py"]
        run([*manage, "migrate", "--check"], env=portal_env)

        verified = run([*manage, "audit_verify"], env=portal_env)
        assert verified.stdout.splitlines() == [
            f"audit chain intact: {events} events",
            f"head hash: {head}",
        ]
        assert "warning" not in verified.stderr  # the append-only trigger came back too

        shell = run(
            [*manage, "shell", "-c", ON_THE_COPY],
            env={**portal_env, "RESTORE_TEST_TOKEN": secret},
        )
        # The token authenticates, and the copy carries on: a new event chains onto the others.
        assert json.loads(shell.stdout.strip().splitlines()[-1]) == {
            "token_system": "loan-classifier",
            "token_active": True,
            "audit": f"audit chain intact: {events + 1} events",
        }
    finally:
        with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(restored))
            )
