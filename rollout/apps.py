from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RolloutConfig(AppConfig):
    """Stage gates, readiness and staged rollouts."""

    name = "rollout"
    verbose_name = _("Rollout")

    def ready(self) -> None:
        """Connect the receivers (a candidate's batch triggers its checkpoint)."""
        from rollout import receivers  # noqa: F401
