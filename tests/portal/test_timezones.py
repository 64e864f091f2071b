"""Times are shown in the viewer's time zone, which the browser reports in the `tz` cookie.

Vic only views; Dana directs operations and is the actor of the audit event.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from governance.audit import audit_record
from portal.timezones import zone_named
from tests.registry.factories import AISystemFactory

AUDIT_URL = reverse("governance:audit_list")


@pytest.mark.parametrize(
    "name", ["Asia/Taipei", "Europe/London", "UTC", "America/Argentina/Buenos_Aires"]
)
def test_it_knows_iana_zones(name):
    assert zone_named(name).key == name


@pytest.mark.parametrize(
    "name", ["", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Asia/Taipei\x00", "x" * 65]
)
def test_it_refuses_anything_that_is_not_a_zone(name):
    assert zone_named(name) is None


@pytest.fixture
def event(director):
    system = AISystemFactory(slug="claims-triage", name="Claims triage")
    return audit_record(
        actor=director,
        action="system.update",
        obj=system,
        at=datetime(2026, 11, 30, 23, 30, tzinfo=UTC),
    )


@pytest.mark.django_db
def test_a_viewer_in_taipei_sees_the_event_at_taipei_time(client, viewer, event):
    client.force_login(viewer)
    client.cookies["tz"] = "Asia/Taipei"
    page = client.get(AUDIT_URL).content.decode()
    # 23:30 UTC on 30 November is 07:30 on 1 December in Taipei (UTC+8).
    assert "2026-12-01 07:30" in page
    assert "2026-11-30 23:30" not in page
    assert "Times are shown in your time zone, Asia/Taipei" in page
    assert 'data-time-zone="Asia/Taipei"' in page


@pytest.mark.django_db
def test_without_the_cookie_times_are_in_utc(client, viewer, event):
    client.force_login(viewer)
    page = client.get(AUDIT_URL).content.decode()
    assert "2026-11-30 23:30" in page
    assert "Times are shown in your time zone, UTC" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cookie", ["Mars/Olympus", "../../etc/passwd", "%2E%2E%2Fetc", "Asia%2FTaipei"]
)
def test_a_forged_cookie_falls_back_to_utc_or_reads_the_escaped_name(client, viewer, event, cookie):
    client.force_login(viewer)
    client.cookies["tz"] = cookie
    response = client.get(AUDIT_URL)
    assert response.status_code == 200
    expected = "2026-12-01 07:30" if cookie == "Asia%2FTaipei" else "2026-11-30 23:30"
    assert expected in response.content.decode()


@pytest.mark.django_db
def test_the_zone_does_not_leak_into_the_next_request(client, viewer, event):
    client.force_login(viewer)
    client.cookies["tz"] = "Asia/Taipei"
    client.get(AUDIT_URL)
    del client.cookies["tz"]
    assert "2026-11-30 23:30" in client.get(AUDIT_URL).content.decode()
