"""The demo data that `make run` loads; idempotent, so loading twice changes nothing.

Every feature adds its objects here, so the demo always shows all that is built.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from core.roles import Role
from governance import services as governance
from governance.services import escalations
from portal.demo_assessment import demo_assessment_load
from portal.demo_quality import demo_sources_load
from portal.demo_rollout import demo_evidence_load, demo_rollout_load
from registry.models import AISystem, MetricSpec, ModelVersion, content_hash
from registry.rollups import hour_start
from registry.validation import ValidPoint
from registry.writer import store_points


@dataclass(frozen=True)
class DemoUser:
    """A demo login: one per role, plus an administrator."""

    username: str
    full_name: str
    role: Role | None
    password: str
    is_admin: bool = False


DEMO_USERS = [
    DemoUser("director", "Dana Director", Role.OPERATIONS_DIRECTOR, "demo-director"),
    DemoUser("owner", "Omar Owner", Role.SYSTEM_OWNER, "demo-owner"),
    DemoUser("approver", "Ada Approver", Role.APPROVER, "demo-approver"),
    DemoUser("bulead", "Bo Unitlead", Role.BUSINESS_UNIT_LEAD, "demo-bulead"),
    DemoUser("viewer", "Vic Viewer", Role.VIEWER, "demo-viewer"),
    DemoUser("admin", "Alex Admin", None, "demo-admin", is_admin=True),
]


@transaction.atomic
def demo_users_load() -> list[DemoUser]:
    """Create or reset the demo logins, each in its role group."""
    user_model = get_user_model()
    for demo in DEMO_USERS:
        first, _, last = demo.full_name.partition(" ")
        user, _created = user_model.objects.update_or_create(
            username=demo.username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{demo.username}@demo.invalid",
                "is_active": True,
                "is_staff": demo.is_admin,
                "is_superuser": demo.is_admin,
            },
        )
        # Reset every time so that the printed passwords are always the right ones.
        user.set_password(demo.password)
        user.save(update_fields=["password"])
        if demo.role:
            # get_or_create: a database flushed by a test runner has lost the migration's groups.
            user.groups.set([Group.objects.get_or_create(name=demo.role.value)[0]])
    return DEMO_USERS


# --- Registry: systems, versions, metrics and their history -----------------------------

DEMO_SYSTEMS = [
    {
        "slug": "customer-service-assistant",
        "name": "Customer-service assistant",
        "purpose": "Drafts answers to retail customers' chat questions for agents to send.",
        "business_unit": "Retail banking",
        "risk_tier": "high",
        "stage": "staged_rollout",
        "versions": [("3.0.0", "deployed", 60), ("3.1.0", "candidate", 10)],
    },
    {
        "slug": "loan-document-classifier",
        "name": "Loan document classifier",
        "purpose": "Sorts incoming loan documents (payslips, statements, IDs) for underwriters.",
        "business_unit": "Lending operations",
        "risk_tier": "critical",
        "stage": "ownership_governance",
        "versions": [("1.4.2", "deployed", 60)],
    },
    {
        "slug": "logistics-eta-predictor",
        "name": "Logistics ETA predictor",
        "purpose": "Predicts parcel arrival times shown to customers and dispatchers.",
        "business_unit": "Logistics",
        "risk_tier": "medium",
        "stage": "evaluation_infrastructure",
        "versions": [("0.9.0", "candidate", 30)],
    },
    {
        "slug": "card-fraud-screener",
        "name": "Card fraud screener",
        "purpose": "Scores card authorisations for fraud; high scores go to the fraud analysts.",
        "business_unit": "Cards",
        "risk_tier": "medium",
        "stage": "staged_rollout",
        "versions": [("2.3.0", "deployed", 60), ("2.4.0", "candidate", 3)],
    },
    {
        "slug": "branch-queue-forecaster",
        "name": "Branch queue forecaster",
        "purpose": "Forecasts tomorrow's queue at each branch so managers can plan their rota.",
        "business_unit": "Branch network",
        "risk_tier": "low",
        "stage": "production",
        "versions": [("1.2.0", "deployed", 60)],
    },
    {
        "slug": "contract-reviewer",
        "name": "Contract reviewer",
        "purpose": "Flags non-standard clauses in supplier contracts for the legal team.",
        "business_unit": "Legal",
        "risk_tier": "high",
        "stage": "operational_architecture",
        "versions": [("0.3.0", "candidate", 14)],
    },
]

# (key, name, kind, unit, direction, warning, critical, aggregation, typical, noise)
DEMO_METRICS = [
    (
        "output_quality",
        "Output quality",
        "quality",
        "",
        "higher_is_better",
        0.90,
        0.85,
        "mean",
        0.93,
        0.012,
    ),
    (
        "latency_ms",
        "Response latency",
        "latency",
        "ms",
        "lower_is_better",
        800,
        1500,
        "p95",
        420,
        90,
    ),
    (
        "error_rate",
        "Integration error rate",
        "integration",
        "",
        "lower_is_better",
        0.01,
        0.02,
        "mean",
        0.004,
        0.002,
    ),
    (
        "adoption",
        "User adoption",
        "adoption",
        "",
        "higher_is_better",
        0.30,
        0.15,
        "last",
        0.45,
        0.02,
    ),
]
DEMO_HISTORY_DAYS = 60


def _demo_value(rng: random.Random, metric: tuple, hours_ago: int, *, incident: bool) -> float:
    """A plausible value: the typical level, a daily rhythm, noise, and incidents."""
    key, *_, typical, noise = metric
    daily = math.sin(2 * math.pi * ((hours_ago % 24) / 24))
    value = typical + noise * (0.6 * daily + rng.gauss(0, 1))
    if incident:
        # An incident: quality drops, latency and errors rise for a few hours.
        value = {
            "output_quality": typical - 0.09,
            "latency_ms": typical * 3.5,
            "error_rate": typical * 6,
        }.get(key, value)
    if key == "adoption":
        value = typical * (1 - hours_ago / (DEMO_HISTORY_DAYS * 24 * 1.6))
    if key in ("output_quality", "error_rate", "adoption"):
        return round(min(max(value, 0.0), 1.0), 4)
    return round(max(value, 1.0), 1)


@transaction.atomic
def demo_registry_load() -> None:
    """Create the demo systems with versions and metrics, and fill in hourly history.

    History runs up to the current hour; points are identified by their time,
    so loading again adds only the hours since the last load.
    """
    now_hour = hour_start(timezone.now())
    for index, spec in enumerate(DEMO_SYSTEMS):
        fields = {k: v for k, v in spec.items() if k not in ("slug", "versions")}
        system, _created = AISystem.objects.get_or_create(slug=spec["slug"], defaults=fields)
        versions = {}
        for version, status, days_ago in spec["versions"]:
            uri = f"s3://models/{system.slug}/{version}"
            versions[version], _ = ModelVersion.objects.get_or_create(
                system=system,
                version=version,
                defaults={
                    "artifact_uri": uri,
                    "status": status,
                    "content_hash": content_hash(version=version, artifact_uri=uri, parameters={}),
                    "training_source": f"{system.slug}-labelled-2026",
                    "training_rows": 40_000 * (index + 2),
                    "training_labelled_share": 0.2 + 0.1 * index,
                    "deployed_at": now_hour - timedelta(days=days_ago)
                    if status == "deployed"
                    else None,
                },
            )
            if status == "deployed" and system.deployed_version_id is None:
                AISystem.objects.filter(pk=system.pk).update(deployed_version=versions[version])
        specs = {}
        for metric in DEMO_METRICS:
            key, name, kind, unit, direction, warning, critical, aggregation, *_ = metric
            specs[key], _ = MetricSpec.objects.get_or_create(
                system=system,
                key=key,
                defaults={
                    "name": name,
                    "kind": kind,
                    "unit": unit,
                    "direction": direction,
                    "warning": warning,
                    "critical": critical,
                    "aggregation": aggregation,
                    "expected_interval_seconds": 3600,
                    "pending_seconds": 1800,
                },
            )
        _demo_history_load(system, spec, versions, specs, now_hour, seed=index)


def _demo_history_load(system, spec, versions, specs, now_hour, *, seed: int) -> None:
    """Hourly points for every metric over the last DEMO_HISTORY_DAYS days."""
    sketch_ids = frozenset(s.pk for s in specs.values() if s.aggregation == "p95")
    for version_name, _status, days_ago in spec["versions"]:
        version = versions[version_name]
        hours = min(days_ago, DEMO_HISTORY_DAYS) * 24
        # The same seed per hour, so a reload regenerates identical values.
        points = []
        for hours_ago in range(hours, 0, -1):
            at = now_hour - timedelta(hours=hours_ago)
            rng = random.Random(f"{system.slug}:{version_name}:{at.isoformat()}")
            incident = (at.timestamp() // 3600 + seed * 97) % 509 < 4
            for metric in DEMO_METRICS:
                points.append(
                    ValidPoint(
                        metric_id=specs[metric[0]].pk,
                        at=at,
                        value=_demo_value(rng, metric, hours_ago, incident=incident),
                    )
                )
        for start in range(0, len(points), 5000):
            store_points(
                system_id=system.pk,
                version_id=version.pk,
                points=points[start : start + 5000],
                received_at=timezone.now(),
                sketch_metric_ids=sketch_ids,
            )


# --- Governance: owners, signatures, AI-ops staff, business-unit leads --------------------

DEMO_OWNERSHIP = {
    # slug: (budget authority, owner signs?, AI-ops member, lead's business unit, lead attested?)
    # AI-ops members handle escalations, so the read-only `viewer` login must not be one.
    "customer-service-assistant": (
        "Up to HKD 3m a year, cost centre 4410",
        True,
        "director",
        "Retail banking",
        True,
    ),
    "loan-document-classifier": (
        "Up to HKD 1.5m a year, cost centre 5120",
        False,
        None,
        "Lending operations",
        False,
    ),
    "card-fraud-screener": (
        "Up to HKD 2m a year, cost centre 6230",
        True,
        "director",
        "Cards",
        True,
    ),
}


@transaction.atomic
def demo_governance_load() -> None:
    """Owners for three systems: two signed and staffed, one waiting for its owner and lead."""
    users = {
        user.username: user
        for user in get_user_model().objects.filter(
            username__in=["director", "owner", "viewer", "bulead"]
        )
    }
    for slug, (budget, signs, member, unit, attested) in DEMO_OWNERSHIP.items():
        system = AISystem.objects.get(slug=slug)
        ownership = governance.ownership_for(system)
        if ownership.owner_id is None:
            governance.ownership_assign(
                system=system,
                by=users["director"],
                owner=users["owner"],
                budget_authority=budget,
                reason="demo",
            )
        if signs and not system.accountability_signatures.filter(voided_at__isnull=True).exists():
            governance.accountability_sign(system=system, by=users["owner"])
        if member and not system.ai_ops_members.exists():
            governance.ai_ops_member_add(system=system, by=users["director"], user=users[member])
        lead = system.business_unit_leads.filter(user=users["bulead"]).first()
        if lead is None:
            lead = governance.business_unit_lead_add(
                system=system, by=users["director"], user=users["bulead"], business_unit=unit
            )
        if attested and lead.briefing_attested_at is None:
            governance.briefing_attest(lead=lead, by=users["bulead"])


@transaction.atomic
def demo_changes_and_escalations_load() -> None:
    """A change request waiting for review, and an open escalation from a pipeline."""
    users = {
        user.username: user
        for user in get_user_model().objects.filter(username__in=["owner", "director"])
    }
    assistant = AISystem.objects.get(slug="customer-service-assistant")
    candidate = ModelVersion.objects.get(system=assistant, version="3.1.0")
    if not candidate.change_requests.exists():
        change = governance.change_request_open(
            system=assistant,
            by=users["owner"],
            kind="model_update",
            title="Roll out assistant 3.1.0",
            description="3.1.0 is retrained on Q3 chat transcripts with the new product catalogue.",
            rationale="Fewer wrong answers about the new credit-card fees in the pilot branches.",
            model_version=candidate,
        )
        governance.change_request_submit(change=change, by=users["owner"])
    classifier = AISystem.objects.get(slug="loan-document-classifier")
    if not classifier.escalations.filter(dedup_key="report:ocr:branch-0412").exists():
        escalations.escalation_raise(
            system=classifier,
            source="pipeline_report",
            severity="warning",
            title="Unreadable payslip scans from branch 0412",
            dedup_key="report:ocr:branch-0412",
            details={"documents": 17, "scanner": "branch 0412, floor 2"},
        )


def demo_load() -> list[DemoUser]:
    """Load every part of the demo; returns the logins to print."""
    users = demo_users_load()
    demo_registry_load()
    demo_governance_load()
    demo_changes_and_escalations_load()
    demo_sources_load()
    demo_rollout_load()
    demo_assessment_load()  # after the others: the plans are drawn from the final evidence
    demo_evidence_load()  # last: the pack holds everything above
    return users


def logins_table() -> str:
    """The demo logins as aligned text, for the terminal."""
    rows = [
        (d.username, d.password, d.role.label if d.role else "Administrator") for d in DEMO_USERS
    ]
    return "\n".join(f"  {user:<10} {password:<15} {role}" for user, password, role in rows)
