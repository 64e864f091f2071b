"""The change-request pages: list, detail with evidence, the form, and confirmed actions.

Omar owns the loan classifier and requests changes; Ada approves; Dana directs;
Vic only views; Charlie has no role.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance import services
from governance.models import Approval, ChangeRequest
from registry.services import metric_batch_ingest, model_version_update
from tests.registry.factories import AISystemFactory, MetricSpecFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def system():
    system = AISystemFactory(slug="loan-classifier", name="Loan classifier", risk_tier="medium")
    MetricSpecFactory(system=system)
    return system


@pytest.fixture
def version(system):
    return ModelVersionFactory(system=system, version="2.2.0")


def open_change(version, by, **overrides):
    fields = {
        "system": version.system,
        "by": by,
        "kind": "model_update",
        "title": "Ship 2.2.0",
        "description": "Retrained on Q3 loans",
        "rationale": "Better recall",
        "model_version": version,
    } | overrides
    return services.change_request_open(**fields)


@pytest.fixture
def submitted(version, owner):
    return services.change_request_submit(change=open_change(version, owner), by=owner)


def url(change, action=""):
    return f"/changes/{change.pk}/{action.replace('_', '-') + '/' if action else ''}"


# --- Approving ------------------------------------------------------------------------------


def test_ada_approves_in_the_browser_through_the_confirmation_step(
    client, approver, submitted, version
):
    client.force_login(approver)
    page = client.get(url(submitted)).content.decode()
    assert url(submitted, "approve") in page and "Approve…" in page

    confirm = client.get(url(submitted, "approve"))
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert f"Approve CR-{submitted.pk} for version 2.2.0 (hash {version.content_hash[:12]}…)?" in (
        text
    )
    assert version.content_hash in text
    assert not Approval.objects.exists()  # asking is not doing

    response = client.post(url(submitted, "approve"), {"comment": "Q3 eval reviewed"}, follow=True)
    assert response.redirect_chain == [(url(submitted), 302)]
    text = response.content.decode()
    assert "Approved." in text and "Q3 eval reviewed" in text
    submitted.refresh_from_db()
    assert submitted.state == "approved"
    assert Approval.objects.get().approver == approver


@pytest.mark.parametrize("persona", ["owner", "viewer", "director"])
def test_only_an_approver_who_did_not_request_sees_approve_and_a_forged_post_is_403(
    client, request, persona, submitted
):
    client.force_login(request.getfixturevalue(persona))
    page = client.get(url(submitted)).content.decode()
    assert url(submitted, "approve") not in page and url(submitted, "reject") not in page
    assert client.get(url(submitted, "approve")).status_code == 403
    assert client.post(url(submitted, "approve"), {"comment": "sneaky"}).status_code == 403
    assert client.post(url(submitted, "reject"), {"reason": "sneaky"}).status_code == 403
    submitted.refresh_from_db()
    assert submitted.state == "submitted"
    assert not Approval.objects.exists()


def test_an_approver_who_requested_may_not_approve_their_own(client, approver, version):
    change = open_change(version, approver)
    services.change_request_submit(change=change, by=approver)
    client.force_login(approver)
    assert "Approve…" not in client.get(url(change)).content.decode()
    assert client.post(url(change, "approve")).status_code == 403
    assert not Approval.objects.exists()


def test_a_rejection_without_a_reason_is_refused_in_place(client, approver, submitted):
    client.force_login(approver)
    response = client.post(url(submitted, "reject"), {"reason": "  "})
    assert response.status_code == 400
    text = response.content.decode()
    assert 'role="alert"' in text and "This field is required." in text
    assert f"Reject CR-{submitted.pk}" in text
    submitted.refresh_from_db()
    assert submitted.state == "submitted"
    response = client.post(url(submitted, "reject"), {"reason": "No Q3 evaluation"}, follow=True)
    assert "Rejected." in response.content.decode()
    submitted.refresh_from_db()
    assert (submitted.state, submitted.closing_reason) == ("rejected", "No Q3 evaluation")


def test_a_wrong_state_action_gets_a_clear_message(client, approver, submitted, version, owner):
    draft = open_change(version, owner)
    client.force_login(approver)
    response = client.get(url(draft, "approve"), follow=True)
    assert f"CR-{draft.pk} is draft; this cannot be done now." in response.content.decode()
    client.post(url(submitted, "approve"))
    # A second tab still showing the form: the service refuses, the page says why.
    response = client.post(url(submitted, "reject"), {"reason": "late"}, follow=True)
    assert response.redirect_chain == [(url(submitted), 302)]
    assert "cannot become rejected" in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.state == "approved"


# --- The detail page ------------------------------------------------------------------------


def test_the_detail_shows_each_approvals_evidence(client, viewer, approver, submitted, owner):
    metric_batch_ingest(
        system=submitted.system,
        body={
            "points": [
                {
                    "metric": "output_quality",
                    "value": 0.9312,
                    "at": (timezone.now() - timedelta(minutes=5)).isoformat(),
                }
            ]
        },
        by=owner,
    )
    services.change_request_approve(change=submitted, by=approver, comment="Looks right")
    client.force_login(viewer)
    text = client.get(url(submitted)).content.decode()
    approval = Approval.objects.get()
    assert approval.metric_snapshot[0]["value"] == pytest.approx(0.9312)
    assert "Approved by Ada Approver" in text
    assert approval.bound_hash in text and "matches the request's hash" in text
    assert "The system's metrics at approval" in text
    assert "output_quality" in text and "0.9312" in text and "✔" in text
    assert "1 of 1 approval given" in text
    assert "/systems/loan-classifier/versions/" in text
    assert "Omar Owner (omar)" in text
    # A viewer changes nothing, so sees no action at all.
    assert "What you can do" not in text


def test_a_voided_approval_is_shown_struck_with_its_reason(
    client, viewer, approver, submitted, version, owner
):
    services.change_request_approve(change=submitted, by=approver)
    model_version_update(model_version=version, by=owner, parameters={"threshold": 0.6})
    client.force_login(viewer)
    text = client.get(url(submitted)).content.decode()
    assert "<del>Approved by Ada Approver" in text
    assert "version changed after approval" in text and "It no longer counts." in text
    assert "differs from the request's hash now" in text
    assert "0 of 1 approval given" in text


def test_a_parameter_change_shows_its_parameter_set(client, viewer, system, owner):
    change = services.change_request_open(
        system=system,
        by=owner,
        kind="parameter_change",
        title="Raise the threshold",
        description="d",
        rationale="r",
        parameters={"review_threshold": 0.72},
    )
    client.force_login(viewer)
    text = client.get(url(change)).content.decode()
    assert "&quot;review_threshold&quot;: 0.72" in text
    assert change.bound_hash in text


# --- Opening and the requester's actions ----------------------------------------------------


def test_omar_opens_a_request_then_submits_it(client, owner, version, system):
    client.force_login(owner)
    form = client.get("/systems/loan-classifier/changes/new/").content.decode()
    assert '<option value="medium" selected>' in form
    assert '<option value="2.2.0">2.2.0</option>' in form
    response = client.post(
        "/systems/loan-classifier/changes/new/",
        {
            "kind": "model_update",
            "model_version": "2.2.0",
            "title": "Ship 2.2.0",
            "description": "Retrained",
            "rationale": "Recall",
            "risk_tier": "medium",
            "planned_for": "2026-12-01",
        },
    )
    change = ChangeRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == url(change)
    assert (change.state, change.model_version, change.requester) == ("draft", version, owner)
    page = client.get(url(change)).content.decode()
    assert "Submit for review" in page and url(change, "cancel") in page
    assert url(change, "submit") in page
    client.post(url(change, "submit"))
    change.refresh_from_db()
    assert change.state == "submitted"


def test_a_parameter_change_is_opened_from_json_text(client, owner, system):
    client.force_login(owner)
    client.post(
        "/systems/loan-classifier/changes/new/",
        {
            "kind": "parameter_change",
            "parameters": '{"review_threshold": 0.72}',
            "title": "Raise the threshold",
            "description": "d",
            "rationale": "r",
            "risk_tier": "high",
        },
    )
    change = ChangeRequest.objects.get()
    assert change.parameters == {"review_threshold": 0.72}
    assert change.risk_tier == "high"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"parameters": "{not json"}, "This is not valid JSON."),
        ({"parameters": "[1, 2]"}, "Give a JSON object"),
        ({"kind": "parameter_change"}, "concerns a parameter set, not a version"),
        ({"model_version": ""}, "Name the model version"),
        ({"model_version": "9.9.9"}, "Select a valid choice"),
        ({"rationale": ""}, "This field is required."),
        ({"risk_tier": "low"}, "Only an approver may classify"),
        ({"kind": "upgrade"}, "Select a valid choice"),
    ],
)
def test_bad_input_on_the_form_is_shown_in_place_and_nothing_is_written(
    client, owner, version, change, message
):
    client.force_login(owner)
    data = {
        "kind": "model_update",
        "model_version": "2.2.0",
        "title": "Ship",
        "description": "d",
        "rationale": "r",
        "risk_tier": "medium",
    } | change
    response = client.post("/systems/loan-classifier/changes/new/", data)
    assert response.status_code == 400
    text = response.content.decode()
    assert 'role="alert"' in text and message in text
    assert not ChangeRequest.objects.exists()


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_a_viewer_opens_nothing(client, request, persona, version):
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/systems/loan-classifier/changes/new/").status_code == 403
    data = {"kind": "model_update", "model_version": "2.2.0", "title": "t"}
    assert client.post("/systems/loan-classifier/changes/new/", data).status_code == 403
    assert not ChangeRequest.objects.exists()


def test_the_requester_cancels_after_confirming(client, owner, submitted, viewer):
    client.force_login(viewer)
    assert client.post(url(submitted, "cancel")).status_code == 403
    client.force_login(owner)
    assert "Cancel CR-" in client.get(url(submitted, "cancel")).content.decode()
    client.post(url(submitted, "cancel"), {"reason": "superseded"})
    submitted.refresh_from_db()
    assert (submitted.state, submitted.closing_reason) == ("cancelled", "superseded")


def test_dana_marks_deployed_and_records_a_rollback_with_a_reason(
    client, director, approver, submitted, viewer
):
    services.change_request_approve(change=submitted, by=approver)
    client.force_login(viewer)
    assert client.post(url(submitted, "deploy")).status_code == 403
    client.force_login(director)
    assert "Mark deployed…" in client.get(url(submitted)).content.decode()
    assert "went live?" in client.get(url(submitted, "deploy")).content.decode()
    client.post(url(submitted, "deploy"))
    submitted.refresh_from_db()
    assert submitted.state == "deployed"
    assert client.post(url(submitted, "roll_back"), {"reason": ""}).status_code == 400
    client.post(url(submitted, "roll_back"), {"reason": "p95 latency"})
    submitted.refresh_from_db()
    assert (submitted.state, submitted.closing_reason) == ("rolled_back", "p95 latency")


# --- The lists ------------------------------------------------------------------------------


def test_the_list_filters_and_paginates(client, viewer, owner, version):
    other = ModelVersionFactory(system=AISystemFactory(slug="fraud-screener", name="Fraud"))
    for number in range(27):
        open_change(version, owner, title=f"Loan change {number}")
    change = open_change(other, owner, title="Fraud change")
    services.change_request_submit(change=change, by=owner)
    client.force_login(viewer)

    first = client.get("/changes/").content.decode()
    assert "28 change requests, newest first, showing 1 to 25" in first
    assert "Fraud change" in first and "Page 1 of 2" in first
    second = client.get("/changes/?page=2").content.decode()
    assert "Loan change 0" in second and "Loan change 26" not in second

    submitted = client.get("/changes/?state=submitted").content.decode()
    assert "1 change request, newest first" in submitted and "Fraud change" in submitted
    by_system = client.get("/changes/?system=fraud-screener").content.decode()
    assert "Fraud change" in by_system and "Loan change" not in by_system
    page_two = client.get("/changes/?system=loan-classifier&page=2").content.decode()
    assert "system=loan-classifier&amp;page=1" in page_two

    tab = client.get("/systems/loan-classifier/changes/?state=draft").content.decode()
    assert "27 change requests" in tab and "Fraud change" not in tab
    assert 'aria-current="page">Change requests' in tab

    bad = client.get("/changes/?state=pending").content.decode()
    assert 'role="alert"' in bad and "Correct the filters" in bad


def test_the_filters_swap_the_list_alone_and_the_same_url_is_the_whole_page(
    client, viewer, owner, version
):
    services.change_request_submit(change=open_change(version, owner), by=owner)
    open_change(version, owner, title="Still a draft")
    client.force_login(viewer)

    swap = client.get("/changes/?state=submitted", headers={"HX-Request": "true"})
    assert "HX-Request" in swap["Vary"]
    fragment = swap.content.decode()
    assert "<html" not in fragment and "<h1>" not in fragment
    assert "1 change request, newest first" in fragment and "Still a draft" not in fragment
    assert 'hx-get="/changes/" hx-target="#change-results"' in fragment
    assert "Clear filters" in fragment  # the filter card follows the swap

    page = client.get("/changes/?state=submitted").content.decode()
    assert page.startswith("<!DOCTYPE html>") and "<h1>Change requests</h1>" in page
    assert "1 change request, newest first" in page


def test_an_empty_list_says_how_to_open_one(client, owner, viewer, system):
    client.force_login(viewer)
    text = client.get("/changes/").content.decode()
    assert "No change request yet" in text and "/change-requests/" in text
    tab = client.get("/systems/loan-classifier/changes/").content.decode()
    assert "No change request yet" in tab and "Open a change request" not in tab
    client.force_login(owner)
    tab = client.get("/systems/loan-classifier/changes/").content.decode()
    assert "/systems/loan-classifier/changes/new/" in tab


def test_reading_needs_a_role(client, outsider, submitted):
    for path in ("/changes/", url(submitted), "/systems/loan-classifier/changes/"):
        assert client.get(path).status_code == 302  # to the login page
        client.force_login(outsider)
        assert client.get(path).status_code == 403
        client.logout()


def test_the_tab_and_the_navigation_link_lead_here(client, viewer, system):
    client.force_login(viewer)
    page = client.get("/systems/loan-classifier/").content.decode()
    assert 'href="/systems/loan-classifier/changes/"' in page
    assert 'href="/changes/"' in page
    assert client.get("/changes/999/").status_code == 404


def test_a_second_approval_by_the_same_person_is_not_offered(client, approver, version, owner):
    change = open_change(version, owner, risk_tier="high")
    services.change_request_submit(change=change, by=owner)
    services.change_request_approve(change=change, by=approver)
    client.force_login(approver)
    page = client.get(url(change)).content.decode()
    assert "Approve…" not in page and "Reject…" in page and "1 of 2 approvals given" in page
    response = client.get(url(change, "approve"), follow=True)
    assert "You have already approved this request." in response.content.decode()
    response = client.post(url(change, "approve"), follow=True)
    assert "already approved" in response.content.decode()
    assert Approval.objects.count() == 1


def test_a_threshold_change_starts_from_the_metrics_current_values(client, owner):
    spec = MetricSpecFactory(system__slug="thresholds", key="output_quality", warning=0.9)
    client.force_login(owner)
    page = client.get(f"/systems/{spec.system.slug}/changes/new/?metric=output_quality")
    text = page.content.decode()
    assert page.status_code == 200
    assert "parameter_change" in text and "selected" in text
    assert "&quot;metric_spec&quot;: &quot;output_quality&quot;" in text
    assert "&quot;warning&quot;: 0.9" in text
