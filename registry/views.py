"""The registry's browser pages: the systems, one system's metrics, its model versions."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from registry import permissions, selectors
from registry.forms import VersionCompareForm
from registry.models import AISystem

SYSTEMS_PER_PAGE = 25
# What the live charts ask the series endpoint for on load; zooming asks again
# for the visible range with as many buckets, so the server picks finer rollups.
CHART_BUCKETS = 500

# Strings drawn by static/registry/charts.js, translated here since the JS has no gettext.
CHART_LABELS = {
    "loading": _("Loading chart…"),
    "unavailable": _("Chart data unavailable. The table below shows the daily values."),
    "no_library": _("Charts are unavailable (the chart library did not load)."),
    "no_points": _("No data in this time range."),
    "mean": _("Mean"),
    "range": _("Min to max"),
    "warning": _("Warning"),
    "critical": _("Critical"),
    "deployed": _("Deployed"),
    "time": _("Time (UTC)"),
    "day": _("Day (UTC)"),
    "resolution": _("Resolution"),
    "buckets": _("buckets"),
    "resolutions": {"raw": _("raw points"), "hour": _("hourly"), "day": _("daily")},
}


def role_required_to_read(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in people with any role may read; without a role, a 403 that says what to do."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not permissions.has_any_role(request.user, permissions.READ_ROLES):
            return render(request, "registry/no_role.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _series_url(system: AISystem, key: str) -> str:
    """The series endpoint of one metric (the API's route, or its documented path)."""
    try:
        return reverse("api:metrics-series", kwargs={"slug": system.slug, "metric": key})
    except NoReverseMatch:  # the API is mounted separately; the page must not depend on it
        return f"{get_script_prefix()}api/v1/systems/{system.slug}/metrics/{key}/series/"


@require_GET
@role_required_to_read
def system_list(request: HttpRequest) -> HttpResponse:
    """Every AI system, with its deployed version, 25 to a page."""
    page = Paginator(selectors.systems_page_list(), SYSTEMS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "registry/system_list.html", {"page": page})


@require_GET
@role_required_to_read
def system_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One system: its facts, and each metric's thresholds, daily values and live chart."""
    system = get_object_or_404(selectors.systems_list(), slug=slug)
    metrics = selectors.system_metrics_daily(system=system)
    deployments = selectors.system_deployments(system)
    charts = selectors.metric_chart_configs(
        metrics=[metric.spec for metric in metrics],
        deployments=deployments,
        series_urls={metric.spec.key: _series_url(system, metric.spec.key) for metric in metrics},
    )
    context = {
        "system": system,
        "metrics": metrics,
        "deployments": deployments,
        "window_days": selectors.DAILY_WINDOW_DAYS,
        "chart_config": {
            "kind": "series",
            "window_days": selectors.DAILY_WINDOW_DAYS,
            "buckets": CHART_BUCKETS,
            "charts": charts,
            "labels": CHART_LABELS,
        },
    }
    return render(request, "registry/system_detail.html", context)


@require_GET
@role_required_to_read
def version_list(request: HttpRequest, slug: str) -> HttpResponse:
    """A system's model versions; with ?a=&b=, two versions' daily metrics side by side."""
    system = get_object_or_404(selectors.systems_list(), slug=slug)
    versions = list(selectors.system_versions_page(system))
    asked = "a" in request.GET or "b" in request.GET
    form = VersionCompareForm(
        request.GET if asked else None, versions=versions, initial=_default_pair(system, versions)
    )
    context = {
        "system": system,
        "versions": versions,
        "form": form,
        "window_days": selectors.DAILY_WINDOW_DAYS,
    }
    if asked and form.is_valid():
        version_a, version_b = form.version("a"), form.version("b")
        comparisons = selectors.version_comparison(
            system=system, version_a=version_a, version_b=version_b
        )
        context.update(
            version_a=version_a,
            version_b=version_b,
            comparisons=comparisons,
            chart_config={
                "kind": "comparison",
                "charts": selectors.comparison_chart_configs(
                    comparisons=comparisons, version_a=version_a, version_b=version_b
                ),
                "labels": CHART_LABELS,
            },
        )
    return render(request, "registry/version_list.html", context)


def _default_pair(system: AISystem, versions: list) -> dict[str, str]:
    """The deployed version against the newest other one, the comparison people ask first."""
    if len(versions) < 2:
        return {}
    a = system.deployed_version or versions[1]
    b = next(version for version in versions if version.pk != a.pk)
    return {"a": a.version, "b": b.version}
