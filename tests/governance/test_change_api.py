"""The change-management API: CI/CD opens a request and asks whether a version may go live.

The loan classifier's pipeline registers versions and opens requests; Omar owns
the system and requests by hand; Ada and Ade approve; Dana directs; Vic views;
Charlie has no role; the fraud screener's pipeline belongs to another system.
"""

import json

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache

from core.roles import Role
from governance import services
from governance.models import Approval, AuditEvent, ChangeRequest
from registry.services import api_token_create
from tests.registry.factories import AISystemFactory, MetricSpecFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()


def call(client, method, path, body=None, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return getattr(client, method)(
        f"/api/v1/{path}",
        json.dumps(body) if body is not None else None,
        content_type="application/json",
        **headers,
    )


@pytest.fixture
def system():
    system = AISystemFactory(slug="loan-classifier", name="Loan classifier", risk_tier="medium")
    MetricSpecFactory(system=system)
    return system


@pytest.fixture
def version(system):
    return ModelVersionFactory(system=system, version="2.1.0")


@pytest.fixture
def pipeline(system):
    return api_token_create(by=None, name="ci", system=system)[1]


@pytest.fixture
def other_pipeline():
    other = AISystemFactory(slug="fraud-screener")
    return api_token_create(by=None, name="fraud-ci", system=other)[1]


@pytest.fixture
def ade(django_user_model):
    user = django_user_model.objects.create_user(username="ade", password="pw")
    user.groups.add(Group.objects.get_or_create(name=Role.APPROVER.value)[0])
    return user


def personal(user):
    return api_token_create(by=user, name="script", user=user)[1]


OPEN = {
    "kind": "model_update",
    "title": "Ship 2.1.0",
    "description": "Retrained on Q3 loans.",
    "rationale": "Better recall on small-business loans.",
    "model_version": "2.1.0",
}


@pytest.fixture
def draft(version, owner):
    return services.change_request_open(
        system=version.system,
        by=owner,
        kind="model_update",
        title="Ship 2.1.0",
        description="New model",
        rationale="Better recall",
        model_version=version,
    )


@pytest.fixture
def submitted(draft, owner):
    return services.change_request_submit(change=draft, by=owner)


# --- The CI/CD flow -------------------------------------------------------------------------


def test_ci_opens_a_request_and_deploys_only_once_people_approved(
    client, system, pipeline, director, approver
):
    registered = call(
        client,
        "post",
        "systems/loan-classifier/versions/",
        {"version": "2.2.0", "artifact_uri": "s3://models/loan/2.2.0", "parameters": {"t": 0.7}},
        token=pipeline,
    )
    assert registered.status_code == 201, registered.content
    content_hash = registered.json()["content_hash"]

    opened = call(
        client,
        "post",
        "systems/loan-classifier/change-requests/",
        OPEN | {"title": "Ship 2.2.0", "model_version": "2.2.0", "planned_for": "2026-12-01"},
        token=pipeline,
    )
    assert opened.status_code == 201, opened.content
    change = opened.json()
    assert change["state"] == "draft"
    assert change["requester"] == "pipeline:ci"
    assert change["bound_hash"] == content_hash
    assert (change["approvals_needed"], change["approvals_live"]) == (1, 0)

    deployable = "systems/loan-classifier/versions/2.2.0/deployable/"
    answer = call(client, "get", deployable, token=pipeline).json()
    assert answer == {
        "deployable": False,
        "reasons": [f"CR-{change['id']} is draft."],
        "change_request": change["id"],
    }

    # A pipeline's request has no person behind it: a director submits it.
    submit = call(client, "post", f"change-requests/{change['id']}/submit/", token=pipeline)
    assert submit.status_code == 403
    client.force_login(director)
    assert call(client, "post", f"change-requests/{change['id']}/submit/").status_code == 200
    client.logout()

    approved = call(
        client,
        "post",
        f"change-requests/{change['id']}/approve/",
        {"comment": "Q3 evaluation reviewed"},
        token=personal(approver),
    )
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert body["state"] == "approved"
    assert body["approvals"][0]["approver"] == "ada"
    assert body["approvals"][0]["bound_hash"] == content_hash
    assert body["approvals"][0]["metric_snapshot"][0]["metric"] == "output_quality"

    assert call(client, "get", deployable, token=pipeline).json() == {
        "deployable": True,
        "reasons": [],
        "change_request": change["id"],
    }
    detail = call(client, "get", f"change-requests/{change['id']}/", token=pipeline).json()
    assert detail["approvals_live"] == 1
    assert detail["approvals"][0]["comment"] == "Q3 evaluation reviewed"


def test_a_parameter_change_is_opened_with_its_parameter_set(client, system, owner):
    client.force_login(owner)
    response = call(
        client,
        "post",
        "systems/loan-classifier/change-requests/",
        {
            "kind": "parameter_change",
            "title": "Raise the review threshold",
            "description": "Fewer manual reviews",
            "rationale": "Reviewers overturn 2%",
            "parameters": {"review_threshold": 0.72},
            "risk_tier": "high",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["model_version"] is None
    assert body["bound_hash"] == services.parameters_hash({"review_threshold": 0.72})
    assert (body["risk_tier"], body["approvals_needed"]) == ("high", 2)


def test_the_whole_life_of_a_request_is_scriptable(client, version, owner, approver, director):
    client.force_login(owner)
    change = call(client, "post", "systems/loan-classifier/change-requests/", OPEN).json()
    path = f"change-requests/{change['id']}/"
    assert call(client, "post", f"{path}submit/", {}).json()["state"] == "submitted"
    client.force_login(approver)
    assert call(client, "post", f"{path}approve/").json()["state"] == "approved"
    client.force_login(owner)
    assert call(client, "post", f"{path}deploy/").json()["state"] == "deployed"
    client.force_login(director)
    rolled = call(client, "post", f"{path}roll-back/", {"reason": "latency"}).json()
    assert (rolled["state"], rolled["closing_reason"]) == ("rolled_back", "latency")
    actions = list(
        AuditEvent.objects.filter(object_type="governance.changerequest").values_list(
            "action", flat=True
        )
    )
    assert actions == [
        "change.open",
        "change.submit",
        "change.approve",
        "change.deploy",
        "change.roll_back",
    ]


def test_rejecting_and_cancelling_close_a_request(client, version, owner, approver, submitted):
    client.force_login(approver)
    rejected = call(
        client, "post", f"change-requests/{submitted.pk}/reject/", {"reason": "no Q3 eval"}
    )
    assert (rejected.status_code, rejected.json()["state"]) == (200, "rejected")
    client.force_login(owner)
    second = services.change_request_open(
        system=version.system,
        by=owner,
        kind="retraining",
        title="Retrain",
        description="d",
        rationale="r",
        model_version=version,
    )
    cancelled = call(client, "post", f"change-requests/{second.pk}/cancel/", {"reason": "dup"})
    assert (cancelled.status_code, cancelled.json()["state"]) == (200, "cancelled")


# --- Reading --------------------------------------------------------------------------------


def test_lists_are_newest_first_and_filter_by_state_and_system(
    client, version, owner, viewer, submitted, pipeline, other_pipeline
):
    newer = services.change_request_open(
        system=version.system,
        by=owner,
        kind="retraining",
        title="Retrain",
        description="d",
        rationale="r",
        model_version=version,
    )
    client.force_login(viewer)
    listed = call(client, "get", "systems/loan-classifier/change-requests/").json()["results"]
    assert [item["id"] for item in listed] == [newer.pk, submitted.pk]
    drafts = call(client, "get", "systems/loan-classifier/change-requests/?state=draft").json()
    assert [item["id"] for item in drafts["results"]] == [newer.pk]
    assert call(client, "get", "change-requests/?system=fraud-screener").json()["count"] == 0
    assert call(client, "get", "change-requests/?state=submitted").json()["count"] == 1
    bad = call(client, "get", "change-requests/?state=pending")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "state"
    client.logout()
    # A pipeline lists only its own system's requests.
    assert call(client, "get", "change-requests/", token=pipeline).json()["count"] == 2
    assert call(client, "get", "change-requests/", token=other_pipeline).json()["count"] == 0


@pytest.mark.parametrize(
    "path",
    [
        "systems/loan-classifier/change-requests/",
        "change-requests/{id}/",
        "systems/loan-classifier/versions/2.1.0/deployable/",
    ],
)
def test_reading_needs_a_role_or_the_systems_own_pipeline(
    client, path, submitted, outsider, viewer, pipeline, other_pipeline
):
    path = path.format(id=submitted.pk)
    assert call(client, "get", path).status_code in (401, 403)
    assert call(client, "get", path, token="agp_unknown").status_code == 401
    assert call(client, "get", path, token=other_pipeline).status_code == 403
    assert call(client, "get", path, token=pipeline).status_code == 200
    client.force_login(outsider)
    assert call(client, "get", path).status_code == 403
    client.force_login(viewer)
    assert call(client, "get", path).status_code == 200


def test_unknown_things_are_404(client, viewer, version):
    client.force_login(viewer)
    assert call(client, "get", "change-requests/999/").status_code == 404
    assert call(client, "get", "systems/nope/change-requests/").status_code == 404
    deployable = "systems/loan-classifier/versions/9.9.9/deployable/"
    assert call(client, "get", deployable).status_code == 404


def test_deployable_says_no_request_concerns_a_new_version(client, version, pipeline):
    answer = call(
        client, "get", "systems/loan-classifier/versions/2.1.0/deployable/", token=pipeline
    )
    assert answer.json() == {
        "deployable": False,
        "reasons": ["No change request concerns this version; open one."],
        "change_request": None,
    }


# --- Who may write --------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_viewers_and_people_without_a_role_open_nothing(client, request, persona, version):
    client.force_login(request.getfixturevalue(persona))
    response = call(client, "post", "systems/loan-classifier/change-requests/", OPEN)
    assert response.status_code == 403
    assert not ChangeRequest.objects.exists()


def test_another_systems_pipeline_opens_nothing_here(client, version, other_pipeline):
    response = call(
        client, "post", "systems/loan-classifier/change-requests/", OPEN, token=other_pipeline
    )
    assert response.status_code == 403
    assert not ChangeRequest.objects.exists()


def test_anonymous_callers_open_nothing(client, version):
    assert call(client, "post", "systems/loan-classifier/change-requests/", OPEN).status_code in (
        401,
        403,
    )
    assert not ChangeRequest.objects.exists()


ACTIONS = [
    ("submit", None),
    ("approve", {"comment": "ok"}),
    ("reject", {"reason": "no"}),
    ("cancel", {"reason": "no"}),
    ("deploy", None),
    ("roll-back", {"reason": "no"}),
]


@pytest.mark.parametrize(("action", "body"), ACTIONS)
def test_no_transition_for_a_viewer_nobody_anonymous_or_another_pipeline(
    client, action, body, submitted, viewer, outsider, other_pipeline, pipeline
):
    path = f"change-requests/{submitted.pk}/{action}/"
    before = ChangeRequest.objects.values().get()
    assert call(client, "post", path, body).status_code in (401, 403)
    assert call(client, "post", path, body, token=other_pipeline).status_code == 403
    for persona in (viewer, outsider):
        client.force_login(persona)
        assert call(client, "post", path, body).status_code == 403
    client.logout()
    # The system's own pipeline opens requests; every decision is a person's.
    assert call(client, "post", path, body, token=pipeline).status_code == 403
    assert ChangeRequest.objects.values().get() == before
    assert not Approval.objects.exists()


def test_the_requester_never_approves_or_rejects_their_own_request(client, ade):
    system = AISystemFactory(slug="loan-classifier")
    version = ModelVersionFactory(system=system)
    change = services.change_request_open(
        system=system,
        by=ade,
        kind="model_update",
        title="t",
        description="d",
        rationale="r",
        model_version=version,
    )
    services.change_request_submit(change=change, by=ade)
    client.force_login(ade)
    response = call(client, "post", f"change-requests/{change.pk}/approve/")
    assert response.status_code == 403
    assert "own request" in response.json()["errors"][0]["message"]
    rejected = call(client, "post", f"change-requests/{change.pk}/reject/", {"reason": "x"})
    assert rejected.status_code == 403
    assert not Approval.objects.exists()
    change.refresh_from_db()
    assert change.state == "submitted"


def test_only_the_requester_submits_and_cancels(client, draft, approver):
    client.force_login(approver)
    assert call(client, "post", f"change-requests/{draft.pk}/submit/").status_code == 403
    assert call(client, "post", f"change-requests/{draft.pk}/cancel/").status_code == 403
    draft.refresh_from_db()
    assert draft.state == "draft"


def test_only_a_director_or_the_requester_records_deployment(
    client, submitted, approver, ade, owner
):
    services.change_request_approve(change=submitted, by=approver)
    client.force_login(ade)
    assert call(client, "post", f"change-requests/{submitted.pk}/deploy/").status_code == 403
    client.force_login(owner)
    assert call(client, "post", f"change-requests/{submitted.pk}/deploy/").status_code == 200


# --- Bad input and wrong states -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "upgrade"}, "kind"),
        ({"model_version": "9.9.9"}, "model_version"),
        ({"kind": "parameter_change", "model_version": None, "parameters": [1, 2]}, "parameters"),
        ({"kind": "parameter_change", "model_version": None}, "parameters"),
        ({"kind": "parameter_change"}, "model_version"),
        ({"model_version": None}, "model_version"),
        ({"rationale": ""}, "rationale"),
        ({"rationale": None}, "rationale"),
        ({"risk_tier": "extreme"}, "risk_tier"),
        ({"risk_tier": "low", "risk_reason": "tiny"}, "risk_tier"),
        ({"planned_for": "next week"}, "planned_for"),
    ],
)
def test_a_bad_request_is_refused_and_nothing_is_written(client, owner, version, change, field):
    client.force_login(owner)
    events = AuditEvent.objects.count()
    response = call(client, "post", "systems/loan-classifier/change-requests/", OPEN | change)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field
    assert not ChangeRequest.objects.exists()
    assert AuditEvent.objects.count() == events


def test_a_missing_field_is_named(client, owner, version):
    client.force_login(owner)
    body = {key: value for key, value in OPEN.items() if key != "rationale"}
    response = call(client, "post", "systems/loan-classifier/change-requests/", body)
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["rationale"]
    assert not ChangeRequest.objects.exists()


def test_a_version_of_another_system_is_not_found_here(client, owner, version):
    ModelVersionFactory(system=AISystemFactory(slug="fraud-screener"), version="3.0.0")
    client.force_login(owner)
    body = OPEN | {"model_version": "3.0.0"}
    response = call(client, "post", "systems/loan-classifier/change-requests/", body)
    assert response.status_code == 400
    assert "not a version of loan-classifier" in response.json()["errors"][0]["message"]
    assert not ChangeRequest.objects.exists()


@pytest.mark.parametrize("action", ["reject", "roll-back"])
def test_a_decision_that_needs_a_reason_is_refused_without_one(
    client, action, submitted, approver, director
):
    client.force_login(approver if action == "reject" else director)
    for body in (None, {"reason": ""}, {"reason": "   "}):
        response = call(client, "post", f"change-requests/{submitted.pk}/{action}/", body)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["errors"][0]["field"] == "reason"
    submitted.refresh_from_db()
    assert submitted.state == "submitted"


@pytest.mark.parametrize(
    ("action", "persona", "body"),
    [
        ("submit", "owner", None),
        ("approve", "approver", None),
        ("reject", "approver", {"reason": "no"}),
        ("deploy", "director", None),
        ("roll-back", "director", {"reason": "latency"}),
    ],
)
def test_a_transition_in_the_wrong_state_is_409(
    client, request, action, persona, body, submitted, owner
):
    if action != "submit":  # a submitted request is submitted once; the others need it open
        services.change_request_cancel(change=submitted, by=owner)
    before = ChangeRequest.objects.values().get()
    client.force_login(request.getfixturevalue(persona))
    response = call(client, "post", f"change-requests/{submitted.pk}/{action}/", body)
    assert response.status_code == 409, response.content
    assert response.json()["errors"][0]["code"] == "wrong_state"
    assert ChangeRequest.objects.values().get() == before


def test_a_second_approval_by_the_same_person_is_409(client, version, owner, approver):
    change = services.change_request_open(
        system=version.system,
        by=owner,
        kind="model_update",
        title="t",
        description="d",
        rationale="r",
        model_version=version,
        risk_tier="high",
    )
    services.change_request_submit(change=change, by=owner)
    client.force_login(approver)
    assert call(client, "post", f"change-requests/{change.pk}/approve/").status_code == 200
    response = call(client, "post", f"change-requests/{change.pk}/approve/")
    assert response.status_code == 409
    assert Approval.objects.count() == 1


def test_cancelling_a_closed_request_is_409(client, submitted, owner):
    services.change_request_cancel(change=submitted, by=owner)
    client.force_login(owner)
    assert call(client, "post", f"change-requests/{submitted.pk}/cancel/").status_code == 409
