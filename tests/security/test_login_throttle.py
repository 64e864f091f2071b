"""Failed logins are throttled per username and per client address (portal/auth.py).

Omar owns a system and logs in with "pw"; Mallory guesses at his password, and at
other accounts, from one address. The clock is frozen, so the lock's end is exact.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.signals import user_login_failed
from django.test import RequestFactory
from django.urls import reverse

from portal.auth import client_address

pytestmark = pytest.mark.django_db
# At the start of a 15-minute window, so that the window arithmetic below is plain.
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MALLORY = "203.0.113.7"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 5
    settings.LOGIN_FAILURES_PER_ADDRESS = 20
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60
    settings.LOGIN_LOCKOUT_SECONDS = 15 * 60
    settings.TRUST_X_FORWARDED_FOR = False


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def checked_passwords():
    """The usernames whose password the authentication backends checked and refused."""
    seen: list[str] = []

    def receiver(sender, credentials, **kwargs):
        seen.append(credentials["username"])

    user_login_failed.connect(receiver)
    yield seen
    user_login_failed.disconnect(receiver)


def log_in(client, username: str, password: str, address: str = MALLORY, path: str = "login"):
    url = reverse(path) if path == "login" else path
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_a_wrong_password_is_refused_with_the_usual_message(client, owner, clock):
    response = log_in(client, "omar", "guess")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.text
    assert not logged_in(client)


def test_five_wrong_passwords_lock_the_username_for_15_minutes(
    client, owner, clock, checked_passwords
):
    for attempt in range(4):
        assert log_in(client, "omar", f"guess-{attempt}").status_code == 200
    fifth = log_in(client, "omar", "guess-4")
    assert fifth.status_code == 429
    assert fifth["Retry-After"] == "900"
    assert "Too many failed attempts to log in. Try again in 15 minutes, at 12:15" in fifth.text
    assert checked_passwords == ["omar"] * 5

    # Even the right password is refused now, and no password is checked at all.
    clock.shift(timedelta(minutes=10))
    right = log_in(client, "omar", "pw", address="198.51.100.20")
    assert right.status_code == 429
    assert right["Retry-After"] == "300"
    assert "Try again in 5 minutes" in right.text
    assert log_in(client, "omar", "another-guess").status_code == 429
    assert checked_passwords == ["omar"] * 5
    assert not logged_in(client)


def test_the_lock_ends_after_15_minutes(client, owner, clock):
    for attempt in range(5):
        log_in(client, "omar", f"guess-{attempt}")
    clock.shift(timedelta(minutes=15) - timedelta(seconds=1))
    assert log_in(client, "omar", "pw").status_code == 429
    clock.shift(timedelta(seconds=1))
    response = log_in(client, "omar", "pw")
    assert response.status_code == 302
    assert logged_in(client)


def test_a_lock_that_ended_starts_a_fresh_count(client, owner, clock):
    for attempt in range(5):
        log_in(client, "omar", f"guess-{attempt}")
    clock.shift(timedelta(minutes=15))
    for attempt in range(4):
        assert log_in(client, "omar", f"again-{attempt}").status_code == 200
    assert log_in(client, "omar", "again-4").status_code == 429


def test_a_successful_login_clears_the_usernames_failures(client, owner, clock):
    for attempt in range(4):
        log_in(client, "omar", f"guess-{attempt}")
    assert log_in(client, "omar", "pw").status_code == 302
    client.logout()
    for attempt in range(4):
        assert log_in(client, "omar", f"later-{attempt}").status_code == 200
    assert log_in(client, "omar", "pw").status_code == 302


def test_failures_further_apart_than_two_windows_do_not_add_up(client, owner, clock):
    for attempt in range(4):
        log_in(client, "omar", f"guess-{attempt}")
    clock.shift(timedelta(minutes=31))
    assert log_in(client, "omar", "guess-4").status_code == 200
    assert log_in(client, "omar", "pw").status_code == 302


def test_the_username_is_locked_whatever_its_case(client, owner, clock):
    for attempt in range(5):
        log_in(client, "OMAR" if attempt % 2 else "omar", f"guess-{attempt}")
    assert log_in(client, "omar", "pw").status_code == 429


def test_a_username_that_does_not_exist_locks_the_same_way(client, db, clock):
    # Otherwise the lock itself would tell which usernames exist.
    for attempt in range(4):
        assert log_in(client, "nobody", f"guess-{attempt}").status_code == 200
    assert log_in(client, "nobody", "guess-4").status_code == 429


def test_twenty_failures_from_one_address_lock_that_address_only(
    client, owner, viewer, clock, checked_passwords
):
    # Four guesses at each of five accounts: no username reaches its limit.
    for name in ("alice", "bob", "carol", "dave", "erin"):
        for attempt in range(4):
            response = log_in(client, name, f"guess-{attempt}")
    assert response.status_code == 429
    assert len(checked_passwords) == 20
    assert log_in(client, "omar", "pw").status_code == 429
    assert len(checked_passwords) == 20
    # Omar, at his own desk, is not locked out by Mallory's address.
    assert log_in(client, "omar", "pw", address="198.51.100.20").status_code == 302


def test_a_form_without_a_password_counts_nothing(client, owner, clock):
    for _ in range(6):
        response = client.post(reverse("login"), {"username": "omar"}, REMOTE_ADDR=MALLORY)
        assert response.status_code == 200
    assert log_in(client, "omar", "pw").status_code == 302


def test_the_admin_login_counts_with_the_portals(client, django_user_model, clock):
    django_user_model.objects.create_user(username="root", password="pw", is_staff=True)
    for attempt in range(5):
        response = log_in(client, "root", f"guess-{attempt}", path="/admin/login/")
    assert "Too many failed attempts to log in" in response.text
    assert log_in(client, "root", "pw", path="/admin/login/").status_code == 200
    assert not logged_in(client)
    assert log_in(client, "root", "pw").status_code == 429


def test_a_non_staff_user_with_the_right_password_at_the_admin_is_not_counted(client, owner, clock):
    for _ in range(6):
        response = log_in(client, "omar", "pw", path="/admin/login/")
        assert "for a staff account" in response.text
    assert log_in(client, "omar", "pw").status_code == 302


@pytest.mark.redis
def test_an_unreachable_cache_lets_logins_through_unthrottled(
    client, owner, settings, clock, caplog
):
    # A real Redis client of the portal's own cache backend, at a port nobody listens on.
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with caplog.at_level(logging.WARNING):
        for attempt in range(6):
            assert log_in(client, "omar", f"guess-{attempt}").status_code == 200
        assert log_in(client, "omar", "pw").status_code == 302
    assert logged_in(client)
    assert any(record.levelno == logging.WARNING for record in caplog.records)


def test_the_client_address_is_the_proxys_last_entry_only_when_trusted(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.7"
    )
    assert client_address(request) == "10.0.0.2"
    settings.TRUST_X_FORWARDED_FOR = True
    # The first entry is whatever the client claimed; the proxy appended the last.
    assert client_address(request) == "203.0.113.7"
