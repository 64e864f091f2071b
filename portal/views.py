"""Views of the portal shell: home, health and readiness."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.htmx import htmx_render
from core.roles import Role, has_role
from governance.selectors import orphaned_systems
from portal import health, selectors
from registry.choices import RiskTier, Stage
from registry.permissions import READ_ROLES, has_any_role

SYSTEMS_PER_PAGE = 50
MY_WORK_PER_PAGE = 25
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
    """The portfolio of AI systems, then the person's roles and the platform's health.

    The filters and pages swap the portfolio table alone (htmx); the same URL
    without htmx is the whole page. A person without a role sees no system at
    all, only what to ask for (as on every other page, where it is a 403).
    """
    if not has_any_role(request.user, READ_ROLES):
        return render(request, "registry/no_role.html", {"on_home": True})
    business_units = selectors.portfolio_business_units()
    query, problems = _portfolio_query(request, business_units)
    page = Paginator(selectors.portfolio(**query), SYSTEMS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "rows": page.object_list,
        "page": page,
        "query": query,
        # The pager's links keep the filters as they were understood (bad values dropped).
        "page_query": urlencode({name: value for name, value in query.items() if value}),
        "query_problems": problems,
    }
    return htmx_render(
        request,
        "portal/home.html",
        "portal/_portfolio_table.html",
        context,
        page_context=lambda: _home_page_context(request, business_units),
    )


def _home_page_context(request: HttpRequest, business_units: list[str]) -> dict:
    """What the home page shows around the portfolio table: the form, chart and panels."""
    return {
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


@login_required
def my_work(request: HttpRequest) -> HttpResponse:
    """What waits for the signed-in person: approvals, signatures, attestations, escalations.

    Each kind is a list of its own, 25 to a page, paged by its own parameter
    (e.g. ?escalations_page=2) so that paging one keeps the others where they are.
    """
    work = selectors.my_work(request.user)
    pages = {}
    for kind, items in work.items():
        param = f"{kind}_page"
        query = request.GET.copy()
        query.pop(param, None)
        pages[kind] = {
            "page": Paginator(items, MY_WORK_PER_PAGE).get_page(request.GET.get(param)),
            "param": param,
            "query": query.urlencode(),
        }
    return render(
        request,
        "portal/my_work.html",
        {"work": work, "pages": pages, "total": sum(len(items) for items in work.values())},
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


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 404 of a path no route matches: the API's error shape under /api/, a page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"errors": [{"field": None, "message": _("Not found."), "code": "not_found"}]},
            status=404,
        )
    return render(request, "404.html", status=404)
