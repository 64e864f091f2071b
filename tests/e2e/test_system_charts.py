"""A system's metric charts draw in a real browser (registry/charts.js on the shared helpers)."""

from __future__ import annotations

import pytest

from portal.demo import demo_registry_load, demo_users_load
from tests.e2e.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_viewer_sees_the_live_metric_charts_of_a_system(settings, live_server, page):
    settings.DEBUG = True
    demo_users_load()
    demo_registry_load()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    login(page, live_server, "viewer", "demo-viewer")
    page.goto(f"{live_server.url}/systems/customer-service-assistant/")
    page.locator("[data-chart='output_quality'] [data-chart-plot] svg").first.wait_for()
    assert page.locator("[data-chart-plot][role='img']").count() >= 4
    assert errors == []
