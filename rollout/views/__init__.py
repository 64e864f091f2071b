"""The rollout app's browser pages, one module per page family, re-exported for the URLs."""

from rollout.views.readiness import (
    READINESS_ACTIONS,
    readiness,
    readiness_action,
    rollback_plan_save,
)
from rollout.views.rollouts import (
    ROLLOUT_ACTIONS,
    rollout_action,
    rollout_detail,
    rollout_list,
    system_rollouts,
)

__all__ = [
    "READINESS_ACTIONS",
    "ROLLOUT_ACTIONS",
    "readiness",
    "readiness_action",
    "rollback_plan_save",
    "rollout_action",
    "rollout_detail",
    "rollout_list",
    "system_rollouts",
]
