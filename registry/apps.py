from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    """AI systems, versions, metrics and the data they report."""

    name = "registry"
    verbose_name = _("Registry")

    def ready(self) -> None:
        from registry import schema  # noqa: F401 - registers the OpenAPI auth extension
