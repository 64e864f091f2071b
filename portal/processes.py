"""The portal's long-running processes, defined once.

`manage.py serve` runs all of them under one supervisor (what `make run`
does), plus the demo's simulator while DEBUG and SIMULATE are on; `manage.py
serve web|worker|beat` runs one in the foreground (what each docker compose
service does). Both read these definitions, so a laptop and a production
deployment start the same programs with the same arguments.
"""

from __future__ import annotations

import os
import sys

from portal.celery import QUEUES


def web_command() -> list[str]:
    """Gunicorn serving the WSGI app; WEB_BIND and WEB_WORKERS from the environment."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "portal.wsgi:application",
        "--bind",
        os.environ.get("WEB_BIND", "127.0.0.1:8000"),
        "--workers",
        os.environ.get("WEB_WORKERS", "2"),
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
        "--graceful-timeout",
        "10",
    ]


def worker_command() -> list[str]:
    """A Celery worker consuming every queue (concurrency from the settings)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "--queues",
        ",".join(QUEUES),
        "--hostname",
        "worker@%h",
        "--loglevel",
        "INFO",
    ]


def beat_command() -> list[str]:
    """Celery beat, reading its schedule from the database (django-celery-beat)."""
    return [sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO"]


def simulator_command() -> list[str]:
    """The demo's live simulator (manage.py simulate): metrics through the REST API."""
    return [sys.executable, "manage.py", "simulate"]


PROCESSES = {
    "web": web_command,
    "worker": worker_command,
    "beat": beat_command,
}
