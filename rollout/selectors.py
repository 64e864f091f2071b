"""Reads of the rollout app: the facts the gates judge, rollouts and their pages' data.

`systems_facts` gathers what the exit criteria and the seven indicators need
for any number of systems in a fixed number of queries (about twenty), so one
beat cycle over a thousand systems is a few large reads, not thousands of
small ones.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Max, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from core.roles import Role
from governance.choices import EscalationSource, EscalationState, RootCause
from governance.models import (
    AccountabilitySignature,
    AiOpsMember,
    BusinessUnitLead,
    Escalation,
    RoutingPolicy,
    SystemOwnership,
)
from registry.choices import Granularity, MetricKind, QualityCheck
from registry.models import AISystem, DataSource, MetricRollup, MetricSpec, SourceCheck
from registry.selectors import daily_value
from rollout import indicators as ind
from rollout.choices import DrillOutcome, RolloutState
from rollout.criteria import (
    Criterion,
    SourceFacts,
    SystemFacts,
    exit_criteria,
    quality_days_window,
    readiness,
)
from rollout.models import (
    CohortStep,
    GateSnapshot,
    ManualIntervention,
    Pause,
    RollbackPlan,
    Rollout,
    Waiver,
)

RECENT_INTERVENTIONS = 5


def _display(user) -> str:
    return user.get_full_name() or user.get_username()


def _sources_facts(ids: list[int]) -> dict[int, list[SourceFacts]]:
    links = DataSource.systems.through.objects.filter(aisystem_id__in=ids).values_list(
        "aisystem_id", "datasource_id"
    )
    by_system: dict[int, list[int]] = defaultdict(list)
    for system_id, source_id in links:
        by_system[system_id].append(source_id)
    source_ids = {source_id for ids_ in by_system.values() for source_id in ids_}
    sources = {
        source.pk: source
        for source in DataSource.objects.filter(pk__in=source_ids).only(
            "pk", "slug", "name", "owner_id", "expected_schema"
        )
    }
    checks: dict[int, dict[str, SourceCheck]] = defaultdict(dict)
    for check in SourceCheck.objects.filter(source_id__in=source_ids).only(
        "source_id", "kind", "status", "fields"
    ):
        checks[check.source_id][check.kind] = check
    facts: dict[int, list[SourceFacts]] = defaultdict(list)
    for system_id, linked in by_system.items():
        for source_id in sorted(linked, key=lambda pk: sources[pk].name):
            source, own = sources[source_id], checks.get(source_id, {})
            uptime = own.get(QualityCheck.UPTIME)
            tests = own.get(QualityCheck.INTEGRATION)
            uptime_counts = (uptime.fields or [{}])[0] if uptime else {}
            test_counts = (tests.fields or [{}])[0] if tests else {}
            freshness = own.get(QualityCheck.FRESHNESS)
            facts[system_id].append(
                SourceFacts(
                    name=source.name,
                    slug=source.slug,
                    has_owner=source.owner_id is not None,
                    has_schema=bool(source.expected_schema),
                    evaluated=bool(own),
                    freshness=freshness.status if freshness else "",
                    uptime_up=uptime_counts.get("up", 0),
                    uptime_expected=uptime_counts.get("expected", 0),
                    tests_passed=test_counts.get("passed", 0),
                    tests_failed=test_counts.get("failed", 0),
                )
            )
    return facts


def _metric_facts(ids: list[int], now: datetime) -> tuple[dict, dict]:
    """Required metrics' last point time, and the daily values of the quality metrics."""
    specs = list(
        MetricSpec.objects.filter(system_id__in=ids, required=True).only(
            "pk", "system_id", "key", "name", "kind", "direction", "warning", "aggregation"
        )
    )
    last = dict(
        MetricRollup.objects.filter(
            metric__in=[spec.pk for spec in specs],
            granularity=Granularity.HOUR,
            bucket_start__gte=now - timedelta(hours=48),
        )
        .values("metric_id")
        .annotate(last=Max("last_at"))
        .values_list("metric_id", "last")
    )
    required: dict[int, dict] = defaultdict(dict)
    for spec in specs:
        required[spec.system_id][spec.key] = last.get(spec.pk)
    quality_specs = [spec for spec in specs if spec.kind == MetricKind.QUALITY]
    first_day = quality_days_window(now.date())
    rows: dict[int, dict] = defaultdict(lambda: defaultdict(list))
    for rollup in MetricRollup.objects.filter(
        metric__in=[spec.pk for spec in quality_specs],
        granularity=Granularity.DAY,
        bucket_start__gte=datetime.combine(first_day, time.min, tzinfo=now.tzinfo),
    ).defer("model_version"):
        rows[rollup.metric_id][rollup.bucket_start.date()].append(rollup)
    quality: dict[int, list] = defaultdict(list)
    for spec in quality_specs:
        daily = {
            day: value
            for day, day_rows in rows.get(spec.pk, {}).items()
            if (value := daily_value(spec.aggregation, day_rows)) is not None
        }
        quality[spec.system_id].append(
            ind.QualitySeries(spec.name, spec.direction == "higher_is_better", spec.warning, daily)
        )
    return required, quality


def _governance_facts(ids: list[int], now: datetime) -> dict[int, dict]:
    facts: dict[int, dict] = defaultdict(dict)
    for ownership in SystemOwnership.objects.filter(system_id__in=ids).select_related("owner"):
        facts[ownership.system_id]["owner"] = _display(ownership.owner) if ownership.owner else None
        facts[ownership.system_id]["budget_authority"] = ownership.budget_authority
    for system_id in AccountabilitySignature.objects.filter(
        system_id__in=ids, voided_at__isnull=True, expires_at__gt=now
    ).values_list("system_id", flat=True):
        facts[system_id]["signed"] = True
    for member in AiOpsMember.objects.filter(system_id__in=ids).select_related("user"):
        facts[member.system_id].setdefault("ai_ops", []).append(_display(member.user))
    for lead in BusinessUnitLead.objects.filter(system_id__in=ids).select_related("user"):
        leads = facts[lead.system_id].setdefault("leads", {})
        leads[_display(lead.user)] = lead.briefing_attested_at is not None
    for policy in RoutingPolicy.objects.filter(system_id__in=ids):
        facts[policy.system_id]["level3_configured"] = bool(
            policy.level3_user_id or policy.level3_group_id
        )
    tests = Escalation.objects.filter(system_id__in=ids, is_test=True)
    for system_id, acknowledged in (
        tests.filter(acknowledged_at__isnull=False)
        .values("system_id")
        .annotate(last=Max("acknowledged_at"))
        .values_list("system_id", "last")
    ):
        facts[system_id]["alert_acknowledged_at"] = acknowledged
    for system_id in tests.filter(state=EscalationState.OPEN).values_list("system_id", flat=True):
        facts[system_id]["alert_pending"] = True
    # A quality incident closed by hand is a manual intervention (indicator 2).
    first_day = quality_days_window(now.date())
    quality_keys = {
        (system_id, f"threshold:{key}")
        for system_id, key in MetricSpec.objects.filter(
            system_id__in=ids, kind=MetricKind.QUALITY
        ).values_list("system_id", "key")
    }
    for system_id, key, resolved in Escalation.objects.filter(
        system_id__in=ids,
        source=EscalationSource.THRESHOLD_BREACH,
        resolved_at__date__gte=first_day,
    ).values_list("system_id", "dedup_key", "resolved_at"):
        if (system_id, key) in quality_keys:
            facts[system_id].setdefault("interventions", []).append(resolved.date())
    for system_id, at in ManualIntervention.objects.filter(
        system_id__in=ids, at__date__gte=first_day
    ).values_list("system_id", "at"):
        facts[system_id].setdefault("interventions", []).append(at.date())
    return facts


def _rollout_facts(ids: list[int]) -> dict[int, dict]:
    facts: dict[int, dict] = defaultdict(dict)
    for system_id in (
        RollbackPlan.objects.filter(system_id__in=ids)
        .exclude(text="")
        .values_list("system_id", flat=True)
    ):
        facts[system_id]["rollback_plan"] = True
    for system_id, at in (
        Rollout.objects.filter(
            system_id__in=ids,
            state=RolloutState.ROLLED_BACK,
            rollback_is_drill=True,
            rollback_outcome=DrillOutcome.SUCCEEDED,
        )
        .values("system_id")
        .annotate(last=Max("ended_at"))
        .values_list("system_id", "last")
    ):
        facts[system_id]["drill_succeeded_at"] = at
    for system_id in Rollout.objects.filter(
        system_id__in=ids, state=RolloutState.COMPLETED, is_rehearsal=False
    ).values_list("system_id", flat=True):
        facts[system_id]["completed_rollout"] = True
    for waiver in Waiver.objects.filter(system_id__in=ids).order_by("system_id", "-granted_at"):
        facts[waiver.system_id].setdefault("waiver_unmet", waiver.unmet)
    return facts


def systems_facts(systems: Sequence[AISystem], *, now: datetime | None = None) -> list[SystemFacts]:
    """The facts of each system, in the order given; a fixed number of queries for all."""
    now = now or timezone.now()
    ids = [system.pk for system in systems]
    sources = _sources_facts(ids)
    required, quality = _metric_facts(ids, now)
    governance = _governance_facts(ids, now)
    rollouts = _rollout_facts(ids)
    approvers = (
        get_user_model().objects.filter(groups__name=Role.APPROVER.value, is_active=True).exists()
    )
    return [
        SystemFacts(
            slug=system.slug,
            stage=system.stage,
            sources=sources.get(system.pk, []),
            required_metrics=required.get(system.pk, {}),
            quality=quality.get(system.pk, []),
            approvers_exist=approvers,
            **governance.get(system.pk, {}),
            **rollouts.get(system.pk, {}),
        )
        for system in systems
    ]


def system_facts(system: AISystem, *, now: datetime | None = None) -> SystemFacts:
    """The facts of one system."""
    return systems_facts([system], now=now)[0]


def criterion_url(criterion: Criterion, slug: str) -> str:
    """Where a criterion is fixed: its page for this system, or the general page."""
    try:
        return reverse(criterion.fix, args=[slug])
    except NoReverseMatch:
        try:
            return reverse(criterion.fix)
        except NoReverseMatch:
            return ""


def system_gates(system: AISystem, *, now: datetime | None = None) -> dict:
    """A system's exit criteria (with fix links), indicators and verdict, computed now."""
    now = now or timezone.now()
    facts = system_facts(system, now=now)
    criteria = exit_criteria(facts, now=now)
    indicators = readiness(facts, now=now)
    return {
        "facts": facts,
        "criteria": [(c, criterion_url(c, system.slug)) for c in criteria],
        "criteria_met": all(c.met for c in criteria) and bool(criteria),
        "indicators": indicators,
        "verdict": ind.verdict(indicators),
        "unmet": [i.key for i in indicators if not i.met],
    }


def gate_history(system: AISystem, *, days: int = 90) -> QuerySet[GateSnapshot]:
    """The daily snapshots of a system's gates, oldest first."""
    since = timezone.now().date() - timedelta(days=days)
    return GateSnapshot.objects.filter(system=system, day__gte=since).order_by("day")


def active_rollout(system: AISystem) -> Rollout | None:
    """The system's rollout in flight (planned, running or paused), if any."""
    return (
        Rollout.objects.filter(system=system, state__in=["planned", "running", "paused"])
        .select_related("candidate", "previous")
        .first()
    )


def rollout_detail(pk: int) -> Rollout | None:
    """A rollout with what its page shows."""
    return (
        Rollout.objects.select_related("system", "candidate", "previous", "change_request")
        .prefetch_related("steps__approvals__approver", "checkpoint_metrics__metric", "pauses")
        .filter(pk=pk)
        .first()
    )


def rollouts_list(*, system: AISystem | None = None) -> QuerySet[Rollout]:
    """Rollouts, newest first."""
    rollouts = Rollout.objects.select_related("system", "candidate").order_by("-created_at")
    return rollouts.filter(system=system) if system else rollouts


def steps_awaiting_approval() -> QuerySet[CohortStep]:
    """Cohorts waiting for a director, oldest first (the directors' work)."""
    return (
        CohortStep.objects.filter(state="awaiting_approval", rollout__state=RolloutState.RUNNING)
        .select_related("rollout__system", "rollout__candidate")
        .order_by("awaiting_since")
    )


# --- Deployment status (read by traffic routers) ----------------------------------------------

STATUS_CACHE_SECONDS = 60


def status_cache_key(slug: str) -> str:
    """The cache key of a system's deployment status; every rollout transition deletes it."""
    # The version in the key: a portal upgraded in place never reads an entry of another shape.
    return f"deployment-status:v2:{slug}"


def deployment_status(system: AISystem) -> tuple[dict, str]:
    """What a traffic router needs, and its ETag: the version to route and its share.

    Cached; the services drop the entry after every transition's commit (the
    short expiry is only a safety net). Rehearsals route no traffic, so they
    never appear here.
    """
    key = status_cache_key(system.slug)
    cached = cache.get(key)
    if cached is not None:
        return cached[1], cached[2]
    rollout = (
        Rollout.objects.filter(system=system, is_rehearsal=False)
        .select_related("candidate", "previous")
        .order_by("-created_at")
        .first()
    )
    deployed = (
        system.deployed_version.version
        if system.deployed_version_id and system.deployed_version
        else None
    )
    if rollout is None:
        body = {
            "state": "none",
            "version": deployed,
            "previous_version": None,
            "cohort_percent": 100 if deployed else 0,
            "updated_at": None,
        }
    else:
        if rollout.state in (RolloutState.RUNNING, RolloutState.PAUSED):
            percent = rollout.steps.get(index=rollout.current_index).percent
        elif rollout.state == RolloutState.COMPLETED:
            percent = 100
        else:  # planned, or rolled back: the candidate gets nothing
            percent = 0
        body = {
            "state": rollout.state,
            "version": rollout.candidate.version,
            "previous_version": rollout.previous.version if rollout.previous else None,
            "cohort_percent": percent,
            "updated_at": rollout.updated_at.isoformat(),
        }
    etag = '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32] + '"'
    cache.set(key, (system.pk, body, etag), STATUS_CACHE_SECONDS)
    return body, etag


def cached_deployment_status(slug: str) -> tuple[int, dict, str] | None:
    """(system id, body, ETag) from the cache, or None: the hot path of the routers' poll."""
    return cache.get(status_cache_key(slug))


# --- Page reads --------------------------------------------------------------------------------


def latest_waiver(system: AISystem) -> Waiver | None:
    """the system's newest waiver, with who granted it."""
    return (
        Waiver.objects.filter(system=system)
        .select_related("granted_by")
        .order_by("-granted_at")
        .first()
    )


def pending_test_alert(system: AISystem) -> Escalation | None:
    """the test alert that still waits for its acknowledgement, if any."""
    return (
        Escalation.objects.filter(system=system, is_test=True, state=EscalationState.OPEN)
        .order_by("-first_seen")
        .first()
    )


def rollback_plan(system: AISystem) -> RollbackPlan | None:
    """the written rollback procedure, with who wrote it last."""
    return RollbackPlan.objects.filter(system=system).select_related("updated_by").first()


def recent_interventions(system: AISystem) -> list[ManualIntervention]:
    """the latest manual interventions, newest first."""
    return list(
        ManualIntervention.objects.filter(system=system)
        .select_related("recorded_by")
        .order_by("-at")[:RECENT_INTERVENTIONS]
    )


def rollout_pauses(rollout: Rollout) -> list[Pause]:
    """a rollout's pauses, newest first, with who paused and resumed."""
    pauses = list(
        Pause.objects.filter(rollout=rollout)
        .select_related("paused_by", "resumed_by", "escalation", "step")
        .order_by("-at")
    )
    labels = dict(RootCause.choices)
    for pause in pauses:
        pause.root_cause_label = labels.get(pause.root_cause, pause.root_cause)
    return pauses
