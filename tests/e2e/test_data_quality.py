"""The data-quality pages in a real browser: the grid, its sparklines and the drill-down charts."""

from __future__ import annotations

import pytest

from portal.demo import demo_registry_load, demo_users_load
from portal.demo_quality import demo_sources_load
from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    demo_users_load()
    demo_registry_load()
    demo_sources_load()


def test_a_viewer_sees_the_grid_with_sparklines_and_drills_into_a_drifting_source(
    demo, live_server, page
):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": 1680, "height": 1000})  # the whole grid, as on a monitor
    login(page, live_server, "viewer", "demo-viewer")
    page.goto(f"{live_server.url}/data-quality/")
    row = page.get_by_role("row").filter(has_text="Carrier tracking API")
    row.get_by_text("Failing").first.wait_for()
    # Each sparkline is drawn by quality.js into an SVG once its row is in view.
    page.locator("[data-sparkline='carrier-tracking-api'] svg").first.wait_for()
    screenshot(page, "data-quality-dashboard")

    row.get_by_role("link", name="Carrier tracking API").click()
    page.get_by_role("heading", name="Carrier tracking API").wait_for()
    page.locator("[data-quality-distribution] svg").first.wait_for()
    page.locator("[data-quality-chart] svg").first.wait_for()
    assert page.get_by_text("transit_hours").first.is_visible()
    screenshot(page, "data-quality-source")
    assert errors == []
