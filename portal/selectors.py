"""Reads of the portal shell."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.roles import Role
from governance.choices import ChangeState, EscalationState
from governance.models import (
    AccountabilitySignature,
    ActionItem,
    Approval,
    BusinessUnitLead,
    ChangeRequest,
    Escalation,
    SystemOwnership,
)
from portal.models import WorkerHeartbeat
from registry.choices import CheckStatus, RiskTier, Stage
from registry.models import AISystem, SourceCheck
from rollout import indicators as ind
from rollout.choices import LIVE_ROLLOUT_STATES, RolloutState, StepState, Verdict
from rollout.criteria import readiness
from rollout.models import CohortStep, GateSnapshot, Rollout
from rollout.selectors import steps_awaiting_approval, systems_facts

# Beat sends a heartbeat every 60 s; three missed ones mean the worker or beat is down.
HEARTBEAT_STALE_AFTER = timedelta(minutes=3)


def worker_heartbeats() -> QuerySet[WorkerHeartbeat]:
    """Every worker that ever ran the heartbeat, most recent first."""
    return WorkerHeartbeat.objects.order_by("-seen_at")


def worker_alive(*, within: timedelta = HEARTBEAT_STALE_AFTER) -> bool:
    """Whether any worker ran the heartbeat recently."""
    return WorkerHeartbeat.objects.filter(seen_at__gte=timezone.now() - within).exists()


def user_roles(user) -> list[Role]:
    """The roles a user holds, in the order of Role."""
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in Role if role.value in names]


# --- The portfolio (the home page) ------------------------------------------------------------

# The four steps of the framework, in order; Production comes after step 4.
STAGE_STEPS = [
    Stage.OPERATIONAL_ARCHITECTURE,
    Stage.EVALUATION_INFRASTRUCTURE,
    Stage.OWNERSHIP_GOVERNANCE,
    Stage.STAGED_ROLLOUT,
]
STAGE_ORDER = {stage.value: index for index, stage in enumerate([*STAGE_STEPS, Stage.PRODUCTION])}
RISK_ORDER = {tier.value: index for index, tier in enumerate(RiskTier)}
VERDICT_ORDER = {Verdict.READY: 0, Verdict.CONDITIONAL: 1, Verdict.DEFER: 2}
PORTFOLIO_SORTS = {
    "name": lambda row: row.system.name.casefold(),
    "stage": lambda row: (STAGE_ORDER.get(row.system.stage, 99), row.system.name.casefold()),
    "risk": lambda row: (RISK_ORDER.get(row.system.risk_tier, 99), row.system.name.casefold()),
    "readiness": lambda row: (VERDICT_ORDER.get(row.verdict, 99), row.system.name.casefold()),
}
DEFAULT_PORTFOLIO_SORT = "name"
PORTFOLIO_CHART_DAYS = 90


@dataclass
class PortfolioRow:
    """One system of the portfolio table, with everything its row shows."""

    system: AISystem
    verdict: str
    rollout: Rollout | None = None
    cohort_percent: int | None = None
    escalations: dict[str, int] = field(default_factory=dict)
    changes_submitted: int = 0
    cohorts_awaiting: int = 0
    upstream_issues: list[SourceCheck] = field(default_factory=list)

    @property
    def stage_step(self) -> int | None:
        """1 to 4 for the framework's steps, None in Production."""
        index = STAGE_ORDER.get(self.system.stage)
        return index + 1 if index is not None and index < len(STAGE_STEPS) else None

    @property
    def escalations_total(self) -> int:
        return sum(self.escalations.values())

    @property
    def approvals_pending(self) -> int:
        return self.changes_submitted + self.cohorts_awaiting


def portfolio_business_units() -> list[str]:
    """Every business unit that has a system, alphabetically (the filter's choices)."""
    return list(
        AISystem.objects.order_by("business_unit")
        .values_list("business_unit", flat=True)
        .distinct()
    )


def _newest_rollouts(ids: list[int]) -> dict[int, Rollout]:
    """The newest non-rehearsal rollout of each system, with its current cohort's percent."""
    newest = (
        Rollout.objects.filter(system_id=OuterRef("system_id"), is_rehearsal=False)
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    percent = CohortStep.objects.filter(
        rollout=OuterRef("pk"), index=OuterRef("current_index")
    ).values("percent")[:1]
    rollouts = (
        Rollout.objects.filter(system_id__in=ids, is_rehearsal=False)
        .annotate(newest_id=Subquery(newest), step_percent=Subquery(percent))
        .filter(id=F("newest_id"))
    )
    return {rollout.system_id: rollout for rollout in rollouts}


def _escalation_counts(ids: list[int]) -> dict[int, dict[str, int]]:
    """Unresolved escalations per system and severity, in one query."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        Escalation.objects.filter(system_id__in=ids)
        .exclude(state=EscalationState.RESOLVED)
        .values_list("system_id", "severity")
        .annotate(n=Count("id"))
        .order_by()
    )
    for system_id, severity, n in rows:
        counts[system_id][severity] = n
    return counts


def _count_by_system(queryset, system_field: str) -> dict[int, int]:
    rows = queryset.values_list(system_field).annotate(n=Count("id")).order_by()
    return dict(rows)


def _upstream_issues(ids: list[int]) -> dict[int, list[SourceCheck]]:
    """The failing checks of the sources feeding each system (one query for all systems)."""
    issues: dict[int, list[SourceCheck]] = defaultdict(list)
    checks = (
        SourceCheck.objects.filter(source__systems__in=ids, status=CheckStatus.FAIL)
        .annotate(fed_system_id=F("source__systems"))
        .select_related("source")
        .order_by("source__name", "kind")
    )
    for check in checks:
        issues[check.fed_system_id].append(check)
    return issues


def portfolio(
    *,
    business_unit: str = "",
    stage: str = "",
    risk_tier: str = "",
    sort: str = DEFAULT_PORTFOLIO_SORT,
    now: datetime | None = None,
) -> list[PortfolioRow]:
    """Every system (filtered) with its stage, readiness, rollout, escalations, approvals
    and upstream issues; a fixed number of queries whatever the number of systems."""
    now = now or timezone.now()
    systems = AISystem.objects.order_by("name")
    if business_unit:
        systems = systems.filter(business_unit=business_unit)
    if stage:
        systems = systems.filter(stage=stage)
    if risk_tier:
        systems = systems.filter(risk_tier=risk_tier)
    systems = list(systems)
    ids = [system.pk for system in systems]
    facts = systems_facts(systems, now=now)
    rollouts = _newest_rollouts(ids)
    escalations = _escalation_counts(ids)
    changes = _count_by_system(
        ChangeRequest.objects.filter(system_id__in=ids, state=ChangeState.SUBMITTED), "system_id"
    )
    cohorts = _count_by_system(
        CohortStep.objects.filter(
            rollout__system_id__in=ids,
            state=StepState.AWAITING_APPROVAL,
            rollout__state=RolloutState.RUNNING,
        ),
        "rollout__system_id",
    )
    upstream = _upstream_issues(ids)
    rows = []
    for system, system_facts in zip(systems, facts, strict=True):
        rollout = rollouts.get(system.pk)
        live = rollout is not None and rollout.state in LIVE_ROLLOUT_STATES
        rows.append(
            PortfolioRow(
                system=system,
                verdict=ind.verdict(readiness(system_facts, now=now)),
                rollout=rollout,
                cohort_percent=rollout.step_percent if live else None,
                escalations=escalations.get(system.pk, {}),
                changes_submitted=changes.get(system.pk, 0),
                cohorts_awaiting=cohorts.get(system.pk, 0),
                upstream_issues=upstream.get(system.pk, []),
            )
        )
    return sorted(rows, key=PORTFOLIO_SORTS.get(sort, PORTFOLIO_SORTS[DEFAULT_PORTFOLIO_SORT]))


def portfolio_chart(*, days: int = PORTFOLIO_CHART_DAYS, today: date | None = None) -> dict:
    """Systems per stage and day from the daily gate snapshots: the chart's config and table."""
    today = today or timezone.now().date()
    rows = (
        GateSnapshot.objects.filter(day__gte=today - timedelta(days=days))
        .values_list("day", "stage")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    counts: dict[date, dict[str, int]] = defaultdict(dict)
    for day, stage, n in rows:
        counts[day][stage] = n
    ordered_days = sorted(counts)
    stages = [*STAGE_STEPS, Stage.PRODUCTION]
    table = [
        {"day": day, "counts": [counts[day].get(stage.value, 0) for stage in stages]}
        for day in reversed(ordered_days)
    ]
    config = {
        "days": [day.isoformat() for day in ordered_days],
        "series": [
            {
                "stage": stage.value,
                "label": str(stage.label),
                "counts": [counts[day].get(stage.value, 0) for day in ordered_days],
            }
            for stage in stages
        ],
        "labels": {
            "y": str(_("Systems")),
            "x": str(_("Day (UTC)")),
            "no_library": str(_("The chart library did not load; the table lists the values.")),
            "unavailable": str(_("The chart could not be drawn; the table lists the values.")),
        },
    }
    return {"config": config, "table": table}


# --- My work ----------------------------------------------------------------------------------

MY_WORK_KINDS = ("cohorts", "changes", "signatures", "attestations", "escalations", "actions")


class _CountOf(Subquery):
    """The number of rows of a queryset, as a scalar subquery."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) _rows)"
    output_field = IntegerField()


def _holds(user, role: Role) -> Exists:
    """Whether `user` holds `role`, in SQL, so the role checks cost no query of their own."""
    return Exists(
        get_user_model().groups.through.objects.filter(user_id=user.pk, group__name=role.value)
    )


def _my_work_querysets(user, *, now: datetime) -> dict[str, QuerySet]:
    """What waits for `user`, one queryset per kind; empty for a kind their roles cannot do."""
    work: dict[str, QuerySet] = {}
    # A cohort of a high-tier system waits for a second director: not for the first again.
    work["cohorts"] = (
        steps_awaiting_approval()
        .filter(_holds(user, Role.OPERATIONS_DIRECTOR))
        .exclude(approvals__approver=user)
    )
    mine = Approval.objects.filter(
        change_request=OuterRef("pk"), approver=user, voided_at__isnull=True
    )
    work["changes"] = (
        ChangeRequest.objects.filter(_holds(user, Role.APPROVER), state=ChangeState.SUBMITTED)
        .exclude(requester=user)
        .exclude(Exists(mine))
        .select_related("system")
        .order_by("submitted_at", "id")
    )
    signed = AccountabilitySignature.objects.filter(
        system=OuterRef("system_id"), voided_at__isnull=True, expires_at__gt=now
    )
    work["signatures"] = (
        SystemOwnership.objects.filter(owner=user)
        .exclude(Exists(signed))
        .select_related("system")
        .order_by("system__name")
    )
    work["attestations"] = (
        BusinessUnitLead.objects.filter(user=user, briefing_attested_at__isnull=True)
        .select_related("system")
        .order_by("system__name")
    )
    work["escalations"] = (
        Escalation.objects.filter(Q(assignee=user) | Q(system__ownership__owner=user))
        .exclude(state=EscalationState.RESOLVED)
        .select_related("system")
        .order_by("-severity", "first_seen")
    )
    work["actions"] = (
        ActionItem.objects.filter(owner=user, status=ActionItem.Status.OPEN)
        .select_related("system")
        .order_by("due_date", "priority")
    )
    return work


def my_work(user, *, now: datetime | None = None) -> dict[str, list]:
    """Everything waiting for the signed-in person, by kind (empty kinds are empty lists)."""
    work = _my_work_querysets(user, now=now or timezone.now())
    return {kind: list(work.get(kind, [])) for kind in MY_WORK_KINDS}


def my_work_count(user, *, now: datetime | None = None) -> int:
    """How many items `my_work` lists, in one query."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "is_pipeline", False):
        return 0
    work = _my_work_querysets(user, now=now or timezone.now())
    # One statement for all kinds: every page pays for this badge.
    counts = (
        get_user_model()
        .objects.filter(pk=user.pk)
        .values(**{kind: _CountOf(qs.order_by().values("pk")) for kind, qs in work.items()})
        .first()
    )
    return sum(counts.values()) if counts else 0
