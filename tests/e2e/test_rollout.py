"""The rollout pages in a real browser: a director approves the fraud screener's 25% cohort.

The demo's card fraud screener has a rollout of 2.4.0 whose 25% cohort passed
its checkpoint and waits for one operations director (a medium-tier system).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from portal.demo import demo_load
from rollout.models import Rollout
from rollout.services import gates_evaluate
from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)
HISTORY_DAYS = 14


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    demo_load()
    # The daily gate snapshots the beat schedule would have written, so the history has days.
    now = timezone.now()
    for days_ago in range(HISTORY_DAYS, -1, -1):
        gates_evaluate(now=now - timedelta(days=days_ago))
    return Rollout.objects.get(system__slug="card-fraud-screener", is_rehearsal=False)


def watch_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_a_director_approves_the_25_percent_cohort_and_the_50_percent_cohort_observes(
    demo, live_server, page
):
    errors = watch_errors(page)
    login(page, live_server, "director", "demo-director")
    page.goto(f"{live_server.url}/rollouts/{demo.pk}/")
    page.get_by_role("heading", name="Rollout of 2.4.0 on Card fraud screener").wait_for()
    expect(page.locator("[data-cohort='25']")).to_have_attribute("data-state", "awaiting_approval")
    # rollout.js draws one chart per checkpoint metric into an SVG.
    page.locator("[data-rollout-chart] svg").first.wait_for()
    expect(page.locator("[data-cohort-percent]")).to_have_text("25%")
    screenshot(page, "rollout")

    page.get_by_role("link", name="Approve the 25% cohort…").click()
    page.get_by_role(
        "heading", name="Approve the 25% cohort of 2.4.0 on Card fraud screener?"
    ).wait_for()
    assert page.get_by_text("Go back without changing anything").is_visible()
    page.get_by_role("button", name="Approve this cohort").click()

    page.get_by_text("Cohort approved.").wait_for()
    expect(page.locator("[data-cohort='25']")).to_have_attribute("data-state", "approved")
    fifty = page.locator("[data-cohort='50']")
    expect(fifty).to_have_attribute("data-state", "observing")
    expect(fifty.locator(".step-state")).to_have_text("◔ Observing")
    expect(page.locator("[data-cohort-percent]")).to_have_text("50%")
    expect(page.locator("[data-observation-left]")).to_contain_text(
        "left of the minimum observation"
    )

    page.goto(f"{live_server.url}/systems/card-fraud-screener/readiness/")
    expect(page.locator("[data-verdict]")).to_have_attribute("data-verdict", "ready")
    expect(page.locator("[data-indicator]")).to_have_count(7)
    page.locator("[data-rollout-chart='readiness'] svg").first.wait_for()
    screenshot(page, "readiness")
    assert errors == []


def test_a_viewer_reads_the_rollout_and_sees_no_action_buttons(demo, live_server, page):
    errors = watch_errors(page)
    login(page, live_server, "viewer", "demo-viewer")
    page.goto(f"{live_server.url}/rollouts/{demo.pk}/")
    page.get_by_role("heading", name="Rollout of 2.4.0 on Card fraud screener").wait_for()
    page.locator("[data-rollout-chart] svg").first.wait_for()
    expect(page.locator("[data-cohort='25']")).to_have_attribute("data-state", "awaiting_approval")
    expect(page.get_by_role("heading", name="What you can do")).to_have_count(0)
    for name in ("Approve", "Pause", "Resume", "Roll back", "Start"):
        expect(page.get_by_role("link", name=name)).to_have_count(0)
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    page.goto(f"{live_server.url}/systems/card-fraud-screener/readiness/")
    expect(page.locator("[data-indicator]")).to_have_count(7)
    expect(page.locator("main form")).to_have_count(0)
    assert errors == []
