"""Celery tasks of the portal shell."""

from __future__ import annotations

from celery import shared_task

from portal.services import worker_heartbeat_record


@shared_task(bind=True, name="portal.tasks.heartbeat", ignore_result=True)
def heartbeat(self) -> None:
    """Beat sends this every minute; the worker that runs it records itself alive."""
    hostname = self.request.hostname or "eager"
    worker_heartbeat_record(hostname=hostname)


@shared_task(name="portal.tasks.ping")
def ping() -> str:
    """A task with no side effect, for round-trip checks."""
    return "pong"
