"""Roles are Django groups created by a migration."""

import pytest
from django.contrib.auth.models import Group

from core.roles import Role, has_role

pytestmark = pytest.mark.django_db


def test_every_role_exists_as_a_group():
    assert set(Group.objects.values_list("name", flat=True)) >= {role.value for role in Role}


def test_a_person_holds_the_roles_of_their_groups(director, viewer):
    assert has_role(director, Role.OPERATIONS_DIRECTOR)
    assert not has_role(director, Role.APPROVER)
    assert has_role(viewer, Role.VIEWER)


def test_a_superuser_holds_no_role_implicitly(admin_user):
    assert not has_role(admin_user, Role.APPROVER)


def test_an_inactive_person_holds_no_role(director):
    director.is_active = False
    assert not has_role(director, Role.OPERATIONS_DIRECTOR)


def test_an_anonymous_visitor_holds_no_role():
    from django.contrib.auth.models import AnonymousUser

    assert not has_role(AnonymousUser(), Role.VIEWER)
