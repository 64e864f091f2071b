"""Readiness checks: can this process reach the database and the broker?"""

from __future__ import annotations

import logging

from django.db import connection

from portal.celery import app

logger = logging.getLogger(__name__)


def check_database() -> str | None:
    """None when the database answers a query, else a one-line reason."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        logger.warning("readiness: database unreachable: %s", exc)
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def check_broker(timeout: float = 3.0) -> str | None:
    """None when the Celery broker accepts a connection, else a one-line reason."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
    except Exception as exc:  # kombu wraps transport errors in many types
        logger.warning("readiness: broker unreachable: %s", exc)
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def readiness() -> dict[str, str]:
    """Each dependency mapped to "ok" or the reason it failed."""
    checks = {"database": check_database(), "broker": check_broker()}
    return {name: failure or "ok" for name, failure in checks.items()}
