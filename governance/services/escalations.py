"""The escalation path: raise (deduplicated, silences honoured), route, escalate, close.

Level 1 is the system's owner, level 2 the operations directors, level 3 the
routing policy's named person or group. While an escalation stays open, beat
raises its level each time the acknowledgement timeout passes (defaults by
risk tier: critical 15 min, high 1 h, medium 4 h, low 1 day).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import ApplicationError
from core.resilience import enqueue
from core.roles import Role, has_role
from governance.alerting import RuleState, breach_severity, no_data_step, threshold_step
from governance.audit import audit_record
from governance.choices import (
    AlertKind,
    AlertStatus,
    EscalationSource,
    EscalationState,
    RootCause,
    Severity,
)
from governance.models import (
    AiOpsMember,
    AlertRuleState,
    Escalation,
    RoutingPolicy,
    Silence,
    SystemOwnership,
)
from registry.choices import Granularity
from registry.models import AISystem, DataSource, MetricRollup, MetricSpec
from registry.selectors import daily_value

ACK_TIMEOUT_MINUTES = {"critical": 15, "high": 60, "medium": 240, "low": 1440}
MAX_LEVEL = 3
SEVERITY_RANK = {Severity.WARNING: 1, Severity.CRITICAL: 2}


def routing_for(system: AISystem) -> RoutingPolicy:
    """The system's routing policy, created with the risk tier's default timeout if missing."""
    policy, _created = RoutingPolicy.objects.get_or_create(
        system=system, defaults={"ack_timeout_minutes": ACK_TIMEOUT_MINUTES[system.risk_tier]}
    )
    return policy


def recipients(system: AISystem, level: int, *, data_source: DataSource | None = None) -> list:
    """Who is notified at a level: 1 the owner, 2 the operations directors, 3 the named ones.

    For a data-quality failure level 1 is the system's owner and the source's owner.
    """
    user_model = get_user_model()
    if level == 1:
        query = Q(pk__in=SystemOwnership.objects.filter(system=system).values("owner_id"))
        if data_source is not None and data_source.owner_id:
            query |= Q(pk=data_source.owner_id)
        return list(user_model.objects.filter(query, is_active=True).order_by("pk"))
    if level == 2:
        return list(
            user_model.objects.filter(
                groups__name=Role.OPERATIONS_DIRECTOR.value, is_active=True
            ).distinct()
        )
    policy = routing_for(system)
    query = Q(pk=policy.level3_user_id) if policy.level3_user_id else Q(pk__in=[])
    if policy.level3_group_id:
        query |= Q(groups=policy.level3_group_id)
    return list(user_model.objects.filter(query, is_active=True).distinct())


def _assignee(system: AISystem, level: int, data_source: DataSource | None = None):
    people = recipients(system, level, data_source=data_source)
    return people[0] if len(people) == 1 else None


def open_escalation_for(system: AISystem, dedup_key: str) -> Escalation | None:
    """The unresolved escalation of a pipeline report's key, if any."""
    return (
        Escalation.objects.filter(system=system, dedup_key=f"report:{dedup_key}")
        .exclude(state=EscalationState.RESOLVED)
        .first()
    )


def silenced(system: AISystem, dedup_key: str, *, now: datetime) -> Silence | None:
    """The active silence whose matcher starts the key, if any (expired ones end by themselves)."""
    for silence in Silence.objects.filter(
        system=system, starts_at__lte=now, ends_at__gt=now, ended_at__isnull=True
    ):
        if dedup_key.startswith(silence.matcher):
            return silence
    return None


def _enqueue_notification(escalation: Escalation, level: int) -> None:
    from governance.tasks import notify_escalation  # tasks import services; avoid the cycle

    # The escalation is committed: a broker outage must not turn that into an error (its
    # level still rises on timeout, and that level's notification is sent then).
    transaction.on_commit(lambda: enqueue(notify_escalation, escalation.pk, level))


def escalation_raise(
    *,
    system: AISystem,
    source: str,
    severity: str,
    title: str,
    dedup_key: str,
    details: dict | None = None,
    by=None,
    now: datetime | None = None,
    is_test: bool = False,
    data_source: DataSource | None = None,
) -> Escalation | None:
    """Open an escalation, or count a repeat of the unresolved one with the same key.

    Returns None when an active silence mutes the key. `data_source` puts that
    source's owner on the path beside the system's owner.
    """
    now = now or timezone.now()
    if severity not in Severity.values:
        raise ApplicationError(
            gettext("%(severity)s is not a severity.") % {"severity": f"{severity!r}"},
            field="severity",
        )
    if source not in EscalationSource.values:
        raise ApplicationError(
            gettext("%(source)s is not a source.") % {"source": f"{source!r}"}, field="source"
        )
    if silenced(system, dedup_key, now=now):
        return None
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return _raise_once(
                    system,
                    source,
                    severity,
                    title,
                    dedup_key,
                    details or {},
                    by,
                    now,
                    is_test,
                    data_source,
                )
        except IntegrityError:
            # Another worker opened the same key a moment ago: count ours as a repeat.
            continue
    raise ApplicationError(gettext("Could not record the escalation; try again."), status=409)


def _raise_once(system, source, severity, title, dedup_key, details, by, now, is_test, data_source):
    existing = (
        Escalation.objects.select_for_update()
        .filter(system=system, dedup_key=dedup_key)
        .exclude(state=EscalationState.RESOLVED)
        .first()
    )
    if existing:
        existing.occurrences += 1
        existing.last_seen = now
        if SEVERITY_RANK[severity] > SEVERITY_RANK[existing.severity]:
            existing.severity = severity
        existing.details = {**existing.details, **details}
        existing.save(update_fields=["occurrences", "last_seen", "severity", "details"])
        return existing
    policy = routing_for(system)
    with transaction.atomic():
        escalation = Escalation.objects.create(
            system=system,
            source=source,
            severity=severity,
            title=title[:200],
            details=details,
            dedup_key=dedup_key[:200],
            first_seen=now,
            last_seen=now,
            level=1,
            assignee=_assignee(system, 1, data_source),
            next_escalation_at=now + timedelta(minutes=policy.ack_timeout_minutes),
            is_test=is_test,
            data_source=data_source,
        )
    audit_record(
        actor=by,
        action="escalation.open",
        obj=escalation,
        system=system,
        after={"source": source, "severity": severity, "dedup_key": dedup_key},
    )
    _enqueue_notification(escalation, 1)
    return escalation


def may_handle(escalation: Escalation, by) -> bool:
    """Directors, the owner, the assignee, AI-ops members and level-3 people handle escalations."""
    if has_role(by, Role.OPERATIONS_DIRECTOR):
        return True
    user_id = getattr(by, "pk", None)
    if user_id is None:
        return False
    if escalation.assignee_id == user_id:
        return True
    if SystemOwnership.objects.filter(system=escalation.system, owner_id=user_id).exists():
        return True
    if AiOpsMember.objects.filter(system=escalation.system, user_id=user_id).exists():
        return True
    if escalation.data_source_id and escalation.data_source.owner_id == user_id:
        return True
    return any(person.pk == user_id for person in recipients(escalation.system, 3))


def escalation_acknowledge(*, escalation: Escalation, by) -> Escalation:
    """Someone responsible takes it: the level stops rising."""
    with transaction.atomic():
        escalation = Escalation.objects.select_for_update().get(pk=escalation.pk)
        if not may_handle(escalation, by):
            raise ApplicationError(gettext("You are not on this escalation's path."), status=403)
        if escalation.state != EscalationState.OPEN:
            raise ApplicationError(
                gettext("An %(state)s escalation cannot be acknowledged.")
                % {"state": escalation.get_state_display().lower()},
                status=409,
            )
        now = timezone.now()
        escalation.state = EscalationState.ACKNOWLEDGED
        escalation.acknowledged_by = by
        escalation.acknowledged_at = now
        escalation.next_escalation_at = None
        if escalation.assignee_id is None:
            escalation.assignee = by
        escalation.save()
        audit_record(
            actor=by,
            action="escalation.acknowledge",
            obj=escalation,
            system=escalation.system,
            before={"state": "open"},
            after={"state": "acknowledged"},
        )
    return escalation


def escalation_resolve(*, escalation: Escalation, by, note: str, root_cause: str) -> Escalation:
    """Close it with what was done and which root cause it was."""
    if not (note or "").strip():
        raise ApplicationError(gettext("Say what was done."), field="note")
    if root_cause not in RootCause.values:
        raise ApplicationError(gettext("Choose the root cause (or other)."), field="root_cause")
    with transaction.atomic():
        escalation = Escalation.objects.select_for_update().get(pk=escalation.pk)
        if not may_handle(escalation, by):
            raise ApplicationError(gettext("You are not on this escalation's path."), status=403)
        if escalation.state == EscalationState.RESOLVED:
            raise ApplicationError(gettext("This escalation is already resolved."), status=409)
        before = escalation.state
        escalation.state = EscalationState.RESOLVED
        escalation.resolved_by = by
        escalation.resolved_at = timezone.now()
        escalation.resolution_note = note.strip()
        escalation.root_cause = root_cause
        escalation.next_escalation_at = None
        escalation.save()
        audit_record(
            actor=by,
            action="escalation.resolve",
            obj=escalation,
            system=escalation.system,
            before={"state": before},
            after={"state": "resolved", "root_cause": root_cause},
            reason=note,
        )
    return escalation


def escalations_escalate_due(*, now: datetime | None = None) -> int:
    """Raise the level of every open escalation whose acknowledgement timeout passed.

    Each row is claimed with a compare-and-set on (state, level, next time),
    so two beat ticks or two workers never raise one escalation twice.
    """
    now = now or timezone.now()
    raised = 0
    due = Escalation.objects.filter(
        state=EscalationState.OPEN, next_escalation_at__lte=now, level__lt=MAX_LEVEL
    ).select_related("system", "data_source")
    for escalation in due:
        level = escalation.level + 1
        policy = routing_for(escalation.system)
        following = (
            None if level == MAX_LEVEL else now + timedelta(minutes=policy.ack_timeout_minutes)
        )
        with transaction.atomic():
            claimed = Escalation.objects.filter(
                pk=escalation.pk,
                state=EscalationState.OPEN,
                level=escalation.level,
                next_escalation_at=escalation.next_escalation_at,
            ).update(
                level=level,
                next_escalation_at=following,
                assignee=_assignee(escalation.system, level, escalation.data_source),
            )
            if claimed != 1:
                continue
            escalation.refresh_from_db()
            audit_record(
                actor=None,
                action="escalation.level",
                obj=escalation,
                system=escalation.system,
                before={"level": level - 1},
                after={"level": level},
                reason="not acknowledged in time",
            )
            _enqueue_notification(escalation, level)
            raised += 1
    return raised


def silence_create(
    *, system: AISystem, by, matcher: str, reason: str, ends_at: datetime
) -> Silence:
    """Mute a system's alerts whose key starts with `matcher` until `ends_at`."""
    if not (matcher or "").strip():
        raise ApplicationError(gettext("Say which alerts to mute."), field="matcher")
    if not (reason or "").strip():
        raise ApplicationError(gettext("A silence needs a reason."), field="reason")
    now = timezone.now()
    if ends_at <= now:
        raise ApplicationError(gettext("The expiry must be in the future."), field="ends_at")
    if ends_at - now > timedelta(days=30):
        raise ApplicationError(gettext("A silence lasts at most 30 days."), field="ends_at")
    # Those on the system's escalation path: directors and its named owner, not the owner
    # of another system (a silence keeps escalations from reaching this system's owner).
    person = getattr(by, "pk", None)  # None for a pipeline, which owns nothing
    is_owner = (
        person is not None
        and SystemOwnership.objects.filter(system=system, owner_id=person).exists()
    )
    if not (has_role(by, Role.OPERATIONS_DIRECTOR) or is_owner):
        raise ApplicationError(
            gettext("Only directors and the system's owner mute its alerts."), status=403
        )
    with transaction.atomic():
        silence = Silence.objects.create(
            system=system,
            matcher=matcher.strip(),
            reason=reason.strip(),
            owner=by,
            starts_at=now,
            ends_at=ends_at,
        )
        audit_record(
            actor=by,
            action="silence.create",
            obj=silence,
            system=system,
            after={"matcher": silence.matcher, "ends_at": ends_at.isoformat()},
            reason=reason,
        )
    return silence


# --- Evaluation of the alert rules --------------------------------------------------------


def _latest_hour_value(spec: MetricSpec, now: datetime) -> tuple[float | None, datetime | None]:
    """The metric's value in its most recent hour with data, and the last point's time."""
    latest = (
        MetricRollup.objects.filter(metric=spec, granularity=Granularity.HOUR)
        .order_by("-bucket_start")
        .values_list("bucket_start", flat=True)
        .first()
    )
    if latest is None:
        return None, None
    rows = list(
        MetricRollup.objects.filter(metric=spec, granularity=Granularity.HOUR, bucket_start=latest)
    )
    return daily_value(spec.aggregation, rows), max(row.last_at for row in rows)


def _step_rule(spec, kind, compute) -> tuple[AlertRuleState, RuleState, RuleState]:
    """Lock the rule's row and compute its next state from the previous one."""
    state, _created = AlertRuleState.objects.select_for_update().get_or_create(
        metric=spec, kind=kind
    )
    previous = RuleState(state.status, state.severity, state.since)
    current = compute(previous)
    return state, previous, current


def metric_alerts_evaluate(*, spec: MetricSpec, now: datetime | None = None) -> dict[str, str]:
    """Step a metric's threshold and no-data rules; a rule that starts firing escalates."""
    now = now or timezone.now()
    value, last_at = _latest_hour_value(spec, now)
    outcome = {}
    with transaction.atomic():
        if value is not None:
            severity = breach_severity(
                direction=spec.direction, warning=spec.warning, critical=spec.critical, value=value
            )
            state, previous, current = _step_rule(
                spec,
                AlertKind.THRESHOLD,
                lambda prev: threshold_step(
                    prev, severity=severity, pending_seconds=spec.pending_seconds, now=now
                ),
            )
            _save_rule(state, current, value, now)
            # A rule escalates when it starts firing, and again if its severity changes.
            newly_firing = current.status == AlertStatus.FIRING and (
                previous.status != AlertStatus.FIRING or previous.severity != current.severity
            )
            if newly_firing:
                escalation_raise(
                    system=spec.system,
                    source=EscalationSource.THRESHOLD_BREACH,
                    severity=current.severity,
                    title=gettext("%(metric)s: %(value)s breaches the %(severity)s threshold")
                    % {"metric": spec.name, "value": f"{value:g}", "severity": current.severity},
                    dedup_key=f"threshold:{spec.key}",
                    details={
                        "metric": spec.key,
                        "value": value,
                        "since": current.since.isoformat(),
                    },
                    now=now,
                )
            outcome["threshold"] = current.status
        if spec.required:
            state, previous, current = _step_rule(
                spec,
                AlertKind.NO_DATA,
                lambda prev: no_data_step(
                    prev,
                    last_at=last_at,
                    expected_interval_seconds=spec.expected_interval_seconds,
                    now=now,
                ),
            )
            _save_rule(state, current, None, now)
            if current.status == AlertStatus.FIRING and previous.status != AlertStatus.FIRING:
                escalation_raise(
                    system=spec.system,
                    source=EscalationSource.NO_DATA,
                    severity=Severity.WARNING,
                    title=gettext("%(metric)s: no data for over twice its expected interval")
                    % {"metric": spec.name},
                    dedup_key=f"no_data:{spec.key}",
                    details={
                        "metric": spec.key,
                        "last_point": last_at.isoformat() if last_at else None,
                    },
                    now=now,
                )
            outcome["no_data"] = current.status
    return outcome


def _save_rule(state: AlertRuleState, current: RuleState, value, now) -> None:
    state.status = current.status
    state.severity = current.severity
    state.since = current.since
    state.last_value = value
    state.evaluated_at = now
    state.save()


def alerts_evaluate(*, system_id: int | None = None, metric_ids=None, now=None) -> int:
    """Evaluate the alert rules of every metric (or of one system, or some metrics)."""
    specs = MetricSpec.objects.select_related("system")
    if system_id is not None:
        specs = specs.filter(system_id=system_id)
    if metric_ids is not None:
        specs = specs.filter(pk__in=metric_ids)
    count = 0
    for spec in specs:
        metric_alerts_evaluate(spec=spec, now=now)
        count += 1
    return count


# --- Data quality -----------------------------------------------------------------------


def data_quality_escalate(*, source: DataSource, checks, now: datetime | None = None) -> list:
    """A source's checks turned "fail": one escalation per check and downstream system.

    Deduplicated by `data_quality:<source>:<check>` per system, routed to the
    system's owner and the source's owner. A source that feeds no system
    raises nothing (the dashboard still shows it red).
    """
    opened = []
    for system in source.systems.all():
        for check in checks:
            escalation = escalation_raise(
                system=system,
                source=EscalationSource.DATA_QUALITY,
                severity=Severity.CRITICAL,
                title=gettext("Upstream data issue: %(source)s, %(check)s")
                % {"source": source.name, "check": check.get_kind_display().lower()},
                dedup_key=f"data_quality:{source.slug}:{check.kind}",
                details={
                    "summary": check.detail,
                    "data_source": source.slug,
                    "check": check.kind,
                    "value": check.value,
                },
                now=now,
                data_source=source,
            )
            if escalation is not None:
                opened.append(escalation)
    return opened
