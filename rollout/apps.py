from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RolloutConfig(AppConfig):
    """Stage gates, readiness and staged rollouts."""

    name = "rollout"
    verbose_name = _("Rollout")
