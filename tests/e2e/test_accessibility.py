"""Accessibility in a real browser: axe-core over the main pages, and the keyboard alone.

axe-core (bundled by axe-playwright-python: nothing is downloaded) checks each
page as a person sees it, charts drawn, against the WCAG 2.0 and 2.1 level A
and AA rules. A failure names, per page, each rule broken and the elements
that break it. The demo is loaded once for every page, since loading it is
most of the time; the keyboard test needs only a change request, so it builds one.

Ada approves changes; Omar owns the loan classifier and asked for this one.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from governance import services
from governance.models import ChangeRequest, Escalation
from portal.demo import demo_load
from rollout.models import Rollout
from tests.e2e.conftest import login
from tests.registry.factories import AISystemFactory, MetricSpecFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db(transaction=True)

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
SYSTEM = "card-fraud-screener"  # a rollout, readiness history and an evidence pack
ASSESSED = "customer-service-assistant"  # answered questionnaire, action plan
SOURCE = "carrier-tracking-api"  # drifting: every chart of a source page
# What a focused control must show: the outline of portal.css's :focus-visible rule.
FOCUS_OUTLINE = "3px"


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    demo_load()
    return {
        "rollout": Rollout.objects.get(system__slug=SYSTEM, is_rehearsal=False).pk,
        "change": ChangeRequest.objects.get(system__slug=ASSESSED).pk,
        "escalation": Escalation.objects.order_by("pk").first().pk,
    }


def main_pages(ids: dict) -> list[tuple[str, str]]:
    """The pages people use most, as (name, path), signed in as an operations director."""
    return [
        ("home", "/"),
        ("my work", "/my-work/"),
        ("systems", "/systems/"),
        ("system", f"/systems/{SYSTEM}/"),
        ("readiness", f"/systems/{SYSTEM}/readiness/"),
        ("rollout", f"/rollouts/{ids['rollout']}/"),
        ("rollout approve confirmation", f"/rollouts/{ids['rollout']}/approve/"),
        ("rollouts", "/rollouts/"),
        ("change requests", "/changes/"),
        ("change request", f"/changes/{ids['change']}/"),
        ("escalations", "/escalations/"),
        ("escalation", f"/escalations/{ids['escalation']}/"),
        ("data quality", "/data-quality/"),
        ("data source", f"/data-quality/{SOURCE}/"),
        ("audit", "/audit/"),
        ("root causes", "/assessment/"),
        ("assessment", f"/systems/{ASSESSED}/assessment/"),
        ("evidence packs", f"/systems/{SYSTEM}/evidence/"),
        ("inbox", "/inbox/"),
        ("tokens", "/account/tokens/"),
    ]


def violations(axe: Axe, page) -> list[str]:
    """Each violated rule of the page as "rule (impact): the failing nodes and why"."""
    # Charts and sparklines are drawn after load (some fetch their data): check them drawn.
    if page.locator("[data-chart-plot], [data-sparkline]").count():
        page.wait_for_load_state("networkidle")
    results = axe.run(page, options=AXE_OPTIONS)
    return [
        f"{rule['id']} ({rule.get('impact')}): "
        + "; ".join(
            f"{' '.join(map(str, node['target']))} [{' '.join(node['failureSummary'].split())}]"
            for node in rule["nodes"][:5]
        )
        for rule in results.response["violations"]
    ]


def test_the_main_pages_have_no_wcag_a_or_aa_violation(demo, live_server, page):
    axe = Axe()
    found: dict[str, list[str]] = {}
    page.goto(f"{live_server.url}/login/")
    found["login"] = violations(axe, page)
    login(page, live_server, "director", "demo-director")
    for name, path in main_pages(demo):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, f"{name}: {path} answered {response.status}"
        found[name] = violations(axe, page)
    # The home page again in Traditional Chinese, chosen with the language form.
    page.goto(f"{live_server.url}/")
    page.get_by_label("Language").select_option("zh-hant")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hant")
    found["home (zh-Hant)"] = violations(axe, page)

    assert len(found) == len(main_pages(demo)) + 2
    report = "\n".join(
        f"{name}:\n  " + "\n  ".join(rules) for name, rules in found.items() if rules
    )
    assert not report, f"axe found WCAG A/AA violations:\n{report}"


@pytest.fixture
def submitted(owner):
    system = AISystemFactory(slug="loan-classifier", name="Loan classifier", risk_tier="medium")
    MetricSpecFactory(system=system)
    version = ModelVersionFactory(system=system, version="2.2.0")
    change = services.change_request_open(
        system=system,
        by=owner,
        kind="model_update",
        title="Ship 2.2.0",
        description="Retrained on Q3 loans",
        rationale="Better recall",
        model_version=version,
    )
    return services.change_request_submit(change=change, by=owner)


def focused(page) -> dict:
    """What has the keyboard's focus: its tag, id, text and outline."""
    return page.evaluate(
        """() => {
          const e = document.activeElement;
          const style = getComputedStyle(e);
          return {tag: e.tagName.toLowerCase(), id: e.id, text: e.textContent.trim(),
                  outline: style.outlineStyle + " " + style.outlineWidth,
                  left: e.getBoundingClientRect().left};
        }"""
    )


def tab_to(page, matches, *, limit: int = 80) -> dict:
    """Press Tab until `matches(focused element)`; fail if the page never gets there."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        element = focused(page)
        if matches(element):
            return element
    pytest.fail(f"Tab never reached the element (last: {element})")


def test_ada_approves_a_change_request_with_the_keyboard_alone(
    approver, submitted, live_server, page
):
    login(page, live_server, "ada")
    page.goto(f"{live_server.url}/changes/{submitted.pk}/")

    page.keyboard.press("Tab")
    skip = focused(page)
    assert (skip["tag"], skip["text"]) == ("a", "Skip to content")
    assert skip["left"] >= 0, "the focused skip link is on screen"
    assert skip["outline"] == f"solid {FOCUS_OUTLINE}", "focus is visible"
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "main"

    approve = tab_to(page, lambda element: element["text"] == "Approve…")
    assert approve["outline"] == f"solid {FOCUS_OUTLINE}"
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=f"Approve CR-{submitted.pk} for version 2.2.0").wait_for()

    tab_to(page, lambda element: element["tag"] == "textarea")
    page.keyboard.type("Q3 evaluation reviewed")
    button = tab_to(
        page, lambda element: element["tag"] == "button" and element["text"] == "Approve"
    )
    assert button["outline"] == f"solid {FOCUS_OUTLINE}"
    page.keyboard.press("Enter")

    page.get_by_text("Approved.").wait_for()
    submitted.refresh_from_db()
    assert submitted.state == "approved"
    assert submitted.approvals.get().comment == "Q3 evaluation reviewed"


def test_the_change_list_filter_swaps_the_list_without_loading_the_page(
    approver, submitted, live_server, page
):
    login(page, live_server, "ada")
    page.goto(f"{live_server.url}/changes/")
    page.evaluate("window.loadedOnce = true")  # gone if the whole page loads again

    page.get_by_label("State").select_option("approved")
    tab_to(page, lambda element: element["id"] == "filters-submit")
    page.keyboard.press("Enter")

    page.wait_for_url("**/changes/?state=approved*")
    expect(
        page.get_by_role("heading", name="No change request matches these filters")
    ).to_be_visible()
    assert page.evaluate("window.loadedOnce") is True
    expect(page.locator("[aria-live='polite']").last).to_have_text(
        "No change request matches these filters"
    )
    assert focused(page)["id"] == "filters-submit", "focus stays on the button pressed"
    page.get_by_label("State").select_option("submitted")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#change-results caption")).to_contain_text("1 change request")
