"""Reads of the portal shell."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from core.roles import Role
from portal.models import WorkerHeartbeat

# Beat sends a heartbeat every 60 s; three missed ones mean the worker or beat is down.
HEARTBEAT_STALE_AFTER = timedelta(minutes=3)


def worker_heartbeats() -> QuerySet[WorkerHeartbeat]:
    """Every worker that ever ran the heartbeat, most recent first."""
    return WorkerHeartbeat.objects.order_by("-seen_at")


def worker_alive(*, within: timedelta = HEARTBEAT_STALE_AFTER) -> bool:
    """Whether any worker ran the heartbeat recently."""
    return WorkerHeartbeat.objects.filter(seen_at__gte=timezone.now() - within).exists()


def user_roles(user) -> list[Role]:
    """The roles a user holds, in the order of Role."""
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in Role if role.value in names]
