"""Staged rollouts: plan, start, checkpoint evaluation, approval, pause, resume, roll back.

Every transition locks the rollout row first (`select_for_update`), so an
approval racing an automatic pause, or two directors approving one cohort,
are serialised by the database and end in one consistent state: the second
sees the first's result and is refused (409) or counted, never both applied.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Avg, Count, Max, Min, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import ApplicationError
from core.roles import Role, has_role
from governance.audit import audit_record
from governance.choices import ChangeState, EscalationSource, RootCause, Severity
from governance.services import change_request_mark_deployed, version_deployable
from governance.services.escalations import escalation_raise
from registry.choices import MetricKind, RiskTier, Stage
from registry.models import AISystem, MetricPoint, MetricSpec, ModelVersion
from registry.services import model_version_deploy
from rollout import indicators as ind
from rollout.checkpoints import CheckpointMetric as MetricInput
from rollout.checkpoints import Observed, checkpoint_verdict, observe
from rollout.choices import CheckpointStatus, RolloutState, StepState
from rollout.criteria import readiness, waiver_covers
from rollout.models import (
    DEFAULT_COHORTS,
    OBSERVATION_BY_TIER,
    CheckpointMetric,
    CohortApproval,
    CohortStep,
    Pause,
    Rollout,
    Waiver,
)
from rollout.selectors import status_cache_key, system_facts

CHECKPOINT_KINDS = (
    MetricKind.QUALITY,
    MetricKind.ERROR_RATE,
    MetricKind.INTEGRATION,
    MetricKind.ADOPTION,
)
TWO_DIRECTOR_TIERS = frozenset({RiskTier.HIGH, RiskTier.CRITICAL})


def _invalidate(system: AISystem) -> None:
    """The deployment-status answer changes: drop its cache once the change is committed."""
    transaction.on_commit(lambda: cache.delete(status_cache_key(system.slug)))


def _require_director(by, action: str) -> None:
    if not has_role(by, Role.OPERATIONS_DIRECTOR):
        raise ApplicationError(
            gettext("Only operations directors %(action)s.") % {"action": action}, status=403
        )


def _locked(rollout: Rollout) -> Rollout:
    return (
        Rollout.objects.select_for_update().select_related("system", "candidate").get(pk=rollout.pk)
    )


def _require_state(rollout: Rollout, allowed: set[str], action: str) -> None:
    if rollout.state not in allowed:
        raise ApplicationError(
            gettext("A %(state)s rollout cannot be %(action)s.")
            % {"state": rollout.get_state_display().lower(), "action": action},
            status=409,
            code="wrong_state",
        )


def _audit(by, action: str, rollout: Rollout, *, before=None, after=None, reason: str = "") -> None:
    audit_record(
        actor=by,
        action=action,
        obj=rollout,
        system=rollout.system,
        before=before,
        after=after,
        reason=reason,
    )
    rollout.updated_at = timezone.now()
    Rollout.objects.filter(pk=rollout.pk).update(updated_at=rollout.updated_at)
    _invalidate(rollout.system)


def validate_cohorts(cohorts) -> list[int]:
    """A strictly increasing list of whole percentages from 1 to 100 that ends at 100."""
    if not isinstance(cohorts, list | tuple) or not cohorts:
        raise ApplicationError(
            gettext("Give the cohorts as a list of percentages."), field="cohorts"
        )
    if any(isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= 100 for c in cohorts):
        raise ApplicationError(
            gettext("Each cohort is a whole percentage from 1 to 100."), field="cohorts"
        )
    if any(b <= a for a, b in pairwise(cohorts)):
        raise ApplicationError(gettext("Cohorts must strictly increase."), field="cohorts")
    if cohorts[-1] != 100:
        # xgettext:no-python-format
        raise ApplicationError(gettext("The last cohort is 100% of traffic."), field="cohorts")
    return list(cohorts)


def default_checkpoint_metrics(system: AISystem) -> list[tuple[MetricSpec, float]]:
    """Every required quality, error-rate/integration and adoption metric, at its critical level."""
    specs = MetricSpec.objects.filter(system=system, required=True, kind__in=CHECKPOINT_KINDS)
    return [(spec, spec.critical) for spec in specs.order_by("key")]


def rollout_plan(
    *,
    system: AISystem,
    candidate: ModelVersion,
    by,
    cohorts: list[int] | None = None,
    observation_seconds: int | None = None,
    min_points: int = 30,
    metrics: list[tuple[MetricSpec, float]] | None = None,
    is_rehearsal: bool = False,
) -> Rollout:
    """Plan a rollout of `candidate` (deployable through an approved change request)."""
    _require_director(by, "plan rollouts")
    if candidate.system_id != system.pk:
        raise ApplicationError(
            gettext("The candidate is a version of another system."), field="candidate"
        )
    cohorts = validate_cohorts(cohorts if cohorts is not None else DEFAULT_COHORTS)
    if observation_seconds is None:
        observation_seconds = OBSERVATION_BY_TIER[system.risk_tier]
    if (
        isinstance(observation_seconds, bool)
        or not isinstance(observation_seconds, int)
        or (observation_seconds < 1)
    ):
        raise ApplicationError(
            gettext("Observe each cohort for at least one second."), field="observation_seconds"
        )
    if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 1:
        raise ApplicationError(gettext("A verdict needs at least one point."), field="min_points")
    change = None
    if not is_rehearsal:
        deployable = version_deployable(system=system, model_version=candidate)
        if not deployable["deployable"]:
            raise ApplicationError(
                "The candidate is not deployable: " + " ".join(deployable["reasons"]),
                status=409,
                field="candidate",
                code="not_deployable",
            )
        change = candidate.change_requests.filter(pk=deployable["change_request"]).first()
    metrics = metrics if metrics is not None else default_checkpoint_metrics(system)
    if not metrics:
        raise ApplicationError(
            gettext(
                "The system has no required quality, error-rate or adoption metric to "
                "judge cohorts by; declare one first."
            ),
            field="metrics",
        )
    if any(spec.system_id != system.pk for spec, _ in metrics):
        raise ApplicationError(
            gettext("A checkpoint metric belongs to another system."), field="metrics"
        )
    now = timezone.now()
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        try:
            with transaction.atomic():
                rollout = Rollout.objects.create(
                    system=system,
                    candidate=candidate,
                    # From the locked row: the caller's copy may predate a completed rollout.
                    previous=locked.deployed_version,
                    change_request=change,
                    is_rehearsal=is_rehearsal,
                    cohorts=cohorts,
                    observation_seconds=observation_seconds,
                    min_points=min_points,
                    created_by=by,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:
            raise ApplicationError(
                gettext("Another rollout of this system is in flight."),
                status=409,
                code="rollout_active",
            ) from None
        CohortStep.objects.bulk_create(
            CohortStep(rollout=rollout, index=index, percent=percent)
            for index, percent in enumerate(cohorts)
        )
        CheckpointMetric.objects.bulk_create(
            CheckpointMetric(rollout=rollout, metric=spec, threshold=threshold)
            for spec, threshold in metrics
        )
        _audit(
            by,
            "rollout.plan",
            rollout,
            after={
                "candidate": candidate.version,
                "cohorts": cohorts,
                "observation_seconds": observation_seconds,
                "min_points": min_points,
                "metrics": {spec.key: threshold for spec, threshold in metrics},
                "rehearsal": is_rehearsal,
            },
        )
    return rollout


def rollout_start(*, rollout: Rollout, by, now: datetime | None = None) -> Rollout:
    """planned -> running: needs Stage 4 and a verdict that is not defer (conditional: a waiver).

    A rehearsal routes no traffic, so it needs neither: it is how the rollback
    drill of indicator 6 is run before Stage 4.
    """
    _require_director(by, "start rollouts")
    now = now or timezone.now()
    with transaction.atomic():
        rollout = _locked(rollout)
        _require_state(rollout, {RolloutState.PLANNED}, "started")
        system = rollout.system
        if rollout.is_rehearsal:
            return _begin(rollout, by, now, verdict=None, waiver=None)
        if system.stage != Stage.STAGED_ROLLOUT:
            raise ApplicationError(
                gettext("The system is not in Stage 4 (staged rollout) yet."),
                status=409,
                code="stage",
            )
        indicators = readiness(system_facts(system, now=now), now=now)
        verdict = ind.verdict(indicators)
        waiver = None
        if verdict == ind.DEFER:
            raise ApplicationError(
                gettext("Readiness is defer: Stage 4 cannot start, and no waiver overrides it."),
                status=409,
                code="defer",
            )
        if verdict == ind.CONDITIONAL:
            waiver = Waiver.objects.filter(system=system).order_by("-granted_at").first()
            if waiver is None or not waiver_covers(waiver.unmet, indicators):
                raise ApplicationError(
                    gettext(
                        "Readiness is conditional: an operations director must record a waiver "
                        "naming the unmet indicators first."
                    ),
                    status=409,
                    code="waiver_required",
                )
        _require_deployable(rollout)
        return _begin(rollout, by, now, verdict=verdict, waiver=waiver)


def _require_deployable(rollout: Rollout) -> None:
    """The candidate must still be what an approved change request approved (its hash)."""
    deployable = version_deployable(system=rollout.system, model_version=rollout.candidate)
    if not deployable["deployable"]:
        raise ApplicationError(
            "The candidate is no longer deployable: " + " ".join(deployable["reasons"]),
            status=409,
            code="not_deployable",
        )


def _begin(rollout: Rollout, by, now: datetime, *, verdict: str | None, waiver) -> Rollout:
    rollout.state = RolloutState.RUNNING
    rollout.started_at = now
    rollout.waiver = waiver
    rollout.current_index = 0
    rollout.save(update_fields=["state", "started_at", "waiver", "current_index"])
    CohortStep.objects.filter(rollout=rollout, index=0).update(
        state=StepState.OBSERVING, started_at=now
    )
    _audit(
        by,
        "rollout.start",
        rollout,
        before={"state": "planned"},
        after={"state": "running", "verdict": verdict, "waiver": waiver.pk if waiver else None},
    )
    return rollout


# --- Checkpoints -----------------------------------------------------------------------------


# Aggregations PostgreSQL (or SQLite) folds in the query; p95 and "last" need the points.
_SQL_AGGREGATES = {"mean": Avg, "min": Min, "max": Max, "sum": Sum}


def _observed(rollout: Rollout, metrics: list[CheckpointMetric], since: datetime) -> dict:
    """Each checkpoint metric's candidate points since `since`, folded: {metric_id: Observed}.

    One aggregate query for the metrics the database can fold, and a read of the
    points only for p95 and "last" metrics: a checkpoint over a day of
    minute-level points stays a few small queries.
    """
    points = MetricPoint.objects.filter(at__gte=since, version_key=rollout.candidate_id)
    folded = [m for m in metrics if m.metric.aggregation in _SQL_AGGREGATES]
    observed: dict[int, Observed] = {m.metric_id: Observed(0, None) for m in metrics}
    if folded:
        annotations = {
            f"v{m.metric_id}": _SQL_AGGREGATES[m.metric.aggregation](
                "value", filter=Q(metric_id=m.metric_id)
            )
            for m in folded
        }
        annotations |= {
            f"n{m.metric_id}": Count("pk", filter=Q(metric_id=m.metric_id)) for m in folded
        }
        row = points.filter(metric_id__in=[m.metric_id for m in folded]).aggregate(**annotations)
        for m in folded:
            observed[m.metric_id] = Observed(row[f"n{m.metric_id}"], row[f"v{m.metric_id}"])
    for m in metrics:
        if m.metric.aggregation not in _SQL_AGGREGATES:
            values = list(
                points.filter(metric_id=m.metric_id).order_by("at").values_list("value", flat=True)
            )
            observed[m.metric_id] = observe(m.metric.aggregation, values)
    return observed


def _observed_batch(items: list[tuple[Rollout, CohortStep, list[CheckpointMetric]]]) -> dict:
    """`_observed` for many rollouts at once: {rollout_id: {metric_id: Observed}}.

    On PostgreSQL the foldable metrics of every rollout are aggregated in one
    statement (each with its own candidate and cohort start, passed as arrays);
    p95 and "last" metrics, and SQLite, take the per-rollout path.
    """
    result = {}
    if connection.vendor != "postgresql":
        for rollout, step, metrics in items:
            result[rollout.pk] = _observed(rollout, metrics, step.started_at)
        return result
    rows = [
        (rollout.pk, m.metric_id, rollout.candidate_id, step.started_at)
        for rollout, step, metrics in items
        for m in metrics
        if m.metric.aggregation in _SQL_AGGREGATES
    ]
    folded: dict[tuple[int, int], tuple] = {}
    if rows:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT c.rollout_id, c.metric_id, count(p.value), avg(p.value), min(p.value),
                       max(p.value), sum(p.value)
                FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::timestamptz[])
                     AS c(rollout_id, metric_id, version_key, since)
                LEFT JOIN registry_metricpoint p
                     ON p.metric_id = c.metric_id AND p.version_key = c.version_key
                    AND p.at >= c.since
                GROUP BY c.rollout_id, c.metric_id
                """,
                [list(column) for column in zip(*rows, strict=True)],
            )
            for rollout_id, metric_id, count, avg, low, high, total in cursor.fetchall():
                folded[rollout_id, metric_id] = (
                    count,
                    {"mean": avg, "min": low, "max": high, "sum": total},
                )
    for rollout, step, metrics in items:
        observed = {}
        for m in metrics:
            aggregation = m.metric.aggregation
            if aggregation in _SQL_AGGREGATES:
                count, values = folded.get((rollout.pk, m.metric_id), (0, {}))
                observed[m.metric_id] = Observed(count, values.get(aggregation) if count else None)
            else:
                observed[m.metric_id] = _observed(rollout, [m], step.started_at)[m.metric_id]
        result[rollout.pk] = observed
    return result


def _snapshot(rollout: Rollout, metrics: list[CheckpointMetric], observed: dict) -> dict:
    verdict = checkpoint_verdict(
        [
            MetricInput(
                m.metric.key,
                m.metric.direction == "higher_is_better",
                m.threshold,
                m.metric.aggregation,
                observed[m.metric_id],
            )
            for m in metrics
        ],
        min_points=rollout.min_points,
    )
    return {
        "status": verdict.status,
        "metrics": [
            {
                "metric": r.key,
                "status": r.status,
                "value": r.value,
                "threshold": r.threshold,
                "points": r.points,
                "detail": r.detail,
            }
            for r in verdict.metrics
        ],
    }


def checkpoint_snapshot(rollout: Rollout, step: CohortStep) -> dict:
    """The checkpoint's verdict over the candidate's points since the cohort began."""
    metrics = list(rollout.checkpoint_metrics.select_related("metric"))
    return _snapshot(rollout, metrics, _observed(rollout, metrics, step.started_at))


def rollout_evaluate(*, rollout_id: int, now: datetime | None = None) -> str:
    """Judge the running cohort; fail pauses at once, a long enough pass awaits approval.

    Returns the verdict, or "" when there is nothing to judge (gone, not running).
    """
    now = now or timezone.now()
    with transaction.atomic():
        rollout = (
            Rollout.objects.select_for_update()
            .select_related("system", "candidate")
            .filter(pk=rollout_id)
            .first()
        )
        if rollout is None or rollout.state != RolloutState.RUNNING:
            return ""
        step = CohortStep.objects.select_for_update().get(
            rollout=rollout, index=rollout.current_index
        )
        if step.state not in (StepState.OBSERVING, StepState.AWAITING_APPROVAL):
            return ""
        snapshot = checkpoint_snapshot(rollout, step)
        status = snapshot["status"]
        step.verdict, step.verdict_detail, step.evaluated_at = status, snapshot["metrics"], now
        if status == CheckpointStatus.FAIL:
            _fail(rollout, step, snapshot, now)
        elif status == CheckpointStatus.PASS:
            step.passing_since = step.passing_since or now
            observed = now - step.started_at >= timedelta(seconds=rollout.observation_seconds)
            if step.state == StepState.OBSERVING and observed:
                step.state, step.awaiting_since = StepState.AWAITING_APPROVAL, now
                audit_record(
                    actor=None,
                    action="rollout.checkpoint_pass",
                    obj=rollout,
                    system=rollout.system,
                    after={"cohort": step.percent, "metrics": snapshot["metrics"]},
                )
                _invalidate(rollout.system)
        else:
            step.passing_since = None
        step.save()
    return status


def _fail(rollout: Rollout, step: CohortStep, snapshot: dict, now: datetime) -> None:
    reasons = "; ".join(m["detail"] for m in snapshot["metrics"] if m["status"] == "fail")
    step.state = StepState.FAILED
    step.passing_since = None
    rollout.state = RolloutState.PAUSED
    rollout.save(update_fields=["state"])
    escalation = escalation_raise(
        system=rollout.system,
        source=EscalationSource.ROLLOUT_CHECKPOINT,
        severity=Severity.CRITICAL,
        title=gettext("Rollout of %(version)s paused at %(percent)s%%: checkpoint failed")
        % {"version": rollout.candidate.version, "percent": step.percent},
        dedup_key=f"rollout:{rollout.pk}:checkpoint",
        details={"summary": reasons, "rollout": rollout.pk, "cohort": step.percent},
        now=now,
    )
    Pause.objects.create(
        rollout=rollout, step=step, at=now, reason=reasons, automatic=True, escalation=escalation
    )
    _audit(
        None,
        "rollout.pause",
        rollout,
        before={"state": "running"},
        after={"state": "paused", "cohort": step.percent, "metrics": snapshot["metrics"]},
        reason=f"checkpoint failed: {reasons}",
    )


def rollouts_evaluate(*, now: datetime | None = None) -> int:
    """Evaluate every running rollout (beat, every minute).

    Every checkpoint is first judged from a few reads for all rollouts at once.
    A verdict that changes a state (a fail, or a pass that has lasted its
    observation) is then taken by `rollout_evaluate`, under the rollout's lock,
    which judges again on what it sees; the others only refresh the displayed
    verdict, in one statement (a cosmetic write that a concurrent transition
    may overtake harmlessly: it never touches a state).
    """
    now = now or timezone.now()
    rollouts = {
        rollout.pk: rollout
        for rollout in Rollout.objects.filter(state=RolloutState.RUNNING).select_related(
            "system", "candidate"
        )
    }
    metrics: dict[int, list[CheckpointMetric]] = {pk: [] for pk in rollouts}
    for metric in CheckpointMetric.objects.filter(rollout_id__in=rollouts).select_related("metric"):
        metrics[metric.rollout_id].append(metric)
    items = [
        (rollouts[step.rollout_id], step, metrics[step.rollout_id])
        for step in CohortStep.objects.filter(
            rollout_id__in=rollouts, state__in=[StepState.OBSERVING, StepState.AWAITING_APPROVAL]
        )
        if step.index == rollouts[step.rollout_id].current_index
    ]
    observed = _observed_batch(items)
    refreshed = []
    for rollout, step, step_metrics in items:
        snapshot = _snapshot(rollout, step_metrics, observed[rollout.pk])
        status = snapshot["status"]
        lasted = now - step.started_at >= timedelta(seconds=rollout.observation_seconds)
        if status == CheckpointStatus.FAIL or (
            status == CheckpointStatus.PASS and step.state == StepState.OBSERVING and lasted
        ):
            rollout_evaluate(rollout_id=rollout.pk, now=now)
            continue
        step.verdict, step.verdict_detail, step.evaluated_at = status, snapshot["metrics"], now
        step.passing_since = (
            (step.passing_since or now) if status == CheckpointStatus.PASS else None
        )
        refreshed.append(step)
    CohortStep.objects.bulk_update(
        refreshed, ["verdict", "verdict_detail", "evaluated_at", "passing_since"], batch_size=500
    )
    return len(rollouts)


# --- Decisions -------------------------------------------------------------------------------


def approvals_needed(system: AISystem) -> int:
    """Two different directors for high and critical systems, one otherwise."""
    return 2 if system.risk_tier in TWO_DIRECTOR_TIERS else 1


def cohort_approve(*, step: CohortStep, by, now: datetime | None = None) -> CohortStep:
    """An operations director approves a cohort awaiting approval, on its current snapshot.

    When enough directors have approved, the next cohort begins observing; at
    100% the rollout completes and the candidate becomes the deployed version.
    """
    _require_director(by, "approve cohorts")
    now = now or timezone.now()
    with transaction.atomic():
        rollout = _locked(step.rollout)
        step = CohortStep.objects.select_for_update().get(pk=step.pk)
        if rollout.state != RolloutState.RUNNING:
            raise ApplicationError(
                gettext("The rollout is %(state)s; nothing can be approved.")
                % {"state": rollout.get_state_display().lower()},
                status=409,
                code="wrong_state",
            )
        if step.index != rollout.current_index or step.state != StepState.AWAITING_APPROVAL:
            raise ApplicationError(
                gettext("This cohort is not awaiting approval."), status=409, code="wrong_state"
            )
        snapshot = checkpoint_snapshot(rollout, step)
        if snapshot["status"] != CheckpointStatus.PASS:
            raise ApplicationError(
                gettext("The checkpoint no longer passes; it cannot be approved."), status=409
            )
        try:
            with transaction.atomic():
                CohortApproval.objects.create(
                    step=step,
                    approver=by,
                    at=now,
                    snapshot={
                        "metrics": snapshot["metrics"],
                        "observation_seconds": rollout.observation_seconds,
                        "min_points": rollout.min_points,
                    },
                )
        except IntegrityError:
            raise ApplicationError(
                gettext("You have approved this cohort already."), status=409
            ) from None
        count = step.approvals.count()
        needed = approvals_needed(rollout.system)
        after = {"cohort": step.percent, "approvals": count, "needed": needed}
        if count >= needed:
            step.state, step.approved_at = StepState.APPROVED, now
            step.save(update_fields=["state", "approved_at"])
            _advance(rollout, step, by, now, after)
        _audit(by, "rollout.approve", rollout, after=after)
    return step


def _advance(rollout: Rollout, step: CohortStep, by, now: datetime, after: dict) -> None:
    following = CohortStep.objects.filter(rollout=rollout, index=step.index + 1).first()
    if following is not None:
        following.state, following.started_at = StepState.OBSERVING, now
        following.save(update_fields=["state", "started_at"])
        rollout.current_index = following.index
        rollout.save(update_fields=["current_index"])
        after["next_cohort"] = following.percent
        return
    if not rollout.is_rehearsal:
        _require_deployable(rollout)
    rollout.state, rollout.ended_at = RolloutState.COMPLETED, now
    rollout.save(update_fields=["state", "ended_at"])
    after["state"] = "completed"
    if rollout.is_rehearsal:
        return
    model_version_deploy(
        model_version=rollout.candidate, by=by, reason=f"rollout {rollout.pk} completed at 100%"
    )
    change = rollout.change_request
    if change is not None and change.state == ChangeState.APPROVED:
        change_request_mark_deployed(change=change, by=by)


def rollout_pause(*, rollout: Rollout, by, reason: str) -> Rollout:
    """A director holds a running rollout at its current cohort."""
    _require_director(by, "pause rollouts")
    if not (reason or "").strip():
        raise ApplicationError(gettext("Say why the rollout pauses."), field="reason")
    with transaction.atomic():
        rollout = _locked(rollout)
        _require_state(rollout, {RolloutState.RUNNING}, "paused")
        step = CohortStep.objects.get(rollout=rollout, index=rollout.current_index)
        rollout.state = RolloutState.PAUSED
        rollout.save(update_fields=["state"])
        Pause.objects.create(
            rollout=rollout, step=step, at=timezone.now(), reason=reason.strip(), paused_by=by
        )
        _audit(
            by,
            "rollout.pause",
            rollout,
            before={"state": "running"},
            after={"state": "paused"},
            reason=reason,
        )
    return rollout


def rollout_resume(*, rollout: Rollout, by, root_cause: str, note: str) -> Rollout:
    """paused -> running, once a director records the root cause; a failed cohort observes anew."""
    _require_director(by, "resume rollouts")
    if root_cause not in RootCause.values:
        raise ApplicationError(
            gettext("Choose the root cause (one of the five, or other)."), field="root_cause"
        )
    if not (note or "").strip():
        raise ApplicationError(gettext("Say what was found and done."), field="note")
    now = timezone.now()
    with transaction.atomic():
        rollout = _locked(rollout)
        _require_state(rollout, {RolloutState.PAUSED}, "resumed")
        step = CohortStep.objects.select_for_update().get(
            rollout=rollout, index=rollout.current_index
        )
        if step.state == StepState.FAILED:
            # The breach is behind us: observe this cohort again from now, on fresh points.
            step.state, step.started_at = StepState.OBSERVING, now
            step.passing_since = step.awaiting_since = None
            step.verdict, step.verdict_detail = "", []
            step.save()
            step.approvals.all().delete()
        pause = rollout.pauses.filter(resumed_at__isnull=True).order_by("-at").first()
        if pause is not None:
            pause.resumed_at, pause.resumed_by = now, by
            pause.root_cause, pause.root_cause_note = root_cause, note.strip()
            pause.save()
        rollout.state = RolloutState.RUNNING
        rollout.save(update_fields=["state"])
        _audit(
            by,
            "rollout.resume",
            rollout,
            before={"state": "paused"},
            after={"state": "running", "root_cause": root_cause},
            reason=note,
        )
    return rollout


def rollout_roll_back(
    *, rollout: Rollout, by, reason: str, drill: bool = False, succeeded: bool = True
) -> Rollout:
    """Send the candidate's share to 0% now; a drill's outcome counts for indicator 6."""
    _require_director(by, "roll back rollouts")
    if not (reason or "").strip():
        raise ApplicationError(gettext("Say why the rollout is rolled back."), field="reason")
    now = timezone.now()
    with transaction.atomic():
        rollout = _locked(rollout)
        _require_state(rollout, {RolloutState.RUNNING, RolloutState.PAUSED}, "rolled back")
        before = rollout.state
        rollout.state, rollout.ended_at = RolloutState.ROLLED_BACK, now
        rollout.rollback_is_drill = drill
        rollout.rollback_outcome = "succeeded" if succeeded else "failed"
        rollout.rollback_note = reason.strip()
        rollout.save(
            update_fields=[
                "state",
                "ended_at",
                "rollback_is_drill",
                "rollback_outcome",
                "rollback_note",
            ]
        )
        _audit(
            by,
            "rollout.roll_back",
            rollout,
            before={"state": before},
            after={"state": "rolled_back", "drill": drill, "outcome": rollout.rollback_outcome},
            reason=reason,
        )
    return rollout
