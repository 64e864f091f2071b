"""The main pages work under the Content-Security-Policy in a real browser.

Dana directs operations and walks through home, a system with charts, data
quality, a rollout, readiness and the API docs; Alex administers the portal and
opens the admin. On every page the browser must report no Content Security
Policy violation (each one fires a `securitypolicyviolation` event and logs a
console error) and no page error, and the charts must still draw. At the end an
inline script and an inline style are injected to prove the browser does block
them and that this test would see it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from portal.demo import demo_load
from rollout.models import Rollout
from rollout.services import gates_evaluate
from tests.e2e.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)

# Runs in every document before its own scripts (injected by the browser, so not subject to CSP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI} at ${where}`);
});
"""
# Every <script> on a page loads a file or carries data (json_script): none runs inline code.
INLINE_SCRIPTS = """
Array.from(document.scripts)
  .filter((script) => !script.src && script.type !== "application/json")
  .map((script) => script.outerHTML.slice(0, 120))
"""


class Watch:
    """What the browser reported about the policy, and any page error, page by page."""

    def __init__(self, page) -> None:
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, message) -> None:
        if "content security policy" in message.text.lower():
            self.console.append(message.text)

    def check(self, name: str) -> None:
        violations = self.page.evaluate("window.__cspViolations")
        assert violations == [], f"{name}: {violations}"
        assert self.console == [], f"{name}: {self.console}"
        assert self.errors == [], f"{name}: {self.errors}"
        assert self.page.evaluate(INLINE_SCRIPTS) == [], name


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    demo_load()
    # Two daily gate snapshots, so that the readiness page has a history to chart.
    now = timezone.now()
    for days_ago in (1, 0):
        gates_evaluate(now=now - timedelta(days=days_ago))
    return Rollout.objects.get(system__slug="card-fraud-screener", is_rehearsal=False)


def test_the_main_pages_and_the_admin_run_under_the_policy(demo, live_server, page):
    page.set_viewport_size({"width": 1680, "height": 1000})  # every data-quality row in view
    # Seven pages, most with the 4.8 MB plotly.js: give a loaded machine time to parse it.
    page.set_default_navigation_timeout(45_000)
    watch = Watch(page)
    pages = [
        ("home", "/", "[data-portfolio-chart] [data-chart-plot] svg"),
        (
            "system",
            "/systems/customer-service-assistant/",
            "[data-chart='output_quality'] [data-chart-plot] svg",
        ),
        ("data quality", "/data-quality/", "[data-sparkline='carrier-tracking-api'] svg"),
        ("data source", "/data-quality/carrier-tracking-api/", "[data-quality-chart] svg"),
        ("rollout", f"/rollouts/{demo.pk}/", "[data-rollout-chart] svg"),
        (
            "readiness",
            "/systems/card-fraud-screener/readiness/",
            "[data-rollout-chart='readiness'] svg",
        ),
        # Swagger UI renders the schema's title once its script ran and the schema loaded.
        ("API docs", "/api/docs/", ".swagger-ui .info .title"),
    ]
    login(page, live_server, "director", "demo-director")
    for name, path, drawn in pages:
        page.goto(f"{live_server.url}{path}")
        page.locator(drawn).first.wait_for()
        watch.check(name)
    assert "AI governance portal API" in page.locator(".swagger-ui .info .title").inner_text()

    page.context.clear_cookies()
    login(page, live_server, "admin", "demo-admin")
    page.goto(f"{live_server.url}/admin/")
    page.locator("#content-main .module").first.wait_for()
    watch.check("admin index")
    # The user form's group picker is built by the admin's SelectFilter2.js.
    admin_id = get_user_model().objects.get(username="admin").pk
    page.goto(f"{live_server.url}/admin/auth/user/{admin_id}/change/")
    page.locator(".selector .selector-available").first.wait_for()
    watch.check("admin user form")

    # The policy is enforced, and this watch would have seen a breach.
    ran = page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__inlineRan = true;";
          document.head.appendChild(script);
          const style = document.createElement("style");
          style.textContent = "body { outline: 1px solid red; }";
          document.head.appendChild(style);
          return window.__inlineRan === true;
        }"""
    )
    assert ran is False
    page.wait_for_function("window.__cspViolations.length >= 2")
    directives = {entry.split()[0] for entry in page.evaluate("window.__cspViolations")}
    assert directives == {"script-src-elem", "style-src-elem"}
    assert len(watch.console) >= 2
