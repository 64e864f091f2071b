"""The four-stage framework's records: plans and drills, waivers, rollouts, evidence packs."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from governance.models import ChangeRequest, Escalation
from registry.choices import RiskTier
from registry.models import AISystem, MetricSpec, ModelVersion
from rollout.choices import (
    CheckpointStatus,
    DrillOutcome,
    InterventionKind,
    RolloutState,
    StepState,
    Verdict,
)

DEFAULT_COHORTS = [10, 25, 50, 100]
# Minimum observation per cohort by risk tier (the defaults), in seconds.
OBSERVATION_BY_TIER = {
    RiskTier.LOW: 1 * 86400,
    RiskTier.MEDIUM: 3 * 86400,
    RiskTier.HIGH: 7 * 86400,
    RiskTier.CRITICAL: 14 * 86400,
}


class RollbackPlan(models.Model):
    """How a system's model is rolled back: the written procedure (indicator 6)."""

    system = models.OneToOneField(AISystem, on_delete=models.CASCADE, related_name="rollback_plan")
    text = models.TextField(_("rollback procedure"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated"))

    class Meta:
        verbose_name = _("rollback plan")
        verbose_name_plural = _("rollback plans")

    def __str__(self) -> str:
        return f"rollback plan of {self.system.slug}"


class ManualIntervention(models.Model):
    """A manual override or data correction: it restarts the 14-day quality count."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="interventions")
    kind = models.CharField(_("kind"), max_length=20, choices=InterventionKind.choices)
    at = models.DateTimeField(_("at"))
    note = models.TextField(_("what was done"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("manual intervention")
        verbose_name_plural = _("manual interventions")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.system.slug} {self.kind} {self.at:%Y-%m-%d}"


class Waiver(models.Model):
    """A director's permission to start Stage 4 on a conditional verdict, naming what is unmet."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="waivers")
    unmet = models.JSONField(_("unmet indicators"))
    justification = models.TextField(_("justification"))
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(_("granted"))
    indicators = models.JSONField(_("indicators when granted"))

    class Meta:
        verbose_name = _("waiver")
        verbose_name_plural = _("waivers")
        ordering = ["-granted_at"]

    def __str__(self) -> str:
        return f"waiver {self.pk} for {self.system.slug}"


class GateSnapshot(models.Model):
    """One day's record of a system's stage, exit criteria and readiness, for the history."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="gate_snapshots")
    day = models.DateField(_("day"))
    stage = models.CharField(_("stage"), max_length=32)
    criteria = models.JSONField(_("exit criteria"))
    criteria_met = models.PositiveSmallIntegerField(_("criteria met"))
    criteria_total = models.PositiveSmallIntegerField(_("criteria"))
    verdict = models.CharField(_("readiness"), max_length=16, choices=Verdict.choices)
    indicators = models.JSONField(_("indicators"))
    indicators_met = models.PositiveSmallIntegerField(_("indicators met"))
    evaluated_at = models.DateTimeField(_("evaluated"))

    class Meta:
        verbose_name = _("gate snapshot")
        verbose_name_plural = _("gate snapshots")
        ordering = ["system", "day"]
        constraints = [
            models.UniqueConstraint(fields=["system", "day"], name="one_gate_snapshot_a_day"),
        ]

    def __str__(self) -> str:
        return f"{self.system_id} {self.day} {self.stage} {self.verdict}"


class Rollout(models.Model):
    """A staged rollout of a candidate model version through cohorts of traffic."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="rollouts")
    candidate = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="rollouts", verbose_name=_("candidate")
    )
    previous = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("previous version"),
    )
    change_request = models.ForeignKey(
        ChangeRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="rollouts"
    )
    waiver = models.ForeignKey(
        Waiver, null=True, blank=True, on_delete=models.PROTECT, related_name="rollouts"
    )
    state = models.CharField(
        _("state"), max_length=16, choices=RolloutState.choices, default=RolloutState.PLANNED
    )
    is_rehearsal = models.BooleanField(
        _("rehearsal"),
        default=False,
        help_text=_("A rehearsal routes no real traffic; rolling it back is a rollback drill."),
    )
    # xgettext:no-python-format (a percent sign, not a placeholder)
    cohorts = models.JSONField(_("cohorts (% of traffic)"))
    observation_seconds = models.PositiveIntegerField(
        _("minimum observation per cohort (s)"), validators=[MinValueValidator(1)]
    )
    min_points = models.PositiveIntegerField(
        _("fewest points for a verdict"), default=30, validators=[MinValueValidator(1)]
    )
    current_index = models.PositiveSmallIntegerField(_("current cohort"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created"))
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"))
    # A rollback: was it a drill, and did it succeed (indicator 6)?
    rollback_is_drill = models.BooleanField(default=False)
    rollback_outcome = models.CharField(
        max_length=16, choices=DrillOutcome.choices, blank=True, default=""
    )
    rollback_note = models.TextField(blank=True)

    class Meta:
        verbose_name = _("rollout")
        verbose_name_plural = _("rollouts")
        ordering = ["-created_at"]
        constraints = [
            # One rollout in flight per system (rehearsals too: both steer the same router).
            models.UniqueConstraint(
                fields=["system"],
                condition=Q(state__in=["planned", "running", "paused"]),
                name="one_active_rollout_per_system",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system.slug} → {self.candidate.version}"

    @property
    def current_step(self) -> CohortStep | None:
        return self.steps.filter(index=self.current_index).first()


class CohortStep(models.Model):
    """One cohort of a rollout: its share of traffic, its observation and its checkpoint."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveSmallIntegerField()
    percent = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=20, choices=StepState.choices, default=StepState.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    passing_since = models.DateTimeField(null=True, blank=True)
    awaiting_since = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    verdict = models.CharField(
        max_length=20, choices=CheckpointStatus.choices, blank=True, default=""
    )
    verdict_detail = models.JSONField(default=list, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("cohort")
        verbose_name_plural = _("cohorts")
        ordering = ["rollout", "index"]
        constraints = [
            models.UniqueConstraint(fields=["rollout", "index"], name="cohort_index_unique"),
            models.CheckConstraint(
                condition=Q(percent__gte=1, percent__lte=100), name="cohort_percent_1_to_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rollout} {self.percent}%"


class CheckpointMetric(models.Model):
    """A metric a rollout's checkpoints judge, with the threshold it must meet."""

    rollout = models.ForeignKey(
        Rollout, on_delete=models.CASCADE, related_name="checkpoint_metrics"
    )
    metric = models.ForeignKey(MetricSpec, on_delete=models.CASCADE, related_name="+")
    threshold = models.FloatField()

    class Meta:
        verbose_name = _("checkpoint metric")
        verbose_name_plural = _("checkpoint metrics")
        constraints = [
            models.UniqueConstraint(fields=["rollout", "metric"], name="checkpoint_metric_once"),
        ]

    def __str__(self) -> str:
        return f"{self.rollout_id}:{self.metric_id} {self.threshold}"


class CohortApproval(models.Model):
    """An operations director's approval of a cohort, with the snapshot it was based on."""

    step = models.ForeignKey(CohortStep, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    snapshot = models.JSONField()

    class Meta:
        verbose_name = _("cohort approval")
        verbose_name_plural = _("cohort approvals")
        constraints = [
            models.UniqueConstraint(fields=["step", "approver"], name="one_approval_per_director"),
        ]

    def __str__(self) -> str:
        return f"{self.step} approved by {self.approver_id}"


class Pause(models.Model):
    """A pause of a rollout, and the root cause recorded before it resumed."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="pauses")
    step = models.ForeignKey(CohortStep, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    reason = models.TextField()
    automatic = models.BooleanField(default=False)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    root_cause = models.CharField(max_length=16, blank=True)
    root_cause_note = models.TextField(blank=True)

    class Meta:
        verbose_name = _("pause")
        verbose_name_plural = _("pauses")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"pause of {self.rollout_id} at {self.at:%Y-%m-%d %H:%M}"


class EvidencePack(models.Model):
    """One build of a system's evidence pack: who asked, when, and what it contained."""

    class Status(models.TextChoices):
        """pending -> ready | failed; both ends are final (a new request builds a new pack)."""

        PENDING = "pending", _("Being built")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="evidence_packs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    requested_at = models.DateTimeField(_("requested"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    bundle = models.JSONField(_("JSON bundle"), null=True, blank=True)
    html = models.TextField(_("HTML report"), blank=True)
    error = models.TextField(_("error"), blank=True)
    sha256 = models.CharField(_("SHA-256 of the JSON bundle"), max_length=64, blank=True)
    # The requester's language: the report (and the bundle's labels) are written in it.
    language = models.CharField(_("language"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("evidence pack")
        verbose_name_plural = _("evidence packs")
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["system", "-requested_at"], name="evidence_pack_by_system"),
        ]

    def __str__(self) -> str:
        return f"evidence pack {self.pk} of {self.system_id} ({self.status})"
