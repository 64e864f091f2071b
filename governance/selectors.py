"""Reads of the governance app that feed pages and exports."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Case, Count, Prefetch, Q, QuerySet, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance import assessment
from governance.choices import EscalationSource
from governance.models import (
    DEFAULT_ACCOUNTABILITY_STATEMENT,
    AccountabilitySignature,
    ActionItem,
    AiOpsMember,
    Approval,
    AssessmentAnswer,
    AuditEvent,
    BusinessUnitLead,
    ChangeRequest,
    Escalation,
    SystemOwnership,
)
from registry.choices import Granularity, MetricKind
from registry.models import (
    AISystem,
    DataSource,
    MetricRollup,
    MetricSpec,
    ModelVersion,
    SourceCheck,
)
from registry.selectors import daily_value


def _day_start(day: date) -> datetime:
    """Midnight starting `day`, in the portal's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def audit_events(filters: Mapping[str, Any]) -> QuerySet[AuditEvent]:
    """Audit events matching the filters, newest first.

    `filters` (all optional, as AuditFilterForm cleans them): `system` (a
    slug), `actor` (part of the actor's label, any case), `action` (exact),
    `date_from` and `date_to` (dates, both days included).
    """
    events = AuditEvent.objects.order_by("-id")
    slug = filters.get("system")
    if slug:
        system_id = AISystem.objects.filter(slug=slug).values_list("pk", flat=True).first()
        # system_id is indexed; the slug is kept for the history of a deleted system.
        events = (
            events.filter(system_id=system_id)
            if system_id is not None
            else events.filter(system_slug=slug)
        )
    if filters.get("actor"):
        events = events.filter(actor_label__icontains=filters["actor"])
    if filters.get("action"):
        events = events.filter(action=filters["action"])
    if filters.get("date_from"):
        events = events.filter(at__gte=_day_start(filters["date_from"]))
    if filters.get("date_to"):
        events = events.filter(at__lt=_day_start(filters["date_to"] + timedelta(days=1)))
    return events


def audit_actions() -> list[str]:
    """Every action recorded so far, sorted (the action filter's choices)."""
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())


def audit_systems() -> list[tuple[str, str]]:
    """(slug, name) of every registered system, by name (the system filter's choices)."""
    return list(AISystem.objects.order_by("name", "slug").values_list("slug", "name"))


# --- Ownership and accountability --------------------------------------------------------


@dataclass(frozen=True)
class OwnershipStatus:
    """Everything the ownership page and the readiness indicators 4 and 7 need for a system."""

    ownership: SystemOwnership
    signature: AccountabilitySignature | None
    lapsed_signature: AccountabilitySignature | None
    ai_ops: list[AiOpsMember]
    leads: list[BusinessUnitLead]

    @property
    def owner_active(self) -> bool:
        owner = self.ownership.owner
        return owner is not None and owner.is_active

    @property
    def signed(self) -> bool:
        return self.signature is not None

    @property
    def leads_attested(self) -> int:
        return sum(1 for lead in self.leads if lead.briefing_attested_at)

    @property
    def orphan_reasons(self) -> list[str]:
        """Why the system counts as orphaned: an inactive owner, or a lapsed signature."""
        reasons = []
        if self.ownership.owner is not None and not self.ownership.owner.is_active:
            reasons.append(str(_("the owner's account is inactive")))
        if self.signature is None and self.lapsed_signature is not None:
            reasons.append(str(_("the accountability signature lapsed")))
        return reasons

    @property
    def is_orphan(self) -> bool:
        return bool(self.orphan_reasons)


def ownership_status(system: AISystem, *, now: datetime | None = None) -> OwnershipStatus:
    """The ownership, the signature in force (unexpired), members and leads of a system."""
    now = now or timezone.now()
    ownership = SystemOwnership.objects.select_related("owner").filter(
        system=system
    ).first() or SystemOwnership(system=system, statement=str(DEFAULT_ACCOUNTABILITY_STATEMENT))
    live = (
        AccountabilitySignature.objects.select_related("signer")
        .filter(system=system, voided_at__isnull=True)
        .first()
    )
    signature = live if live and live.expires_at > now else None
    lapsed = live if live and live.expires_at <= now else None
    return OwnershipStatus(
        ownership=ownership,
        signature=signature,
        lapsed_signature=lapsed,
        ai_ops=list(AiOpsMember.objects.filter(system=system).select_related("user")),
        leads=list(
            BusinessUnitLead.objects.filter(system=system).select_related("user").order_by("id")
        ),
    )


def orphaned_systems(*, now: datetime | None = None) -> list[tuple[AISystem, list[str]]]:
    """Systems whose owner is inactive or whose signature lapsed, with the reasons."""
    now = now or timezone.now()
    inactive = set(
        SystemOwnership.objects.filter(owner__is_active=False).values_list("system_id", flat=True)
    )
    lapsed = set(
        AccountabilitySignature.objects.filter(
            voided_at__isnull=True, expires_at__lte=now
        ).values_list("system_id", flat=True)
    )
    result = []
    for system in AISystem.objects.filter(pk__in=inactive | lapsed).order_by("name"):
        reasons = []
        if system.pk in inactive:
            reasons.append(str(_("the owner's account is inactive")))
        if system.pk in lapsed:
            reasons.append(str(_("the accountability signature lapsed")))
        result.append((system, reasons))
    return result


# --- Change requests ----------------------------------------------------------------------


def change_requests(
    *, state: str = "", system: str = "", system_id: int | None = None
) -> QuerySet[ChangeRequest]:
    """Change requests, newest first, with system, version and a count of live approvals.

    Filters (all optional): `state`, `system` (a slug) or `system_id`.
    """
    changes = (
        ChangeRequest.objects.select_related("system", "model_version", "requester")
        .annotate(
            live_approval_count=Count("approvals", filter=Q(approvals__voided_at__isnull=True))
        )
        .order_by("-created_at", "-id")
    )
    if state:
        changes = changes.filter(state=state)
    if system:
        changes = changes.filter(system__slug=system)
    if system_id is not None:
        changes = changes.filter(system_id=system_id)
    return changes


def change_request_detail() -> QuerySet[ChangeRequest]:
    """change_requests() with every approval (voided ones too) and its approver, oldest first."""
    approvals = Approval.objects.select_related("approver").order_by("decided_at", "id")
    return change_requests().prefetch_related(Prefetch("approvals", queryset=approvals))


# --- Root-cause assessment ------------------------------------------------------------------

ASSESSMENT_WINDOW = timedelta(days=30)


def _coefficient_of_variation(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.pstdev(values) / abs(mean) if mean else None


def assessment_evidence(
    systems: list[AISystem], *, now: datetime | None = None
) -> dict[int, assessment.Evidence]:
    """The evidence half of each system's root-cause scores, in a fixed number of queries."""
    now = now or timezone.now()
    ids = [system.pk for system in systems]
    facts: dict[int, dict] = {pk: {} for pk in ids}
    # 1 and 5: the sources each system reads, their checks.
    links = DataSource.systems.through.objects.filter(aisystem_id__in=ids).values_list(
        "aisystem_id", "datasource_id"
    )
    feeds: dict[int, list[int]] = defaultdict(list)
    for system_id, source_id in links:
        feeds[system_id].append(source_id)
    source_ids = {pk for pks in feeds.values() for pk in pks}
    schemas = dict(
        DataSource.objects.filter(pk__in=source_ids).values_list("pk", "expected_schema")
    )
    checks: dict[int, dict[str, SourceCheck]] = defaultdict(dict)
    for check in SourceCheck.objects.filter(source_id__in=source_ids).only(
        "source_id", "kind", "status", "value"
    ):
        checks[check.source_id][check.kind] = check
    for system_id, pks in feeds.items():
        rates = [
            checks[pk]["integration"].value
            for pk in pks
            if "integration" in checks[pk] and checks[pk]["integration"].value is not None
        ]
        psis = [
            checks[pk]["drift"].value
            for pk in pks
            if "drift" in checks[pk] and checks[pk]["drift"].value is not None
        ]
        schema = [checks[pk].get("schema") for pk in pks]
        facts[system_id].update(
            sources=len(pks),
            sources_without_schema=sum(not schemas.get(pk) for pk in pks),
            worst_integration_error_rate=max(rates) if rates else None,
            schema_failures=sum(c is not None and c.status == "fail" for c in schema),
            schema_warnings=sum(c is not None and c.status == "warn" for c in schema),
            sources_evaluated=sum(bool(checks.get(pk)) for pk in pks),
            worst_psi=max(psis) if psis else None,
        )
    # 2 and 3: metrics, their reporting and daily quality, threshold breaches.
    specs = list(MetricSpec.objects.filter(system_id__in=ids, required=True))
    reporting = set(
        MetricRollup.objects.filter(
            metric__in=specs,
            granularity=Granularity.HOUR,
            bucket_start__gte=now - timedelta(hours=48),
            last_at__gte=now - timedelta(hours=24),
        ).values_list("metric_id", flat=True)
    )
    quality = [spec for spec in specs if spec.kind == MetricKind.QUALITY]
    days: dict[int, dict] = defaultdict(lambda: defaultdict(list))
    for rollup in MetricRollup.objects.filter(
        metric__in=quality, granularity=Granularity.DAY, bucket_start__gte=now - ASSESSMENT_WINDOW
    ):
        days[rollup.metric_id][rollup.bucket_start].append(rollup)
    for spec in specs:
        entry = facts[spec.system_id]
        entry["required_metrics"] = entry.get("required_metrics", 0) + 1
        entry["reporting_metrics"] = entry.get("reporting_metrics", 0) + (spec.pk in reporting)
    for spec in quality:
        values = [
            value
            for rows in days.get(spec.pk, {}).values()
            if (value := daily_value(spec.aggregation, rows)) is not None
        ]
        entry = facts[spec.system_id]
        entry["quality_metrics"] = entry.get("quality_metrics", 0) + 1
        cv = _coefficient_of_variation(values)
        if cv is not None:
            entry["quality_cv"] = max(cv, entry.get("quality_cv") or 0.0)
    half = now - ASSESSMENT_WINDOW / 2
    for system_id, first_seen in Escalation.objects.filter(
        system_id__in=ids,
        source=EscalationSource.THRESHOLD_BREACH,
        first_seen__gte=now - ASSESSMENT_WINDOW,
    ).values_list("system_id", "first_seen"):
        key = "breaches_recent" if first_seen >= half else "breaches_before"
        facts[system_id][key] = facts[system_id].get(key, 0) + 1
    for system_id in Escalation.objects.filter(
        system_id__in=ids, is_test=True, acknowledged_at__gte=now - ASSESSMENT_WINDOW
    ).values_list("system_id", flat=True):
        facts[system_id]["alert_tested"] = True
    # 4: ownership.
    for ownership in SystemOwnership.objects.filter(system_id__in=ids).select_related("owner"):
        entry = facts[ownership.system_id]
        entry["owner"] = ownership.owner_id is not None
        entry["budget_authority"] = bool(ownership.budget_authority)
        entry["orphaned"] = bool(ownership.owner and not ownership.owner.is_active)
    for system_id, expires_at in AccountabilitySignature.objects.filter(
        system_id__in=ids, voided_at__isnull=True
    ).values_list("system_id", "expires_at"):
        if expires_at > now:
            facts[system_id]["signed"] = True
        else:
            facts[system_id]["orphaned"] = True
    for row in (
        AiOpsMember.objects.filter(system_id__in=ids).values("system_id").annotate(n=Count("pk"))
    ):
        facts[row["system_id"]]["ai_ops"] = row["n"]
    # 5: the training data of the deployed version (or the newest one).
    by_pk: dict[int, ModelVersion] = {}
    newest: dict[int, ModelVersion] = {}
    for version in ModelVersion.objects.filter(system_id__in=ids).order_by("registered_at", "pk"):
        by_pk[version.pk] = version
        newest[version.system_id] = version
    for system in systems:
        version = by_pk.get(system.deployed_version_id) or newest.get(system.pk)
        if version is not None:
            facts[system.pk]["training_rows"] = version.training_rows
            facts[system.pk]["labelled_share"] = version.training_labelled_share
    return {
        system.pk: assessment.Evidence(stage=system.stage, **facts[system.pk]) for system in systems
    }


def assessment_answers(system: AISystem) -> dict[str, int]:
    """A system's questionnaire answers: {question key: 0 to 4}."""
    return dict(AssessmentAnswer.objects.filter(system=system).values_list("question", "value"))


def system_assessment(system: AISystem, *, now: datetime | None = None) -> dict:
    """A system's five scores with their reasons, its answers and its action plan."""
    answers = assessment_answers(system)
    evidence = assessment_evidence([system], now=now)[system.pk]
    return {
        "answers": answers,
        "evidence": evidence,
        "scores": assessment.scores(evidence, answers),
        "items": list(
            ActionItem.objects.filter(system=system)
            .select_related("owner", "closed_by")
            # Open items first, then by priority and due date.
            .order_by(
                Case(When(status=ActionItem.Status.OPEN, then=0), default=1),
                "priority",
                "due_date",
            )
        ),
    }


def action_plan_preview(
    system: AISystem, state: dict, *, today: date
) -> list[assessment.PlannedAction]:
    """What generating the plan would add now: its actions never proposed for this system."""
    known = {item.key for item in state["items"]}
    planned = assessment.action_plan(state["scores"], stage=system.stage, today=today)
    return [action for action in planned if action.key not in known]


def portfolio_assessment(*, now: datetime | None = None) -> list[tuple[AISystem, list]]:
    """Every system with its five scores: the portfolio's heat map."""
    systems = list(AISystem.objects.select_related("deployed_version").order_by("name"))
    evidence = assessment_evidence(systems, now=now)
    answers: dict[int, dict[str, int]] = defaultdict(dict)
    for system_id, question, value in AssessmentAnswer.objects.values_list(
        "system_id", "question", "value"
    ):
        answers[system_id][question] = value
    return [
        (system, assessment.scores(evidence[system.pk], answers.get(system.pk, {})))
        for system in systems
    ]
