"""Reads of the data-quality dashboard and a source's drill-down.

The dashboard's query count does not depend on the number of sources: the
sources, their checks, the systems they feed and the daily sparkline
aggregates are each one query for the whole page.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from registry.choices import (
    GRID_CHECKS,
    STATUS_RANK,
    CheckStatus,
    QualityCheck,
    TokenKind,
)
from registry.models import (
    AISystem,
    ApiToken,
    DataSource,
    FieldProfile,
    ReferenceProfile,
    SourceCheck,
    SourceDelivery,
)

DASHBOARD_DAYS = 30


def data_sources_filtered(
    *, kind: str = "", status: str = "", system: str = "", query: str = ""
) -> QuerySet[DataSource]:
    """Sources for the dashboard and the API, with owner, systems and checks prefetched.

    `status` keeps the sources with at least one check in that status ("fail",
    "warn", "insufficient_data", or "ok" for sources with every check ok).
    """
    sources = DataSource.objects.select_related("owner").prefetch_related(
        Prefetch("systems", queryset=AISystem.objects.only("pk", "slug", "name").order_by("name")),
        Prefetch("checks", queryset=SourceCheck.objects.order_by("kind")),
    )
    if kind:
        sources = sources.filter(kind=kind)
    if system:
        sources = sources.filter(systems__slug=system)
    if query:
        sources = sources.filter(Q(name__icontains=query) | Q(slug__icontains=query))
    if status == CheckStatus.OK:
        # Evaluated, and no check in any other status.
        sources = sources.filter(checks__isnull=False).exclude(
            checks__status__in=[s for s in CheckStatus if s != CheckStatus.OK]
        )
    elif status in CheckStatus.values:
        sources = sources.filter(checks__status=status)
    return sources.distinct().order_by("name")


@dataclass
class SourceRow:
    """One line of the dashboard: a source, its checks by kind, and its sparkline data."""

    source: DataSource
    checks: dict[str, SourceCheck | None]
    uptime: SourceCheck | None
    systems: list[AISystem]
    worst: str
    days: list[str] = field(default_factory=list)
    volume: list[int | None] = field(default_factory=list)
    drift: list[float | None] = field(default_factory=list)

    @property
    def grid(self) -> list[tuple[str, SourceCheck | None]]:
        return [(kind, self.checks.get(kind)) for kind in GRID_CHECKS]


def dashboard_rows(sources: list[DataSource], *, now: datetime | None = None) -> list[SourceRow]:
    """The dashboard's rows for a page of sources (prefetched by data_sources_filtered).

    One extra query: the daily volume and largest drift of every source of the
    page over the last 30 days, for the sparklines.
    """
    now = now or timezone.now()
    first_day = (now - timedelta(days=DASHBOARD_DAYS - 1)).astimezone(UTC).date()
    days = [first_day + timedelta(days=offset) for offset in range(DASHBOARD_DAYS)]
    daily: dict[int, dict[Any, tuple[int | None, float | None]]] = defaultdict(dict)
    aggregates = (
        SourceDelivery.objects.filter(
            source__in=[source.pk for source in sources],
            at__gte=datetime.combine(first_day, datetime.min.time(), tzinfo=UTC),
        )
        .annotate(day=TruncDate("at", tzinfo=UTC))
        .values("source_id", "day")
        .annotate(rows=Sum("rows"), drift=Max("drift_max"))
    )
    for item in aggregates:
        daily[item["source_id"]][item["day"]] = (item["rows"], item["drift"])
    rows = []
    for source in sources:
        checks = {check.kind: check for check in source.checks.all()}
        # A check not evaluated yet counts as unjudged, never as passing.
        statuses = [
            checks[kind].status if kind in checks else CheckStatus.INSUFFICIENT_DATA
            for kind in GRID_CHECKS
        ]
        series = daily.get(source.pk, {})
        rows.append(
            SourceRow(
                source=source,
                checks=checks,
                uptime=checks.get(QualityCheck.UPTIME),
                systems=list(source.systems.all()),
                worst=max(statuses, key=STATUS_RANK.__getitem__),
                days=[day.isoformat() for day in days],
                volume=[series.get(day, (None, None))[0] for day in days],
                drift=[series.get(day, (None, None))[1] for day in days],
            )
        )
    return rows


def dashboard_summary() -> dict[str, int]:
    """How many sources are failing, warning, unjudged and healthy (each by its worst check)."""
    per_source = list(
        SourceCheck.objects.filter(kind__in=GRID_CHECKS)
        .values("source_id")
        .annotate(
            fail=Count("pk", filter=Q(status=CheckStatus.FAIL)),
            warn=Count("pk", filter=Q(status=CheckStatus.WARN)),
            unjudged=Count("pk", filter=Q(status=CheckStatus.INSUFFICIENT_DATA)),
        )
    )
    summary = {"total": DataSource.objects.count(), "fail": 0, "warn": 0, "insufficient_data": 0}
    for item in per_source:
        if item["fail"]:
            summary["fail"] += 1
        elif item["warn"]:
            summary["warn"] += 1
        elif item["unjudged"]:
            summary["insufficient_data"] += 1
    # A source never evaluated has no check row at all: unjudged, never healthy.
    summary["insufficient_data"] += summary["total"] - len(per_source)
    summary["ok"] = summary["total"] - summary["fail"] - summary["warn"]
    summary["ok"] -= summary["insufficient_data"]
    return summary


def data_source_detail(slug: str) -> DataSource | None:
    """One source with what its page shows beside it."""
    return data_sources_filtered().filter(slug=slug).first()


def source_deliveries(source: DataSource) -> QuerySet[SourceDelivery]:
    """A source's deliveries, newest first, with how many fields each profiled."""
    return (
        SourceDelivery.objects.filter(source=source)
        .annotate(field_count=Count("fields"))
        .order_by("-at")
    )


def source_charts(source: DataSource, *, now: datetime | None = None) -> dict[str, Any]:
    """The drill-down's history charts over 30 days: volume, missing share and PSI per field."""
    now = now or timezone.now()
    start = now - timedelta(days=DASHBOARD_DAYS)
    deliveries = list(
        SourceDelivery.objects.filter(source=source, at__gte=start)
        .order_by("at")
        .values_list("at", "rows")
    )
    per_field: dict[str, dict[str, list]] = defaultdict(
        lambda: {"at": [], "psi": [], "missing": []}
    )
    profiles = (
        FieldProfile.objects.filter(delivery__source=source, delivery__at__gte=start)
        .order_by("field", "delivery__at")
        .values_list("field", "delivery__at", "psi", "missing_share")
    )
    for name, at, psi, missing in profiles:
        series = per_field[name]
        series["at"].append(at.isoformat())
        series["psi"].append(psi)
        series["missing"].append(missing)
    return {
        "volume": {
            "at": [at.isoformat() for at, rows in deliveries if rows is not None],
            "rows": [rows for _at, rows in deliveries if rows is not None],
        },
        "fields": dict(per_field),
        "levels": {
            "psi_warn": source.psi_warn,
            "psi_fail": source.psi_fail,
            "completeness_warn": source.completeness_warn,
            "completeness_fail": source.completeness_fail,
        },
    }


def source_distributions(source: DataSource) -> list[dict[str, Any]]:
    """Reference vs current distribution of each field of the newest profiled delivery."""
    delivery = (
        SourceDelivery.objects.filter(source=source, fields__isnull=False).order_by("-at").first()
    )
    if delivery is None:
        return []
    references = source_references(source)
    result = []
    for profile in delivery.fields.order_by("field"):
        if profile.edges is None and profile.categories is None:
            continue
        ref = references.get(profile.field)
        entry: dict[str, Any] = {
            "field": profile.field,
            "delivery_at": delivery.at.isoformat(),
            "delivered": delivery.at,
            "rows_current": profile.sample_rows,
            "reference_version": ref.version if ref else None,
            "rows_reference": ref.rows if ref else 0,
            "psi": profile.psi,
            "wasserstein": profile.wasserstein,
        }
        if profile.edges is not None:
            entry.update(
                kind="numeric",
                edges=profile.edges,
                current=profile.counts,
                reference=ref.counts if ref and ref.edges == profile.edges else None,
            )
        else:
            categories = sorted(set(profile.categories) | set(ref.categories if ref else {}))
            entry.update(
                kind="categorical",
                categories=categories,
                current=[profile.categories.get(c, 0) for c in categories],
                reference=[ref.categories.get(c, 0) for c in categories]
                if ref and ref.categories is not None
                else None,
            )
        result.append(entry)
    return result


def source_references(source: DataSource) -> dict[str, ReferenceProfile]:
    """The newest reference version of each field."""
    references: dict[str, ReferenceProfile] = {}
    for ref in ReferenceProfile.objects.filter(source=source).order_by("field", "-version"):
        references.setdefault(ref.field, ref)
    return references


def source_tokens(source: DataSource) -> QuerySet[ApiToken]:
    """A source's pipeline tokens, newest first."""
    return (
        ApiToken.objects.filter(data_source=source, kind=TokenKind.SOURCE)
        .select_related("created_by")
        .order_by("-created_at")
    )


def system_upstream_issues(system: AISystem) -> list[SourceCheck]:
    """The failing checks of the sources that feed a system ("upstream data issue"); one query."""
    return list(
        SourceCheck.objects.filter(source__systems=system, status=CheckStatus.FAIL)
        .select_related("source")
        .order_by("source__name", "kind")
    )
