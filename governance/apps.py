from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GovernanceConfig(AppConfig):
    """Ownership, change management, escalations and the audit trail."""

    name = "governance"
    verbose_name = _("Governance")
