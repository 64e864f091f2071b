"""The demo's four-stage framework: a ready system with a rollout waiting at 25%.

The card fraud screener is made ready the way a real team would: its owner
signs, an AI-ops member and a business-unit lead are named, a test alert is
sent and acknowledged, a rollback plan is written and rehearsed (a rehearsal
rollout rolled back as a drill). Its candidate 2.4.0, approved through a change
request, then rolls out: the 10% cohort passed and was approved a day ago, and
the 25% cohort has observed the candidate's metrics since and waits for an
operations director. Every step goes through the services, with the clock of
each step passed in, so the audit trail and the rollout agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from governance import services as governance
from governance.models import Escalation
from governance.services import escalations
from registry.models import AISystem, ModelVersion
from rollout import services
from rollout.evidence_services import evidence_pack_build, evidence_pack_request
from rollout.models import EvidencePack, RollbackPlan, Rollout

SYSTEM = "card-fraud-screener"
CANDIDATE = "2.4.0"
# Short enough that a newcomer sees the next cohort reach its checkpoint in the session.
OBSERVATION = timedelta(hours=6)
MIN_POINTS = 6
ROLLBACK_PLAN = (
    "1. Set the fraud screener's traffic router to 0% for the candidate (the portal's Roll back "
    "does this: GET /api/v1/systems/card-fraud-screener/rollout/ answers cohort_percent 0).\n"
    "2. Confirm in the card-authorisation dashboard that decisions come from the deployed "
    "version within 5 minutes.\n"
    "3. Page the cards AI-ops rota and record the rollback here with its root cause."
)


def _users() -> dict:
    names = ["director", "owner", "approver", "viewer"]
    return {user.username: user for user in get_user_model().objects.filter(username__in=names)}


def _readiness_load(system: AISystem, users: dict, now: datetime) -> None:
    """The drills and records that make the screener ready (ownership comes from demo.py)."""
    if not Escalation.objects.filter(system=system, is_test=True).exists():
        alert = services.alert_test_send(system=system, by=users["director"])
        escalations.escalation_acknowledge(escalation=alert, by=users["owner"])
    if not RollbackPlan.objects.filter(system=system).exists():
        services.rollback_plan_save(system=system, by=users["owner"], text=ROLLBACK_PLAN)
    candidate = ModelVersion.objects.get(system=system, version=CANDIDATE)
    if not Rollout.objects.filter(system=system, is_rehearsal=True).exists():
        rehearsal = services.rollout_plan(
            system=system,
            candidate=candidate,
            by=users["director"],
            observation_seconds=600,
            min_points=1,
            is_rehearsal=True,
        )
        services.rollout_start(rollout=rehearsal, by=users["director"], now=now - timedelta(days=6))
        services.rollout_roll_back(
            rollout=rehearsal,
            by=users["director"],
            reason="Quarterly rollback drill: router back to 2.3.0 in 3 minutes.",
            drill=True,
            succeeded=True,
        )


def _change_request_approved(system: AISystem, users: dict) -> None:
    candidate = ModelVersion.objects.get(system=system, version=CANDIDATE)
    if candidate.change_requests.exists():
        return
    change = governance.change_request_open(
        system=system,
        by=users["owner"],
        kind="model_update",
        title=f"Roll out fraud screener {CANDIDATE}",
        description="2.4.0 adds merchant-category features and is retrained on Q3 chargebacks.",
        rationale="Fewer false declines on overseas card-present payments.",
        model_version=candidate,
    )
    governance.change_request_submit(change=change, by=users["owner"])
    governance.change_request_approve(
        change=change, by=users["approver"], comment="Back-test and fairness report reviewed."
    )


def demo_rollout_load(*, now: datetime | None = None) -> Rollout | None:
    """The screener's rollout: 10% approved a day ago, 25% awaiting a director (idempotent)."""
    now = now or timezone.now()
    system = AISystem.objects.filter(slug=SYSTEM).first()
    if system is None:
        return None
    users = _users()
    _readiness_load(system, users, now)
    _change_request_approved(system, users)
    existing = Rollout.objects.filter(system=system, is_rehearsal=False).first()
    if existing is not None:
        services.rollout_evaluate(rollout_id=existing.pk, now=now)
        return existing
    candidate = ModelVersion.objects.get(system=system, version=CANDIDATE)
    rollout = services.rollout_plan(
        system=system,
        candidate=candidate,
        by=users["director"],
        observation_seconds=int(OBSERVATION.total_seconds()),
        min_points=MIN_POINTS,
    )
    started = now - timedelta(hours=40)
    services.rollout_start(rollout=rollout, by=users["director"], now=started)
    first_passed = started + OBSERVATION + timedelta(minutes=5)
    services.rollout_evaluate(rollout_id=rollout.pk, now=first_passed)
    step = rollout.steps.get(index=0)
    services.cohort_approve(step=step, by=users["director"], now=first_passed + timedelta(hours=2))
    services.rollout_evaluate(rollout_id=rollout.pk, now=now)
    return rollout


def demo_evidence_load() -> None:
    """One evidence pack of the screener, built at once (the queued build then finds it done)."""
    system = AISystem.objects.filter(slug=SYSTEM).first()
    if system is None or EvidencePack.objects.filter(system=system).exists():
        return
    services.gates_evaluate()  # today's gate snapshot, for the pack's daily record
    pack = evidence_pack_request(system=system, by=_users()["director"])
    evidence_pack_build(pack_id=pack.pk)
