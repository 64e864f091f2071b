"""Celery tasks of the rollout app (queue "gates"): thin, idempotent, one service call each."""

from __future__ import annotations

from celery import shared_task

from core.coalesce import pending_clear
from rollout import services
from rollout.evidence_services import evidence_pack_build


@shared_task(name="rollout.tasks.evaluate_checkpoints", ignore_result=True)
def evaluate_checkpoints() -> int:
    """Beat, every minute: judge the running cohort of every rollout."""
    return services.rollouts_evaluate()


@shared_task(name="rollout.tasks.evaluate_rollout", ignore_result=True)
def evaluate_rollout(rollout_id: int) -> str:
    """After a batch for a candidate version landed: judge its rollout now."""
    # Before reading anything: a batch that lands from now on enqueues another run.
    pending_clear(evaluate_rollout, rollout_id)
    return services.rollout_evaluate(rollout_id=rollout_id)


@shared_task(name="rollout.tasks.evaluate_gates", ignore_result=True)
def evaluate_gates() -> int:
    """Beat, every five minutes: every system's exit criteria and readiness, today's snapshot."""
    return services.gates_evaluate()


# Sent to the "default" queue by its service, not "gates" (where rollout.tasks.* go):
# verifying a long audit chain takes seconds, and no checkpoint should wait behind a report.
@shared_task(name="rollout.tasks.build_evidence_pack", acks_late=True, ignore_result=True)
def build_evidence_pack(pack_id: int) -> str:
    """Build one requested pack; quiet when it is gone or built already (safe to run twice)."""
    return evidence_pack_build(pack_id=pack_id)
