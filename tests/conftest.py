"""Test-wide fixtures and the rules for service-bound tests.

Personas: Dana directs operations, Omar owns a system, Ada approves changes,
Bo leads a business unit, Vic only views, and Charlie has no role at all.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from core.roles import Role
from tests import services

SERVICE_MARKERS = {
    "postgres": (
        "POSTGRES_AVAILABLE",
        "PostgreSQL did not answer (DATABASE_URL or 127.0.0.1:5432)",
    ),
    "redis": ("REDIS_AVAILABLE", "Redis did not answer (REDIS_URL or 127.0.0.1:6379)"),
}


def pytest_report_header(config):
    database = settings.DATABASES["default"]
    where = f"{database['HOST'] or 'socket'}:{database['PORT']}" if database["HOST"] else ""
    return [
        f"database: {database['ENGINE'].rsplit('.', 1)[-1]} {where} {database['NAME']}".rstrip(),
        f"broker: {settings.CELERY_BROKER_URL}",
        f"REQUIRE_SERVICES: {'on' if services.require_services() else 'off'}",
    ]


def pytest_runtest_setup(item):
    for marker, (flag, reason) in SERVICE_MARKERS.items():
        if item.get_closest_marker(marker) and not getattr(settings, flag):
            if services.require_services():
                pytest.fail(f"REQUIRE_SERVICES=1: {reason}")
            pytest.skip(reason)


@pytest.fixture(autouse=True)
def fresh_cache():
    """No cached value outlives its test: the database under it is rolled back or flushed."""
    from django.core.cache import cache

    cache.clear()


def _persona(django_user_model, username: str, full_name: str, role: Role | None):
    first, _, last = full_name.partition(" ")
    user = django_user_model.objects.create_user(
        username=username, password="pw", first_name=first, last_name=last
    )
    if role:
        # get_or_create: a transactional test before this one may have flushed the groups.
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user


@pytest.fixture
def director(django_user_model):
    return _persona(django_user_model, "dana", "Dana Director", Role.OPERATIONS_DIRECTOR)


@pytest.fixture
def owner(django_user_model):
    return _persona(django_user_model, "omar", "Omar Owner", Role.SYSTEM_OWNER)


@pytest.fixture
def approver(django_user_model):
    return _persona(django_user_model, "ada", "Ada Approver", Role.APPROVER)


@pytest.fixture
def viewer(django_user_model):
    return _persona(django_user_model, "vic", "Vic Viewer", Role.VIEWER)


@pytest.fixture
def outsider(django_user_model):
    return _persona(django_user_model, "charlie", "Charlie Nobody", None)


# A second director, a second approver and a business-unit lead, for four-eyes rules.
@pytest.fixture
def dirk(django_user_model):
    return _persona(django_user_model, "dirk", "Dirk Deputy", Role.OPERATIONS_DIRECTOR)


@pytest.fixture
def abe(django_user_model):
    return _persona(django_user_model, "abe", "Abe Approver", Role.APPROVER)


@pytest.fixture
def lead(django_user_model):
    return _persona(django_user_model, "bo", "Bo Lead", Role.BUSINESS_UNIT_LEAD)
