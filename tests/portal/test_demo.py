"""The demo loader: one login per role, idempotent, refused in production."""

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from core.roles import Role, has_role
from portal.demo import DEMO_USERS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def debug_on(settings):
    # pytest-django turns DEBUG off; `make run` loads the demo with DEBUG on.
    settings.DEBUG = True


def snapshot():
    user_model = get_user_model()
    return user_model.objects.count(), list(
        user_model.groups.through.objects.values_list("user__username", "group__name").order_by(
            "user__username"
        )
    )


def test_it_creates_one_login_per_role_with_the_printed_password(capsys):
    call_command("load_demo")
    printed = capsys.readouterr().out
    roles = set()
    for demo in DEMO_USERS:
        assert f"{demo.username}" in printed and demo.password in printed
        user = authenticate(username=demo.username, password=demo.password)
        assert user is not None, demo.username
        if demo.role:
            assert has_role(user, demo.role)
            roles.add(demo.role)
    assert roles == set(Role)


def test_loading_twice_changes_nothing():
    call_command("load_demo")
    first = snapshot()
    call_command("load_demo")
    assert snapshot() == first


def test_it_refuses_to_publish_demo_passwords_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("load_demo")
    assert get_user_model().objects.count() == 0
