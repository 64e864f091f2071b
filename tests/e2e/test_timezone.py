"""A browser in Taipei reports its time zone, and the portal shows times in it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from governance.audit import audit_record
from tests.e2e.conftest import login
from tests.registry.factories import AISystemFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_browser_in_taipei_sees_taipei_times_after_it_has_loaded_one_page(
    browser, live_server, viewer, director
):
    system = AISystemFactory(slug="claims-triage", name="Claims triage")
    audit_record(
        actor=director,
        action="system.update",
        obj=system,
        at=datetime(2026, 11, 30, 23, 30, tzinfo=UTC),
    )
    context = browser.new_context(timezone_id="Asia/Taipei", locale="en-GB")
    page = context.new_page()
    try:
        # The login page's script writes the zone, so everything after it is local.
        login(page, live_server, viewer.username)
        page.goto(f"{live_server.url}/audit/")
        expect(page.locator("[data-time-zone-note]")).to_contain_text("Asia/Taipei")
        expect(page.locator("main")).to_contain_text("2026-12-01 07:30")
        cookies = {cookie["name"]: cookie["value"] for cookie in context.cookies()}
        assert cookies["tz"] == "Asia/Taipei"
    finally:
        context.close()
