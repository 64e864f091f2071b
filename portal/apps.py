from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The portal shell: layout, login, home, health, demo data, process runner."""

    name = "portal"
    verbose_name = _("Portal")
