from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    """AI systems, versions, metrics and the data they report."""

    name = "registry"
    verbose_name = _("Registry")

    def ready(self) -> None:
        from registry import schema  # noqa: F401 - registers the OpenAPI auth extension
        from registry.permissions import can_manage_tokens
        from registry.tabs import SystemTab, system_tab_register

        system_tab_register(SystemTab("metrics", _("Metrics"), "registry:system_detail", 10))
        system_tab_register(SystemTab("versions", _("Model versions"), "registry:version_list", 20))
        system_tab_register(
            SystemTab(
                "tokens",
                _("Pipeline tokens"),
                "registry:system_tokens",
                90,
                visible=lambda user, system: can_manage_tokens(user, system),
            )
        )
