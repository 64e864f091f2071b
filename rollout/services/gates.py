"""Stage gates and readiness: advance and step back, waivers, plans, drills, snapshots."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import ApplicationError
from core.roles import Role, has_role
from governance.audit import audit_record
from governance.choices import EscalationSource, EscalationState, Severity
from governance.models import Escalation
from governance.services.escalations import escalation_raise
from registry.choices import Stage
from registry.models import AISystem
from registry.services import ai_system_stage_set
from rollout import indicators as ind
from rollout.choices import InterventionKind
from rollout.criteria import NEXT_STAGE, PREVIOUS_STAGE, exit_criteria, readiness
from rollout.models import GateSnapshot, ManualIntervention, RollbackPlan, Waiver
from rollout.selectors import active_rollout, system_facts, systems_facts

EVALUATION_CHUNK = 500


def _require_director(by, action: str) -> None:
    if not has_role(by, Role.OPERATIONS_DIRECTOR):
        raise ApplicationError(
            gettext("Only operations directors %(action)s.") % {"action": action}, status=403
        )


def _require_steward(by, action: str) -> None:
    if not (has_role(by, Role.OPERATIONS_DIRECTOR) or has_role(by, Role.SYSTEM_OWNER)):
        raise ApplicationError(
            gettext("Only operations directors and system owners %(action)s.") % {"action": action},
            status=403,
        )


def stage_advance(*, system: AISystem, by, now: datetime | None = None) -> AISystem:
    """Move a system to the next stage when every exit criterion of its stage holds."""
    _require_director(by, "advance a system's stage")
    now = now or timezone.now()
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        following = NEXT_STAGE.get(locked.stage)
        if following is None:
            raise ApplicationError(
                gettext("A system in production has no further stage."), status=409
            )
        criteria = exit_criteria(system_facts(locked, now=now), now=now)
        unmet = [c for c in criteria if not c.met]
        if unmet:
            raise ApplicationError(
                "Not every exit criterion holds: " + "; ".join(c.label for c in unmet) + ".",
                status=409,
                code="criteria_unmet",
                extra={"unmet": [c.key for c in unmet]},
            )
        return ai_system_stage_set(
            system=locked,
            by=by,
            stage=following,
            reason="exit criteria met: " + ", ".join(c.key for c in criteria),
        )


def stage_step_back(*, system: AISystem, by, reason: str) -> AISystem:
    """Move a system back one stage, with a reason (audited); not while a rollout is in flight."""
    _require_director(by, "move a system back a stage")
    if not (reason or "").strip():
        raise ApplicationError(gettext("Say why the system steps back."), field="reason")
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        previous = PREVIOUS_STAGE.get(locked.stage)
        if previous is None:
            raise ApplicationError(gettext("Stage 1 is the first stage."), status=409)
        if locked.stage == Stage.STAGED_ROLLOUT and active_rollout(locked) is not None:
            raise ApplicationError(
                gettext("A rollout is in flight: complete it or roll it back first."), status=409
            )
        return ai_system_stage_set(system=locked, by=by, stage=previous, reason=reason.strip())


def waiver_grant(
    *, system: AISystem, by, unmet: list[str], justification: str, now: datetime | None = None
) -> Waiver:
    """A director lets Stage 4 start on a conditional verdict, naming each unmet indicator.

    Refused on a defer verdict (nothing overrides it) and when the named
    indicators are not exactly those unmet now.
    """
    _require_director(by, "grant waivers")
    if not (justification or "").strip():
        raise ApplicationError(gettext("A waiver needs a justification."), field="justification")
    now = now or timezone.now()
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        indicators = readiness(system_facts(locked, now=now), now=now)
        verdict = ind.verdict(indicators)
        current = sorted(i.key for i in indicators if not i.met)
        if verdict == ind.DEFER:
            raise ApplicationError(
                gettext(
                    "The verdict is defer (%(current_count)s indicators unmet): no waiver "
                    "can override it."
                )
                % {"current_count": len(current)},
                status=409,
                code="defer",
            )
        if verdict == ind.READY:
            raise ApplicationError(
                gettext("Every indicator is met: there is nothing to waive."), status=409
            )
        if sorted(set(unmet)) != current:
            raise ApplicationError(
                "Name exactly the unmet indicators: " + ", ".join(current) + ".", field="unmet"
            )
        waiver = Waiver.objects.create(
            system=locked,
            unmet=current,
            justification=justification.strip(),
            granted_by=by,
            granted_at=now,
            indicators=[
                {"key": i.key, "met": i.met, "value": i.value, "threshold": i.threshold}
                for i in indicators
            ],
        )
        audit_record(
            actor=by,
            action="readiness.waive",
            obj=waiver,
            system=locked,
            after={"unmet": current, "verdict": verdict},
            reason=justification.strip(),
        )
    return waiver


def rollback_plan_save(*, system: AISystem, by, text: str) -> RollbackPlan:
    """Write (or rewrite) the system's rollback procedure."""
    _require_steward(by, "write rollback plans")
    if not (text or "").strip():
        raise ApplicationError(gettext("Describe the rollback procedure."), field="text")
    with transaction.atomic():
        plan, created = RollbackPlan.objects.select_for_update().get_or_create(
            system=system,
            defaults={"text": text.strip(), "updated_by": by, "updated_at": timezone.now()},
        )
        if not created:
            plan.text, plan.updated_by, plan.updated_at = text.strip(), by, timezone.now()
            plan.save()
        audit_record(
            actor=by,
            action="rollback_plan.save",
            obj=plan,
            system=system,
            after={"chars": len(plan.text)},
        )
    return plan


def intervention_record(
    *, system: AISystem, by, kind: str, note: str, at: datetime | None = None
) -> ManualIntervention:
    """Record a manual override or data correction; it restarts the 14-day quality count."""
    _require_steward(by, "record manual interventions")
    if kind not in InterventionKind.values:
        raise ApplicationError(
            gettext("%(kind)s is not a kind of intervention.") % {"kind": f"{kind!r}"}, field="kind"
        )
    if not (note or "").strip():
        raise ApplicationError(gettext("Say what was done."), field="note")
    now = timezone.now()
    at = at or now
    if at > now:
        raise ApplicationError(gettext("An intervention cannot be in the future."), field="at")
    with transaction.atomic():
        intervention = ManualIntervention.objects.create(
            system=system, kind=kind, at=at, note=note.strip(), recorded_by=by
        )
        audit_record(
            actor=by,
            action="intervention.record",
            obj=intervention,
            system=system,
            after={"kind": kind, "at": at.isoformat()},
            reason=note.strip(),
        )
    return intervention


def alert_test_send(*, system: AISystem, by) -> Escalation:
    """Send a test alert through the system's real escalation route; its acknowledgement counts.

    Refused while an earlier test alert still waits to be acknowledged.
    """
    _require_steward(by, "send test alerts")
    with transaction.atomic():
        # The system's row lock: two sends at once must not open two test alerts.
        AISystem.objects.select_for_update().get(pk=system.pk)
        return _alert_test_open(system, by)


def _alert_test_open(system: AISystem, by) -> Escalation:
    waiting = Escalation.objects.filter(
        system=system, is_test=True, state=EscalationState.OPEN
    ).first()
    if waiting is not None:
        raise ApplicationError(
            gettext("Test alert ESC-%(waiting_id)s still waits for its acknowledgement.")
            % {"waiting_id": waiting.pk},
            status=409,
        )
    now = timezone.now()
    escalation = escalation_raise(
        system=system,
        source=EscalationSource.MANUAL,
        severity=Severity.WARNING,
        title=gettext("Test alert: acknowledge it to prove the escalation path works"),
        dedup_key=f"test_alert:{now:%Y%m%dT%H%M%S%f}",
        details={"summary": gettext("A drill of the alerting path (readiness indicator 5).")},
        by=by,
        now=now,
        is_test=True,
    )
    if escalation is None:
        raise ApplicationError(
            gettext("A silence mutes this system's test alerts; end it to run the drill."),
            status=409,
        )
    return escalation


def gates_evaluate(*, now: datetime | None = None) -> int:
    """Evaluate every system's exit criteria and readiness and keep today's snapshot.

    Systems are read in chunks, each in a fixed number of queries; the
    snapshots of a chunk are written in one upsert.
    """
    now = now or timezone.now()
    ids = list(AISystem.objects.order_by("pk").values_list("pk", flat=True))
    count = 0
    for start in range(0, len(ids), EVALUATION_CHUNK):
        systems = list(AISystem.objects.filter(pk__in=ids[start : start + EVALUATION_CHUNK]))
        snapshots = []
        for system, facts in zip(systems, systems_facts(systems, now=now), strict=True):
            criteria = exit_criteria(facts, now=now)
            indicators = readiness(facts, now=now)
            snapshots.append(
                GateSnapshot(
                    system=system,
                    day=now.date(),
                    stage=system.stage,
                    criteria=[c.as_dict() for c in criteria],
                    criteria_met=sum(c.met for c in criteria),
                    criteria_total=len(criteria),
                    verdict=ind.verdict(indicators),
                    indicators=[
                        {"key": i.key, "number": i.number, "met": i.met, "value": i.value}
                        for i in indicators
                    ],
                    indicators_met=sum(i.met for i in indicators),
                    evaluated_at=now,
                )
            )
        GateSnapshot.objects.bulk_create(
            snapshots,
            update_conflicts=True,
            unique_fields=["system", "day"],
            update_fields=[
                "stage",
                "criteria",
                "criteria_met",
                "criteria_total",
                "verdict",
                "indicators",
                "indicators_met",
                "evaluated_at",
            ],
        )
        count += len(snapshots)
    return count
