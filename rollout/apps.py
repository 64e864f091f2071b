from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RolloutConfig(AppConfig):
    """Stage gates, readiness and staged rollouts."""

    name = "rollout"
    verbose_name = _("Rollout")

    def ready(self) -> None:
        """Connect the receivers (a candidate's batch triggers its checkpoint), add the tabs."""
        from registry.tabs import SystemTab, system_tab_register
        from rollout import receivers  # noqa: F401

        system_tab_register(SystemTab("stage", _("Stage and readiness"), "rollout:readiness", 50))
        system_tab_register(SystemTab("rollouts", _("Rollouts"), "rollout:system_rollouts", 60))
        system_tab_register(SystemTab("evidence", _("Evidence pack"), "evidence:list", 70))
