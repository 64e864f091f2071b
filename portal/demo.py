"""The demo data that `make run` loads; idempotent, so loading twice changes nothing.

Every feature adds its objects here, so the demo always shows all that is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from core.roles import Role


@dataclass(frozen=True)
class DemoUser:
    """A demo login: one per role, plus an administrator."""

    username: str
    full_name: str
    role: Role | None
    password: str
    is_admin: bool = False


DEMO_USERS = [
    DemoUser("director", "Dana Director", Role.OPERATIONS_DIRECTOR, "demo-director"),
    DemoUser("owner", "Omar Owner", Role.SYSTEM_OWNER, "demo-owner"),
    DemoUser("approver", "Ada Approver", Role.APPROVER, "demo-approver"),
    DemoUser("bulead", "Bo Unitlead", Role.BUSINESS_UNIT_LEAD, "demo-bulead"),
    DemoUser("viewer", "Vic Viewer", Role.VIEWER, "demo-viewer"),
    DemoUser("admin", "Alex Admin", None, "demo-admin", is_admin=True),
]


@transaction.atomic
def demo_users_load() -> list[DemoUser]:
    """Create or reset the demo logins, each in its role group."""
    user_model = get_user_model()
    for demo in DEMO_USERS:
        first, _, last = demo.full_name.partition(" ")
        user, _created = user_model.objects.update_or_create(
            username=demo.username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{demo.username}@demo.invalid",
                "is_active": True,
                "is_staff": demo.is_admin,
                "is_superuser": demo.is_admin,
            },
        )
        # Reset every time so that the printed passwords are always the right ones.
        user.set_password(demo.password)
        user.save(update_fields=["password"])
        if demo.role:
            user.groups.set([Group.objects.get(name=demo.role.value)])
    return DEMO_USERS


def demo_load() -> list[DemoUser]:
    """Load every part of the demo; returns the logins to print."""
    return demo_users_load()


def logins_table() -> str:
    """The demo logins as aligned text, for the terminal."""
    rows = [
        (d.username, d.password, d.role.label if d.role else "Administrator") for d in DEMO_USERS
    ]
    return "\n".join(f"  {user:<10} {password:<15} {role}" for user, password, role in rows)
