"""Choices of the rollout app, each with its transition graph where it has one."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RolloutState(models.TextChoices):
    """A rollout's life.

    planned -> running -> (paused <-> running) -> completed
    running | paused -> rolled_back
    """

    PLANNED = "planned", _("Planned")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")
    ROLLED_BACK = "rolled_back", _("Rolled back")


ACTIVE_ROLLOUT_STATES = frozenset({RolloutState.PLANNED, RolloutState.RUNNING, RolloutState.PAUSED})
LIVE_ROLLOUT_STATES = frozenset({RolloutState.RUNNING, RolloutState.PAUSED})


class StepState(models.TextChoices):
    """A cohort's life.

    pending -> observing -> awaiting_approval -> approved (the next step becomes observing)
    observing | awaiting_approval -> failed (the rollout pauses)
    failed -> observing (the rollout resumes after its root cause is recorded)
    """

    PENDING = "pending", _("Pending")
    OBSERVING = "observing", _("Observing")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    FAILED = "failed", _("Failed")


class CheckpointStatus(models.TextChoices):
    PASS = "pass", _("Pass")
    FAIL = "fail", _("Fail")
    INSUFFICIENT_DATA = "insufficient_data", _("Insufficient data")


class Verdict(models.TextChoices):
    """The readiness verdict: all seven met, one or two unmet, or three or more."""

    READY = "ready", _("Ready")
    CONDITIONAL = "conditional", _("Conditional")
    DEFER = "defer", _("Defer")


class DrillOutcome(models.TextChoices):
    """A rollback drill: pending while it runs, then succeeded or failed."""

    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class InterventionKind(models.TextChoices):
    """Manual interventions that restart indicator 2's 14-day count."""

    MANUAL_OVERRIDE = "manual_override", _("Manual override of outputs")
    DATA_CORRECTION = "data_correction", _("Manual data correction")
    INCIDENT_CLOSED = "incident_closed", _("Quality incident closed by hand")
