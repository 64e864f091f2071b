"""Writes of the rollout app, re-exported here.

`gates`: stage advance and step back, waivers, rollback plans, interventions, test alerts,
the daily snapshots. `rollouts`: plans, start, checkpoints, approvals, pause, resume, rollback.
"""

from rollout.services.gates import (
    alert_test_send,
    gates_evaluate,
    intervention_record,
    rollback_plan_save,
    stage_advance,
    stage_step_back,
    waiver_grant,
)
from rollout.services.rollouts import (
    approvals_needed,
    checkpoint_snapshot,
    cohort_approve,
    default_checkpoint_metrics,
    rollout_evaluate,
    rollout_pause,
    rollout_plan,
    rollout_resume,
    rollout_roll_back,
    rollout_start,
    rollouts_evaluate,
    validate_cohorts,
)

__all__ = [
    "alert_test_send",
    "approvals_needed",
    "checkpoint_snapshot",
    "cohort_approve",
    "default_checkpoint_metrics",
    "gates_evaluate",
    "intervention_record",
    "rollback_plan_save",
    "rollout_evaluate",
    "rollout_pause",
    "rollout_plan",
    "rollout_resume",
    "rollout_roll_back",
    "rollout_start",
    "rollouts_evaluate",
    "stage_advance",
    "stage_step_back",
    "validate_cohorts",
    "waiver_grant",
]
