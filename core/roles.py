"""The portal's roles, as Django groups created by a migration (portal/migrations)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """A person's role; a person may hold several. The value is the group's name."""

    OPERATIONS_DIRECTOR = "Operations director", _("Operations director")
    SYSTEM_OWNER = "System owner", _("System owner")
    APPROVER = "Approver", _("Approver")
    BUSINESS_UNIT_LEAD = "Business unit lead", _("Business unit lead")
    VIEWER = "Viewer", _("Viewer")


def has_role(user, role: Role) -> bool:
    """Whether an active, signed-in user holds `role` (superusers hold none implicitly).

    Superusers administer the portal; they do not approve or sign by default,
    so four-eyes rules cannot be sidestepped by an admin account.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if getattr(user, "is_pipeline", False):  # a pipeline token acts for no person
        return False
    # Cached per request object, since navigation asks several times per page.
    cache = getattr(user, "_role_names", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._role_names = cache
    return role.value in cache
