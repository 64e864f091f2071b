"""Choices of the governance app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ActorKind(models.TextChoices):
    """Who made a change: a person, a pipeline token, or the portal itself (a worker)."""

    USER = "user", _("Person")
    TOKEN = "token", _("Pipeline token")
    SYSTEM = "system", _("Portal (worker)")


class ChangeKind(models.TextChoices):
    MODEL_UPDATE = "model_update", _("Model update")
    RETRAINING = "retraining", _("Retraining")
    PARAMETER_CHANGE = "parameter_change", _("Parameter change")
    DATA_SOURCE_CHANGE = "data_source_change", _("Data-source change")
    ROLLBACK = "rollback", _("Rollback")


# Kinds that concern a model version (bound by the version's content hash); the
# others concern a parameter set (bound by the hash of its canonical JSON).
VERSION_KINDS = frozenset({ChangeKind.MODEL_UPDATE, ChangeKind.RETRAINING, ChangeKind.ROLLBACK})


class ChangeState(models.TextChoices):
    """A change request's life.

    draft -> submitted -> approved | rejected
    approved -> deployed -> rolled_back
    draft | submitted -> cancelled (by the requester)
    approved -> submitted (when the bound version or parameters change: approvals void)
    """

    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    DEPLOYED = "deployed", _("Deployed")
    ROLLED_BACK = "rolled_back", _("Rolled back")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_CHANGE_STATES = frozenset({ChangeState.DRAFT, ChangeState.SUBMITTED})


class Severity(models.TextChoices):
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class EscalationSource(models.TextChoices):
    THRESHOLD_BREACH = "threshold_breach", _("Threshold breach")
    NO_DATA = "no_data", _("No data")
    DATA_QUALITY = "data_quality", _("Data-quality failure")
    ROLLOUT_CHECKPOINT = "rollout_checkpoint", _("Rollout checkpoint failure")
    PIPELINE_REPORT = "pipeline_report", _("Report from a pipeline")
    MANUAL = "manual", _("Manual")


class EscalationState(models.TextChoices):
    """open -> acknowledged -> resolved (open -> resolved too); the level rises while open."""

    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


class RootCause(models.TextChoices):
    """The five root causes of scaling failure (DOMAIN.md), or other."""

    INTEGRATION = "integration", _("Integration complexity with legacy systems")
    OUTPUT_QUALITY = "output_quality", _("Inconsistent output quality at volume")
    MONITORING = "monitoring", _("Absence of monitoring tooling")
    OWNERSHIP = "ownership", _("Unclear organisational ownership")
    TRAINING_DATA = "training_data", _("Insufficient domain training data")
    OTHER = "other", _("Other")


class AlertStatus(models.TextChoices):
    """An alert rule's state: inactive -> pending -> firing -> resolved (-> inactive)."""

    INACTIVE = "inactive", _("Inactive")
    PENDING = "pending", _("Pending")
    FIRING = "firing", _("Firing")
    RESOLVED = "resolved", _("Resolved")


class AlertKind(models.TextChoices):
    THRESHOLD = "threshold", _("Threshold")
    NO_DATA = "no_data", _("No data")
