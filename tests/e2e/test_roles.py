"""Each demo role's main task in a real browser, done the way the README tells a newcomer.

Every journey starts at the login page, as after `make run`, and then only follows
links and fills forms: the owner signs for the loan-document classifier, its
business-unit lead attests the briefing, an approver approves the assistant's
3.1.0 change request; a viewer finds no action anywhere and a forged POST is
refused; the language switch turns the portal into Traditional Chinese and back.

The demo is loaded once for the module and served by the module's own live
server: loading it takes most of a test's time, and pytest-django's `live_server`
fixture would flush it after every test. The journeys touch different objects
(the classifier's signature, its lead's attestation, the assistant's change
request), so they do not depend on each other's order.
"""

from __future__ import annotations

import os
import re

import pytest
from django.core.management import call_command
from django.db import connection
from playwright.sync_api import expect
from pytest_django.live_server_helper import LiveServer

from governance.models import (
    AccountabilitySignature,
    Approval,
    AuditEvent,
    BusinessUnitLead,
    ChangeRequest,
    Escalation,
)
from portal.demo import demo_load
from rollout.models import CohortStep, Rollout
from tests import services
from tests.e2e.conftest import CHROMIUM, login, screenshot

# Not transactional (so these tests run among the database tests that roll back, before
# the transactional ones): `server` commits the demo once and the tests only read.
pytestmark = pytest.mark.django_db
CLASSIFIER = "Loan document classifier"
# The paths of every state-changing page or endpoint of the browser UI.
ACTION_PATH = re.compile(
    r"/(approve|reject|cancel|deploy|roll-back|submit|start|pause|resume|sign|attest|"
    r"acknowledge|resolve|silence|advance|step-back|waiver|test-alert|rollback-plan|"
    r"intervention|new|edit|remove|toggle|revoke|plan|done|drop|owner|statement|members|leads)/"
)


@pytest.fixture(scope="module")
def chromium():
    """A browser of this module's own, closed when the module ends.

    The session's `browser` would keep Playwright's event loop running through every
    database test that comes after this module, and those tests run in sync code.
    """
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if services.require_services():
            pytest.fail(f"REQUIRE_SERVICES=1: {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API runs an event loop; Django must allow its ORM calls beside it.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            yield browser
            browser.close()


@pytest.fixture(scope="module")
def server(chromium, django_db_setup, django_db_blocker):
    """The whole demo, as `make run` loads it, behind a live server for the whole module.

    The database is put back as it was found afterwards (emptied, then refilled with
    what the migrations wrote), so the modules after this one see no demo row.
    """
    with django_db_blocker.unblock():
        found = connection.creation.serialize_db_to_string()
        demo_load()
        live = LiveServer("localhost")
        live._live_server_modified_settings.enable()
        try:
            yield live
        finally:
            live._live_server_modified_settings.disable()
            live.stop()
            call_command("flush", interactive=False, verbosity=0, inhibit_post_migrate=True)
            connection.creation.deserialize_db_from_string(found)
            # Under Playwright's event loop this thread has a connection of its own (asgiref
            # keeps one per async context): close it, as a transactional test does, or the
            # test database could not be dropped at the end of the run.
            connection.close()


@pytest.fixture
def page(chromium):
    """A fresh page, with room for a busy machine: plotly.js alone takes seconds to parse."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(60_000)
    expect.set_options(timeout=30_000)
    yield page
    expect.set_options(timeout=None)
    context.close()


def watch_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def my_work_count(page) -> int:
    """The number on the header's "My work" badge (no badge: nothing waits)."""
    badge = page.locator("[data-my-work-count]")
    return int(badge.get_attribute("data-my-work-count")) if badge.count() else 0


def open_my_work(page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My work").click()
    page.get_by_role("heading", name="My work", level=1).wait_for()


def action_controls(page) -> list[str]:
    """The POST forms and the links to action pages in the page's main content."""
    posts = page.locator("main form").evaluate_all(
        "forms => forms.filter(f => f.method === 'post').map(f => 'form ' + f.action)"
    )
    links = page.locator("main a[href]").evaluate_all(
        "links => links.map(a => new URL(a.href).pathname)"
    )
    return posts + [f"link {path}" for path in links if ACTION_PATH.search(path)]


def test_the_owner_signs_for_the_loan_classifier_from_my_work(server, page):
    errors = watch_errors(page)
    login(page, server, "owner", "demo-owner")
    page.get_by_role("heading", name="Welcome, Omar Owner").wait_for()
    before = my_work_count(page)
    assert before >= 1
    screenshot(page, "home")

    open_my_work(page)
    signatures = page.locator("[data-work='signatures']")
    expect(signatures.get_by_role("heading")).to_have_text("Accountability statements to sign")
    screenshot(page, "my-work")
    signatures.get_by_role("link", name=CLASSIFIER).click()

    page.get_by_role("heading", name="Accountability statement").wait_for()
    expect(page.get_by_text(re.compile(r"^\W*not signed$"))).to_be_visible()
    screenshot(page, "owner-sign-off")
    page.get_by_label(
        "I have read this statement and accept accountability for this system."
    ).check()
    page.get_by_role("button", name="Sign the statement").click()

    expect(page.locator("main .messages")).to_contain_text("Signed. The signature is valid")
    expect(page.get_by_text(re.compile(r"signed by Omar Owner on \d{4}-\d\d-\d\d"))).to_be_visible()
    expect(page.get_by_role("button", name="Renew my signature")).to_be_visible()
    assert my_work_count(page) == before - 1
    open_my_work(page)
    expect(page.locator("[data-work='signatures']")).to_have_count(0)
    signature = AccountabilitySignature.objects.get(
        system__slug="loan-document-classifier", voided_at__isnull=True
    )
    assert signature.signer.username == "owner"
    assert errors == []


def test_the_business_unit_lead_attests_the_briefing_from_my_work(server, page):
    errors = watch_errors(page)
    login(page, server, "bulead", "demo-bulead")
    assert my_work_count(page) == 1
    open_my_work(page)
    attestations = page.locator("[data-work='attestations']")
    expect(attestations).to_contain_text("Lending operations")
    attestations.get_by_role("link", name=CLASSIFIER).click()

    leads = page.get_by_role(
        "region", name="Business-unit leads and the change-management briefing"
    )
    row = leads.get_by_role("row").filter(has_text="Bo Unitlead")
    expect(row).to_contain_text("not yet")
    row.get_by_role("button", name="I attest the briefing was completed").click()

    expect(page.locator("main .messages")).to_contain_text("Briefing attested")
    expect(row.get_by_text(re.compile(r"attested \d{4}-\d\d-\d\d"))).to_be_visible()
    expect(row.get_by_role("button")).to_have_count(0)
    expect(leads).to_contain_text("1 of 1 leads attested.")
    assert my_work_count(page) == 0
    open_my_work(page)
    expect(page.locator("[data-my-work-empty]")).to_be_visible()
    lead = BusinessUnitLead.objects.get(system__slug="loan-document-classifier")
    assert lead.briefing_attested_at is not None
    assert errors == []


def test_the_approver_approves_the_assistants_change_request_from_my_work(server, page):
    errors = watch_errors(page)
    change = ChangeRequest.objects.get(system__slug="customer-service-assistant")
    login(page, server, "approver", "demo-approver")
    before = my_work_count(page)
    assert before >= 1
    open_my_work(page)
    changes = page.locator("[data-work='changes']")
    changes.get_by_role("link", name=f"CR-{change.pk} Roll out assistant 3.1.0").click()

    page.get_by_role("heading", name=f"CR-{change.pk}: Roll out assistant 3.1.0").wait_for()
    expect(page.locator(".approval-count")).to_have_text("0 of 2 approvals given")
    page.get_by_role("link", name="Approve…").click()

    page.get_by_role(
        "heading", name=re.compile(rf"^Approve CR-{change.pk} for version 3\.1\.0 \(hash \w+…\)\?$")
    ).wait_for()
    expect(page.get_by_role("link", name="Go back without changing anything")).to_be_visible()
    assert not Approval.objects.filter(change_request=change).exists()  # asking is not doing
    page.get_by_label("Comment (optional)").fill("Pilot-branch answers checked against the fees.")
    page.get_by_role("button", name="Approve", exact=True).click()

    # A high-risk change needs two approvers: this one is recorded and the request waits.
    expect(page.locator("main .messages")).to_contain_text("Your approval is recorded: 1 of 2")
    expect(page.locator(".approval-count")).to_have_text("1 of 2 approvals given")
    approved_by = page.get_by_role("heading", name=re.compile("^Approved by Ada Approver on"))
    expect(approved_by).to_be_visible()
    expect(page.get_by_text("Pilot-branch answers checked against the fees.")).to_be_visible()
    expect(page.get_by_role("link", name="Approve…")).to_have_count(0)
    screenshot(page, "change-request")
    assert my_work_count(page) == before - 1
    approval = Approval.objects.get(change_request=change)
    assert (approval.approver.username, approval.bound_hash) == ("approver", change.bound_hash)
    assert errors == []


def test_a_viewer_sees_no_action_on_the_main_pages_and_a_forged_post_is_refused(server, page):
    errors = watch_errors(page)
    rollout = Rollout.objects.get(system__slug="card-fraud-screener", is_rehearsal=False)
    change = ChangeRequest.objects.get(system__slug="customer-service-assistant")
    escalation = Escalation.objects.get(dedup_key="report:ocr:branch-0412")
    login(page, server, "viewer", "demo-viewer")
    assert action_controls(page) == []

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Systems").click()
    page.get_by_role("link", name="Customer-service assistant").click()
    page.locator("[data-chart='output_quality'] [data-chart-plot] svg").first.wait_for()
    screenshot(page, "system-detail")
    assert action_controls(page) == []

    nav.get_by_role("link", name="Escalations").click()
    page.get_by_role("heading", name="Escalations", level=1).wait_for()
    assert action_controls(page) == []

    pages = {
        "change request": f"/changes/{change.pk}/",
        "rollout": f"/rollouts/{rollout.pk}/",
        "readiness": "/systems/card-fraud-screener/readiness/",
        "ownership": "/systems/loan-document-classifier/ownership/",
    } | {
        f"ESC-{pk}": f"/escalations/{pk}/" for pk in Escalation.objects.values_list("pk", flat=True)
    }
    for name, path in pages.items():
        response = page.goto(f"{server.url}{path}")
        assert response.status == 200, name
        assert action_controls(page) == [], name
        expect(page.get_by_role("heading", name="What you can do")).to_have_count(0)

    step = CohortStep.objects.get(rollout=rollout, percent=25)
    audit_before = AuditEvent.objects.count()
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    forged = {
        f"/rollouts/{rollout.pk}/approve/": {"step": step.pk, "confirm": "1"},
        f"/changes/{change.pk}/approve/": {"comment": "forged"},
        "/systems/loan-document-classifier/ownership/sign/": {"confirm": "on"},
        f"/escalations/{escalation.pk}/acknowledge/": {},
    }
    for path, data in forged.items():
        response = page.request.post(
            f"{server.url}{path}",
            form={"csrfmiddlewaretoken": token, **data},
            max_redirects=0,
        )
        assert response.status == 403, path
        assert "CSRF" not in response.text(), path  # refused for the role, not for the token
    # The same token does pass CSRF: the language form takes it.
    control = page.request.post(
        f"{server.url}/i18n/setlang/",
        form={"csrfmiddlewaretoken": token, "language": "en", "next": "/"},
        max_redirects=0,
    )
    assert control.status == 302

    step.refresh_from_db()
    escalation.refresh_from_db()
    assert step.state == "awaiting_approval" and not step.approvals.exists()
    assert not Approval.objects.filter(change_request=change, approver__username="viewer").exists()
    assert not AccountabilitySignature.objects.filter(signer__username="viewer").exists()
    assert escalation.state == "open"
    assert AuditEvent.objects.count() == audit_before
    assert errors == []


def test_the_language_switch_shows_traditional_chinese_and_switches_back(server, page):
    errors = watch_errors(page)
    login(page, server, "viewer", "demo-viewer")
    page.get_by_label("Language").select_option(label="繁體中文")
    page.get_by_role("button", name="Change").click()

    page.get_by_role("heading", name="歡迎").wait_for()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hant")
    nav = page.locator("header nav")
    expect(nav.get_by_role("link", name="我的工作")).to_be_visible()
    expect(page.get_by_role("heading", name="組合總覽")).to_be_visible()
    screenshot(page, "home-zh-hant")

    # The choice holds on the next page.
    nav.get_by_role("link", name="系統").click()
    page.get_by_role("heading", name="AI 系統", level=1).wait_for()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hant")

    page.get_by_label("語言").select_option(label="English")
    page.get_by_role("button", name="更改").click()
    page.get_by_role("heading", name="AI systems", level=1).wait_for()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Home")).to_be_visible()
    nav.get_by_role("link", name="My work").click()
    page.get_by_role("heading", name="My work", level=1).wait_for()
    assert errors == []
