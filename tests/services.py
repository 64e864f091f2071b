"""Which real services the test run can use.

The suite runs on PostgreSQL and Redis when they answer (at DATABASE_URL /
REDIS_URL, or on their default ports on localhost), else on SQLite with the
tests that need them skipped. REQUIRE_SERVICES=1 (what CI sets) turns each of
those skips into a failure, so a CI run can never pass without the services.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/portal"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"  # a database of its own


def answers(url: str, default_port: int) -> bool:
    """Whether something accepts a TCP connection at the URL's host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def require_services() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "").strip().lower() in {"1", "true", "yes", "on"}


def postgres_url() -> str | None:
    """The PostgreSQL URL to test on, or None when none answers."""
    url = os.environ.get("DATABASE_URL", "")
    if url and not url.startswith(("postgres://", "postgresql://")):
        return None
    url = url or DEFAULT_POSTGRES_URL
    return url if answers(url, 5432) else None


def redis_url() -> str | None:
    """The Redis URL to test on, or None when none answers."""
    url = os.environ.get("REDIS_URL", "") or DEFAULT_REDIS_URL
    return url if answers(url, 6379) else None
