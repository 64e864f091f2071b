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
