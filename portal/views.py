"""Views of the portal shell: home, health and readiness."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.roles import Role, has_role
from governance.selectors import orphaned_systems
from portal import health, selectors
from registry.choices import RiskTier, Stage

SORT_LABELS = {
    "name": _lazy("Name"),
    "stage": _lazy("Stage"),
    "risk": _lazy("Risk tier"),
    "readiness": _lazy("Readiness"),
}


def _portfolio_query(request: HttpRequest, business_units: list[str]) -> tuple[dict, list[str]]:
    """The filters and sort of the GET form, each checked against its choices.

    A value outside its choices is dropped with a message, so a hand-edited or
    stale link shows the whole portfolio in the default order rather than failing.
    """
    query = {
        "business_unit": request.GET.get("business_unit", ""),
        "stage": request.GET.get("stage", ""),
        "risk_tier": request.GET.get("risk_tier", ""),
        "sort": request.GET.get("sort", "") or selectors.DEFAULT_PORTFOLIO_SORT,
    }
    problems = []
    allowed = {
        "business_unit": set(business_units),
        "stage": set(Stage.values),
        "risk_tier": set(RiskTier.values),
    }
    for name, values in allowed.items():
        if query[name] and query[name] not in values:
            problems.append(
                _("Unknown filter value “%(value)s”; it was ignored.") % {"value": query[name]}
            )
            query[name] = ""
    if query["sort"] not in selectors.PORTFOLIO_SORTS:
        problems.append(
            _("“%(value)s” is not a way to sort; sorted by name instead.")
            % {"value": query["sort"]}
        )
        query["sort"] = selectors.DEFAULT_PORTFOLIO_SORT
    return query, problems


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The portfolio of AI systems, then the person's roles and the platform's health."""
    business_units = selectors.portfolio_business_units()
    query, problems = _portfolio_query(request, business_units)
    context = {
        "rows": selectors.portfolio(**query),
        "query": query,
        "query_problems": problems,
        "business_units": business_units,
        "stages": Stage.choices,
        "risk_tiers": RiskTier.choices,
        "sorts": list(SORT_LABELS.items()),
        "chart": selectors.portfolio_chart(),
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


@login_required
def my_work(request: HttpRequest) -> HttpResponse:
    """What waits for the signed-in person: approvals, signatures, attestations, escalations."""
    work = selectors.my_work(request.user)
    return render(
        request,
        "portal/my_work.html",
        {"work": work, "total": sum(len(items) for items in work.values())},
    )


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
