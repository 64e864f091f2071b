"""The demo's data sources: five upstream systems with 35 days of deliveries and profiles.

Each shows a different part of the data-quality dashboard: two healthy
sources, one whose distribution drifts over the last ten days (drift fails),
one with a schema change and a patchy field (warnings), and one stream that
stopped three hours ago (freshness fails). Like the rest of the demo it is
idempotent: deliveries are identified by their time, so loading again adds
only the intervals since the last load, with values drawn from a seed per
interval.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from registry import services
from registry.models import (
    AISystem,
    DataSource,
    FieldProfile,
    IntegrationRun,
    ReferenceProfile,
    SourceDelivery,
)
from registry.rollups import hour_start

HISTORY_DAYS = 35
# The reference is the first calm week of the history.
REFERENCE_WINDOW = (HISTORY_DAYS, HISTORY_DAYS - 7)


@dataclass(frozen=True)
class DemoField:
    """A profiled field: numbers in bins (edges and bin shares) or categories with shares."""

    name: str
    type: str
    missing: float
    edges: tuple[float, ...] = ()
    shares: tuple[float, ...] = ()
    categories: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class DemoSource:
    """One demo source and what makes it interesting."""

    slug: str
    name: str
    kind: str
    description: str
    owner: str
    interval_hours: float
    rows: int
    feeds: tuple[str, ...]
    schema: dict
    fields: tuple[DemoField, ...]
    failed_share: float = 0.0
    drifting_field: str = ""
    stopped_hours: int = 0
    extra_field: DemoField | None = None


BALANCE = DemoField(
    "balance_hkd",
    "float",
    0.003,
    edges=(0, 1_000, 5_000, 20_000, 100_000, 1_000_000),
    shares=(0.22, 0.31, 0.27, 0.15, 0.05),
)
SEGMENT = DemoField(
    "segment",
    "string",
    0.0,
    categories=(("retail", 0.71), ("premier", 0.22), ("private", 0.07)),
)
CHANNEL = DemoField(
    "channel", "string", 0.01, categories=(("app", 0.58), ("web", 0.3), ("branch", 0.12))
)
TRANSIT = DemoField(
    "transit_hours",
    "float",
    0.004,
    edges=(0, 12, 24, 36, 48, 72, 120),
    shares=(0.15, 0.35, 0.25, 0.12, 0.08, 0.05),
)
CARRIER = DemoField(
    "carrier",
    "string",
    0.0,
    categories=(("sf-express", 0.41), ("kerry", 0.33), ("dhl", 0.18), ("local", 0.08)),
)

DEMO_SOURCES = [
    DemoSource(
        slug="core-banking-crm",
        name="Core-banking CRM",
        kind="crm",
        description="Customer profiles and balances, extracted every hour for the assistant.",
        owner="owner",
        interval_hours=1,
        rows=48_000,
        feeds=("customer-service-assistant", "card-fraud-screener"),
        schema={"balance_hkd": "float", "segment": "string", "channel": "string"},
        fields=(BALANCE, SEGMENT, CHANNEL),
    ),
    DemoSource(
        slug="loan-origination-erp",
        name="Loan-origination ERP",
        kind="erp",
        description="Applications and their documents' metadata from the lending ERP.",
        owner="owner",
        interval_hours=1,
        rows=6_500,
        feeds=("loan-document-classifier",),
        schema={"balance_hkd": "float", "segment": "string"},
        fields=(BALANCE, SEGMENT),
        failed_share=0.006,
    ),
    DemoSource(
        slug="carrier-tracking-api",
        name="Carrier tracking API",
        kind="api",
        description="Scan events from the parcel carriers; the ETA predictor's main input.",
        owner="director",
        interval_hours=1,
        rows=12_000,
        feeds=("logistics-eta-predictor",),
        schema={"transit_hours": "float", "carrier": "string"},
        fields=(TRANSIT, CARRIER),
        drifting_field="transit_hours",
    ),
    DemoSource(
        slug="contract-repository",
        name="Contract repository export",
        kind="file",
        description="The nightly export of signed supplier contracts for the contract reviewer.",
        owner="director",
        interval_hours=24,
        rows=1_800,
        feeds=("contract-reviewer",),
        schema={"counterparty": "string", "value_hkd": "float"},
        fields=(
            DemoField("counterparty", "string", 0.07, categories=(("supplier", 0.8), ("jv", 0.2))),
            DemoField(
                "value_hkd",
                "float",
                0.01,
                edges=(0, 100_000, 1_000_000, 10_000_000, 100_000_000),
                shares=(0.4, 0.35, 0.2, 0.05),
            ),
        ),
        extra_field=DemoField(
            "governing_law", "string", 0.02, categories=(("hk", 0.7), ("uk", 0.2), ("sg", 0.1))
        ),
    ),
    DemoSource(
        slug="branch-scanner-feed",
        name="Branch scanner feed",
        kind="stream",
        description="Document scans from the branches, in 15-minute batches.",
        owner="owner",
        interval_hours=0.25,
        rows=900,
        feeds=("loan-document-classifier",),
        schema={},
        fields=(),
        stopped_hours=3,
    ),
]


def _drifted(shares: tuple[float, ...], strength: float) -> list[float]:
    """Move mass from the lower bins to the higher ones (parcels take longer)."""
    weights = [share * (1 + strength * (i - len(shares) / 2)) for i, share in enumerate(shares)]
    weights = [max(w, 0.001) for w in weights]
    total = sum(weights)
    return [w / total for w in weights]


def _counts(rng: random.Random, rows: int, shares: list[float]) -> list[int]:
    return [max(int(rows * share * rng.uniform(0.93, 1.07)), 0) for share in shares]


def _profile(
    rng: random.Random, field: DemoField, rows: int, *, strength: float
) -> dict[str, object]:
    missing = min(max(field.missing * rng.uniform(0.6, 1.4), 0.0), 1.0)
    present = int(rows * (1 - missing))
    values: dict[str, object] = {
        "field": field.name,
        "observed_type": field.type,
        "missing_share": round(missing, 4),
        "rows": rows,
    }
    if field.edges:
        shares = _drifted(field.shares, strength) if strength else list(field.shares)
        values.update(edges=list(field.edges), counts=_counts(rng, present, shares))
    else:
        names = [name for name, _ in field.categories]
        counts = _counts(rng, present, [share for _, share in field.categories])
        values.update(categories=dict(zip(names, counts, strict=True)))
    return values


def _delivery_times(demo: DemoSource, now: datetime) -> list[datetime]:
    step = timedelta(hours=demo.interval_hours)
    if demo.interval_hours >= 24:
        # A nightly file: every day at 02:00 UTC.
        last = now.replace(hour=2, minute=0, second=0, microsecond=0)
        if last > now:
            last -= timedelta(days=1)
    else:
        last = hour_start(now)
        while last + step <= now:
            last += step
    last -= timedelta(hours=demo.stopped_hours)
    count = int(timedelta(days=HISTORY_DAYS) / step)
    return [last - k * step for k in range(count, -1, -1)]


def _history_load(source: DataSource, demo: DemoSource, now: datetime) -> None:
    """Deliveries, their field profiles and the daily integration runs, up to now."""
    times = _delivery_times(demo, now)
    known = set(SourceDelivery.objects.filter(source=source).values_list("at", flat=True))
    new_times = [at for at in times if at not in known]
    rows_at = {}
    for at in new_times:
        rng = random.Random(f"{demo.slug}:{at.isoformat()}")
        # Fewer rows at night, and noise, so the volume band has a width.
        night = 0.8 if at.hour < 6 else 1.0
        rows_at[at] = int(demo.rows * night * rng.uniform(0.9, 1.1))
    SourceDelivery.objects.bulk_create(
        SourceDelivery(source=source, at=at, rows=rows_at[at], received_at=at) for at in new_times
    )
    if demo.fields and new_times:
        deliveries = SourceDelivery.objects.filter(source=source, at__in=new_times)
        profiles = []
        for delivery in deliveries:
            rng = random.Random(f"{demo.slug}:fields:{delivery.at.isoformat()}")
            days_ago = (now - delivery.at) / timedelta(days=1)
            fields = list(demo.fields)
            if demo.extra_field and days_ago < 4:
                fields.append(demo.extra_field)  # a column that appeared four days ago
            for field in fields:
                strength = 0.0
                if field.name == demo.drifting_field and days_ago < 10:
                    strength = 0.09 * (10 - days_ago)
                profiles.append(
                    FieldProfile(
                        delivery=delivery, **_profile(rng, field, delivery.rows, strength=strength)
                    )
                )
        FieldProfile.objects.bulk_create(profiles, batch_size=2000)
    if demo.fields:
        _integration_runs_load(source, demo, now)


def _integration_runs_load(source: DataSource, demo: DemoSource, now: datetime) -> None:
    """One integration-test run a day at 03:00 UTC."""
    last = now.replace(hour=3, minute=0, second=0, microsecond=0)
    if last > now:
        last -= timedelta(days=1)
    days = [last - timedelta(days=k) for k in range(HISTORY_DAYS, -1, -1)]
    known = set(IntegrationRun.objects.filter(source=source).values_list("at", flat=True))
    runs = []
    for at in days:
        if at in known:
            continue
        rng = random.Random(f"{demo.slug}:tests:{at.isoformat()}")
        total = 400 + rng.randrange(40)
        failed = round(total * demo.failed_share * rng.uniform(0.5, 1.5))
        runs.append(
            IntegrationRun(
                source=source, at=at, passed=total - failed, failed=failed, received_at=at
            )
        )
    IntegrationRun.objects.bulk_create(runs)


def demo_sources_load(*, now: datetime | None = None) -> list[DataSource]:
    """Create the demo sources (through the audited services), fill in history, evaluate them."""
    now = now or timezone.now()
    users = {
        user.username: user
        for user in get_user_model().objects.filter(username__in=["director", "owner"])
    }
    sources = []
    for demo in DEMO_SOURCES:
        with transaction.atomic():
            source = DataSource.objects.filter(slug=demo.slug).first()
            if source is None:
                source = services.data_source_create(
                    by=users["director"],
                    slug=demo.slug,
                    name=demo.name,
                    kind=demo.kind,
                    description=demo.description,
                    owner=users[demo.owner],
                    expected_interval_seconds=int(demo.interval_hours * 3600),
                    expected_schema=demo.schema,
                    systems=AISystem.objects.filter(slug__in=demo.feeds),
                )
            _history_load(source, demo, now)
        if demo.fields and not ReferenceProfile.objects.filter(source=source).exists():
            start, end = (now - timedelta(days=days) for days in REFERENCE_WINDOW)
            services.reference_profile_from_window(
                source=source, by=users["director"], start=start, end=end
            )
        services.data_source_evaluate(source_id=source.pk, now=now)
        sources.append(source)
    return sources
