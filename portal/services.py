"""Writes of the portal shell."""

from __future__ import annotations

from django.utils import timezone

from portal.models import WorkerHeartbeat


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    """Record that worker `hostname` is alive now (idempotent: one row per worker)."""
    heartbeat, _created = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"seen_at": timezone.now()}
    )
    return heartbeat
