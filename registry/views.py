"""The registry's browser pages: the systems, one system's metrics, its model versions."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import ApplicationError
from registry import permissions, selectors, services
from registry.forms import TokenForm, VersionCompareForm
from registry.models import AISystem, ApiToken

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


# --- API tokens -----------------------------------------------------------------------


def _token_page(
    request: HttpRequest,
    *,
    tokens,
    form: TokenForm,
    system: AISystem | None,
    new_secret: str | None = None,
    status: int = 200,
) -> HttpResponse:
    response = render(
        request,
        "registry/tokens.html",
        {
            "system": system,
            "current": "tokens",
            "tokens": tokens,
            "form": form,
            "new_secret": new_secret,
        },
        status=status,
    )
    # A page that shows a secret must never be kept by a cache or the back button.
    response["Cache-Control"] = "no-store"
    return response


def _create_token(request: HttpRequest, *, system: AISystem | None, tokens) -> HttpResponse:
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _token_page(request, tokens=tokens, form=form, system=system, status=400)
    try:
        _token, secret = services.api_token_create(
            by=request.user,
            name=form.cleaned_data["name"],
            system=system,
            user=None if system else request.user,
        )
    except ApplicationError as exc:
        form.add_error("name", exc.message)
        return _token_page(request, tokens=tokens, form=form, system=system, status=400)
    return _token_page(
        request, tokens=tokens.all(), form=TokenForm(), system=system, new_secret=secret
    )


@require_http_methods(["GET", "POST"])
@role_required_to_read
def system_tokens(request: HttpRequest, slug: str) -> HttpResponse:
    """A system's pipeline tokens: list, create (the token is shown once)."""
    system = get_object_or_404(AISystem, slug=slug)
    if not permissions.can_manage_tokens(request.user, system):
        raise PermissionDenied
    tokens = selectors.system_pipeline_tokens(system)
    if request.method == "POST":
        return _create_token(request, system=system, tokens=tokens)
    return _token_page(request, tokens=tokens, form=TokenForm(), system=system)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def personal_tokens(request: HttpRequest) -> HttpResponse:
    """The signed-in person's API tokens: they act with that person's roles."""
    tokens = selectors.personal_tokens(request.user)
    if request.method == "POST":
        return _create_token(request, system=None, tokens=tokens)
    return _token_page(request, tokens=tokens, form=TokenForm(), system=None)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then revoke one token (a pipeline's, by an editor; a personal one, by its owner)."""
    token = get_object_or_404(ApiToken.objects.select_related("system", "user"), pk=pk)
    if token.system is not None:
        allowed = permissions.can_manage_tokens(request.user, token.system)
        back = reverse("registry:system_tokens", kwargs={"slug": token.system.slug})
    else:
        allowed = token.user_id == request.user.pk
        back = reverse("registry:personal_tokens")
    if not allowed:
        raise PermissionDenied
    if request.method == "POST":
        try:
            services.api_token_revoke(token=token, by=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
        return redirect(back)
    return render(request, "registry/token_revoke.html", {"token": token, "back": back})
