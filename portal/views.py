"""Views of the portal shell: home, health and readiness."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.roles import Role, has_role
from governance.selectors import orphaned_systems
from portal import health, selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in person's start page: their roles and the platform's health."""
    context = {
        "roles": selectors.user_roles(request.user),
        "heartbeats": selectors.worker_heartbeats()[:10],
        "worker_alive": selectors.worker_alive(),
        "stale_after_minutes": int(selectors.HEARTBEAT_STALE_AFTER.total_seconds() // 60),
        "broker_kind": settings.CELERY_BROKER_URL.split("://", 1)[0],
        "database_kind": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        # Operations directors own the portfolio, so orphaned systems wait in their inbox.
        "orphans": orphaned_systems() if has_role(request.user, Role.OPERATIONS_DIRECTOR) else [],
    }
    return render(request, "portal/home.html", context)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process is up and serving (no dependency is touched)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database and the broker answer, else 503 naming what failed."""
    checks = health.readiness()
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )
