"""The registry's browser pages: systems, their metrics and versions, tokens, data quality."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from itertools import pairwise

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import ApplicationError
from core.htmx import htmx_render
from registry import permissions, selectors, services
from registry.choices import GRID_CHECKS, QualityCheck
from registry.forms import (
    DataSourceForm,
    ReferenceWindowForm,
    SourceFilterForm,
    TokenForm,
    VersionCompareForm,
)
from registry.models import LEVEL_DEFAULTS, AISystem, ApiToken, DataSource
from registry.templatetags.registry_format import metric_number

SYSTEMS_PER_PAGE = 25
VERSIONS_PER_PAGE = 25
TOKENS_PER_PAGE = 25
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
    """Every AI system, with its deployed version, 25 to a page (the pager swaps the table)."""
    page = Paginator(selectors.systems_page_list(), SYSTEMS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return htmx_render(
        request, "registry/system_list.html", "registry/_system_table.html", {"page": page}
    )


@require_GET
@role_required_to_read
def system_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One system: its facts, and each metric's thresholds, daily values and live chart."""
    system = get_object_or_404(selectors.systems_list(), slug=slug)
    metrics = selectors.system_metrics_daily(system=system)
    deployments = selectors.system_deployments(system)
    upstream_issues = selectors.system_upstream_issues(system)
    charts = selectors.metric_chart_configs(
        metrics=[metric.spec for metric in metrics],
        deployments=deployments,
        series_urls={metric.spec.key: _series_url(system, metric.spec.key) for metric in metrics},
    )
    context = {
        "system": system,
        "metrics": metrics,
        "deployments": deployments,
        "upstream_issues": upstream_issues,
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
    """A system's model versions, 25 to a page; with ?a=&b=, two versions' daily metrics."""
    system = get_object_or_404(selectors.systems_list(), slug=slug)
    # Every version is a choice of the comparison; the table shows a page of them.
    versions = list(selectors.system_versions_page(system))
    asked = "a" in request.GET or "b" in request.GET
    form = VersionCompareForm(
        request.GET if asked else None, versions=versions, initial=_default_pair(system, versions)
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "system": system,
        "versions": versions,
        "page": Paginator(versions, VERSIONS_PER_PAGE).get_page(request.GET.get("page")),
        "query": query.urlencode(),
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
    source: DataSource | None = None,
    new_secret: str | None = None,
    status: int = 200,
) -> HttpResponse:
    response = render(
        request,
        "registry/tokens.html",
        {
            "system": system,
            "source": source,
            "current": "tokens",
            "may_edit": source is not None,  # the source's tabs: only editors reach this page
            "tokens": tokens,
            "page": Paginator(tokens, TOKENS_PER_PAGE).get_page(request.GET.get("page")),
            "form": form,
            "new_secret": new_secret,
        },
        status=status,
    )
    # A page that shows a secret must never be kept by a cache or the back button.
    response["Cache-Control"] = "no-store"
    return response


def _create_token(
    request: HttpRequest, *, system: AISystem | None, tokens, source: DataSource | None = None
) -> HttpResponse:
    page = {"tokens": tokens, "system": system, "source": source}
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _token_page(request, form=form, status=400, **page)
    try:
        _token, secret = services.api_token_create(
            by=request.user,
            name=form.cleaned_data["name"],
            system=system,
            data_source=source,
            user=None if system or source else request.user,
        )
    except ApplicationError as exc:
        form.add_error("name", exc.message)
        return _token_page(request, form=form, status=400, **page)
    page["tokens"] = tokens.all()
    return _token_page(request, form=TokenForm(), new_secret=secret, **page)


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
def source_tokens(request: HttpRequest, slug: str) -> HttpResponse:
    """A data source's pipeline tokens: list, create (the token is shown once)."""
    source = get_object_or_404(DataSource, slug=slug)
    if not permissions.can_edit_source(request.user, source):
        raise PermissionDenied
    tokens = selectors.source_tokens(source)
    if request.method == "POST":
        return _create_token(request, system=None, source=source, tokens=tokens)
    return _token_page(request, tokens=tokens, form=TokenForm(), system=None, source=source)


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
    token = get_object_or_404(
        ApiToken.objects.select_related("system", "data_source", "user"), pk=pk
    )
    if token.system is not None:
        allowed = permissions.can_manage_tokens(request.user, token.system)
        back = reverse("registry:system_tokens", kwargs={"slug": token.system.slug})
    elif token.data_source is not None:
        allowed = permissions.can_edit_source(request.user, token.data_source)
        back = reverse("registry:source_tokens", kwargs={"slug": token.data_source.slug})
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


# --- Data quality -------------------------------------------------------------------------

SOURCES_PER_PAGE = 200
DELIVERIES_PER_PAGE = 25
# Checks whose value is a share (0 to 1), shown as a percentage.
SHARE_CHECKS = frozenset({QualityCheck.UPTIME, QualityCheck.INTEGRATION, QualityCheck.COMPLETENESS})

# Strings drawn by static/registry/quality.js, translated here since the JS has no gettext.
QUALITY_LABELS = {
    "no_library": _(
        "Charts are unavailable (the chart library did not load); the tables show the same values."
    ),
    "unavailable": _("This chart could not be drawn; the table shows the same values."),
    "no_points": _("No value to draw yet."),
    "volume": _("Rows"),
    "drift": _("Largest PSI"),
    "psi": _("PSI"),
    "missing": _("Missing share"),
    "warn": _("Warn"),
    "fail": _("Fail"),
    "time": _("Time (UTC)"),
    "share": _("Share of rows"),
    "reference": _("Reference"),
    "current": _("Current"),
    "rows": _("rows"),
}


def _percent(value: float | None) -> str:
    """A share as a localised percentage with two decimals; "—" when there is none."""
    if value is None:
        return "—"
    return f"{number_format(value * 100, decimal_pos=2)}%"


def _latest(days: list[str], values: list) -> tuple[str, float] | None:
    """The newest (day, value) of a sparkline with a value: its text alternative."""
    for day, value in zip(reversed(days), reversed(values), strict=True):
        if value is not None:
            return day, value
    return None


def _dashboard_config(rows: list) -> dict:
    """The sparklines' data for quality.js: the days once, then two series per source."""
    return {
        "kind": "dashboard",
        "days": rows[0].days if rows else [],
        "sources": {
            row.source.slug: {
                "volume": row.volume,
                "drift": row.drift,
                "psi_warn": row.source.psi_warn,
                "psi_fail": row.source.psi_fail,
            }
            for row in rows
        },
        "labels": QUALITY_LABELS,
    }


@require_GET
@role_required_to_read
def quality_dashboard(request: HttpRequest) -> HttpResponse:
    """Every data source against its six checks, with uptime, error rate and sparklines.

    The filters, the summary's links and the pager swap the grid alone (htmx).
    """
    bound = any(request.GET.get(name) for name in SourceFilterForm.base_fields)
    form = SourceFilterForm(request.GET if bound else None)
    valid = not bound or form.is_valid()
    # Bad filters are shown in place and ignored, so the page still lists every source.
    filters = form.filters() if bound and valid else {}
    page = Paginator(selectors.data_sources_filtered(**filters), SOURCES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    rows = selectors.dashboard_rows(list(page.object_list))
    for row in rows:  # display values only; the verdicts are the checks' own
        row.uptime_percent = _percent(row.uptime.value if row.uptime else None)
        integration = row.checks.get(QualityCheck.INTEGRATION)
        row.error_rate_percent = _percent(integration.value if integration else None)
        row.latest_volume = _latest(row.days, row.volume)
        row.latest_drift = _latest(row.days, row.drift)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "filtered": bool(filters) and any(filters.values()),
        "page": page,
        "rows": rows,
        "grid_checks": [(kind, QualityCheck(kind).label) for kind in GRID_CHECKS],
        "query": query.urlencode(),
        "days": selectors.DASHBOARD_DAYS,
        "chart_config": _dashboard_config(rows),
    }
    return htmx_render(
        request,
        "registry/source_list.html",
        "registry/_source_results.html",
        context,
        page_context=lambda: {
            "summary": selectors.dashboard_summary(),
            "may_create": permissions.can_manage_sources(request.user),
        },
        status=200 if valid else 400,
    )


def _level_rows(source: DataSource) -> list[dict]:
    """Each level with its label and, when changed, the default it replaces."""
    custom = source.custom_levels
    return [
        {
            "name": name,
            "label": DataSource._meta.get_field(name).verbose_name,
            "value": getattr(source, name),
            "default": custom[name][0] if name in custom else None,
            "changed": name in custom,
        }
        for name in LEVEL_DEFAULTS
    ]


def _check_value(kind: str, value: float | None) -> str:
    if kind in SHARE_CHECKS:
        return _percent(value)
    if kind == QualityCheck.FRESHNESS and value is not None:
        return gettext("%(seconds)s s old") % {"seconds": metric_number(value)}
    return metric_number(value)


def _check_rows(source: DataSource) -> list[dict]:
    """Every check in the dashboard's order, with its value as shown and its per-field rows."""
    checks = {check.kind: check for check in source.checks.all()}  # prefetched
    rows = []
    for kind, label in QualityCheck.choices:
        check = checks.get(kind)
        fields = list(check.fields or []) if check else []
        if kind == QualityCheck.COMPLETENESS:
            fields = [dict(row, shown=_percent(row.get("value"))) for row in fields]
        rows.append(
            {
                "kind": kind,
                "label": label,
                "check": check,
                "value": _check_value(kind, check.value if check else None),
                "fields": fields,
            }
        )
    return rows


def _bin_rows(entry: dict) -> list[tuple[str, float | None, float]]:
    """A distribution as table rows (bin or category, reference, current): the chart's fallback."""
    if entry["kind"] == "numeric":
        edges = entry["edges"]
        labels = [
            gettext("%(low)s to %(high)s")
            % {"low": metric_number(low), "high": metric_number(high)}
            for low, high in pairwise(edges)
        ]
    else:
        labels = [str(category) for category in entry["categories"]]
    reference = entry["reference"] or [None] * len(labels)
    return list(zip(labels, reference, entry["current"], strict=False))


@require_GET
@role_required_to_read
def source_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One source: its facts, every check with per-field results, history and distributions."""
    source = selectors.data_source_detail(slug)
    if source is None:
        raise Http404
    deliveries = Paginator(selectors.source_deliveries(source), DELIVERIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    history = selectors.source_charts(source)
    distributions = selectors.source_distributions(source)
    context = {
        "source": source,
        "current": "overview",
        "may_edit": permissions.can_edit_source(request.user, source),
        "levels": _level_rows(source),
        "checks": _check_rows(source),
        "deliveries": deliveries,
        "history": history,
        "distributions": [dict(entry, bins=_bin_rows(entry)) for entry in distributions],
        "days": selectors.DASHBOARD_DAYS,
        "chart_config": {
            "kind": "source",
            "history": history,
            "distributions": distributions,
            "labels": QUALITY_LABELS,
        },
    }
    return render(request, "registry/source_detail.html", context)


def _service_error(form, exc: ApplicationError, *, fields: dict[str, str] | None = None) -> None:
    """Put a service's refusal beside the field it names (or above the form)."""
    name = (fields or {}).get(exc.field, exc.field)
    form.add_error(name if name in form.fields else None, exc.message)


def _source_form_page(
    request: HttpRequest, form: DataSourceForm, source: DataSource | None, *, status: int = 200
) -> HttpResponse:
    context = {"form": form, "source": source, "current": "edit", "may_edit": True}
    return render(request, "registry/source_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def source_create(request: HttpRequest) -> HttpResponse:
    """Register a data source: its SLA, expected schema, the systems it feeds and its levels."""
    if not permissions.can_manage_sources(request.user):
        raise PermissionDenied
    if request.method != "POST":
        return _source_form_page(request, DataSourceForm(), None)
    form = DataSourceForm(request.POST)
    if form.is_valid():
        try:
            source = services.data_source_create(
                by=request.user,
                slug=form.cleaned_data["slug"],
                systems=form.cleaned_data["systems"],
                **form.values(),
            )
        except ApplicationError as exc:
            _service_error(form, exc)
        else:
            messages.success(
                request, _("Data source “%(name)s” registered.") % {"name": source.name}
            )
            return redirect("registry:source_detail", slug=source.slug)
    return _source_form_page(request, form, None, status=400)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def source_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Change a source's description, SLA, schema, owner, levels or the systems it feeds."""
    source = get_object_or_404(DataSource.objects.prefetch_related("systems"), slug=slug)
    if not permissions.can_edit_source(request.user, source):
        raise PermissionDenied
    if request.method != "POST":
        return _source_form_page(request, DataSourceForm(source=source), source)
    form = DataSourceForm(request.POST, source=source)
    if form.is_valid():
        changes = form.changes()
        systems = form.cleaned_data["systems"] if "systems" in form.changed_data else None
        if not changes and systems is None:
            messages.info(request, _("Nothing changed."))
            return redirect("registry:source_detail", slug=source.slug)
        try:
            services.data_source_update(source=source, by=request.user, systems=systems, **changes)
        except ApplicationError as exc:
            _service_error(form, exc)
        else:
            messages.success(request, _("Data source “%(name)s” saved.") % {"name": source.name})
            return redirect("registry:source_detail", slug=source.slug)
    return _source_form_page(request, form, source, status=400)


def _reference_page(
    request: HttpRequest,
    source: DataSource,
    form: ReferenceWindowForm,
    *,
    template: str = "registry/source_reference.html",
    status: int = 200,
) -> HttpResponse:
    references = selectors.source_references(source)
    names = form.cleaned_data.get("names") if form.is_bound and not form.errors else None
    context = {
        "source": source,
        "current": "reference",
        "may_edit": True,
        "form": form,
        "references": [references[name] for name in sorted(references)],
        # On the confirmation step: the fields named, with the version each one will get.
        "targets": [{"field": name, "current": references.get(name)} for name in (names or [])],
    }
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def source_reference(request: HttpRequest, slug: str) -> HttpResponse:
    """Choose a window of deliveries, confirm, and make it the source's drift reference."""
    source = get_object_or_404(DataSource, slug=slug)
    if not permissions.can_edit_source(request.user, source):
        raise PermissionDenied
    if request.method != "POST":
        return _reference_page(request, source, ReferenceWindowForm())
    form = ReferenceWindowForm(request.POST)
    if not form.is_valid():
        return _reference_page(request, source, form, status=400)
    if request.POST.get("confirmed") != "1":
        # Every drift verdict changes with the reference: say what will be set, then ask.
        return _reference_page(
            request, source, form, template="registry/source_reference_confirm.html"
        )
    try:
        created = services.reference_profile_from_window(
            source=source,
            by=request.user,
            start=form.cleaned_data["start"],
            end=form.cleaned_data["end"],
            names=form.cleaned_data["names"] or None,
        )
    except ApplicationError as exc:
        _service_error(form, exc, fields={"fields": "names"})
        return _reference_page(request, source, form, status=400)
    messages.success(
        request,
        ngettext(
            "A new reference was set for %(count)d field: %(names)s.",
            "New references were set for %(count)d fields: %(names)s.",
            len(created),
        )
        % {"count": len(created), "names": ", ".join(ref.field for ref in created)},
    )
    return redirect("registry:source_detail", slug=source.slug)
