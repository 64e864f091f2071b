"""Choices of the governance app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ActorKind(models.TextChoices):
    """Who made a change: a person, a pipeline token, or the portal itself (a worker)."""

    USER = "user", _("Person")
    TOKEN = "token", _("Pipeline token")
    SYSTEM = "system", _("Portal (worker)")
