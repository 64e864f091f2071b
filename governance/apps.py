from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GovernanceConfig(AppConfig):
    """Ownership, change management, escalations and the audit trail."""

    name = "governance"
    verbose_name = _("Governance")

    def ready(self) -> None:
        """Connect the receivers (the audit trail records every registry change), add tabs."""
        from governance import receivers  # noqa: F401
        from registry.tabs import SystemTab, system_tab_register

        system_tab_register(SystemTab("ownership", _("Ownership"), "governance:ownership", 30))
        system_tab_register(
            SystemTab("changes", _("Change requests"), "governance:system_changes", 40)
        )
        system_tab_register(SystemTab("assessment", _("Root causes"), "governance:assessment", 45))
        from governance.services.webhooks import may_manage

        system_tab_register(
            SystemTab(
                "webhooks",
                _("Webhooks"),
                "governance:webhooks",
                95,
                visible=lambda user, system: may_manage(system, user),
            )
        )
