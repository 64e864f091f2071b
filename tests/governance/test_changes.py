"""Change requests: states, four-eyes approvals by risk tier, voiding, deployability.

Omar requests, Ada and her colleagues approve, Dana directs; Alex is a
superuser with no role.
"""

import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from core.errors import ApplicationError
from core.roles import Role
from governance import services
from governance.models import Approval, AuditEvent, ChangeRequest
from governance.services.escalations import routing_for
from registry.models import MetricSpec
from registry.services import metric_spec_update, model_version_update
from tests.registry.factories import MetricSpecFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_approver(django_user_model):
    def make(username):
        user = django_user_model.objects.create_user(username=username, password="pw")
        user.groups.add(Group.objects.get_or_create(name=Role.APPROVER.value)[0])
        return user

    return make


@pytest.fixture
def version():
    version = ModelVersionFactory(system__slug="loan-classifier", system__risk_tier="medium")
    MetricSpecFactory(system=version.system)
    return version


def open_change(version, by, **overrides):
    fields = {
        "system": version.system,
        "by": by,
        "kind": "model_update",
        "title": "Ship 2.2",
        "description": "New model",
        "rationale": "Better recall",
        "model_version": version,
    } | overrides
    return services.change_request_open(**fields)


def submitted(version, by, **overrides):
    return services.change_request_submit(change=open_change(version, by, **overrides), by=by)


def test_a_request_is_bound_to_its_version_hash_and_starts_as_draft(version, owner):
    change = open_change(version, owner)
    assert change.state == "draft"
    assert change.bound_hash == version.content_hash
    assert change.risk_tier == "medium"
    assert change.requester == owner


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"model_version": None}, "model_version"),
        ({"kind": "parameter_change"}, "model_version"),
        ({"kind": "parameter_change", "model_version": None}, "parameters"),
        ({"kind": "upgrade"}, "kind"),
        ({"title": " "}, "title"),
        ({"rationale": ""}, "rationale"),
        ({"risk_tier": "extreme"}, "risk_tier"),
    ],
)
def test_a_bad_request_is_refused_and_nothing_is_written(version, owner, overrides, field):
    with pytest.raises(ApplicationError) as error:
        open_change(version, owner, **overrides)
    assert error.value.field == field
    assert not ChangeRequest.objects.exists()


def test_a_version_of_another_system_is_refused(version, owner):
    other = ModelVersionFactory()
    with pytest.raises(ApplicationError, match="another system"):
        open_change(version, owner, model_version=other)


def test_a_parameter_change_is_bound_to_its_parameter_hash(version, owner):
    change = open_change(
        version,
        owner,
        kind="parameter_change",
        model_version=None,
        parameters={"metric_spec": "output_quality", "warning": 0.92},
    )
    assert change.bound_hash == services.parameters_hash(
        {"warning": 0.92, "metric_spec": "output_quality"}
    )


def test_anyone_may_raise_the_risk_but_only_an_approver_lowers_it_with_a_reason(
    version, owner, make_approver
):
    assert open_change(version, owner, risk_tier="critical").risk_tier == "critical"
    with pytest.raises(ApplicationError, match="Only an approver"):
        open_change(version, owner, risk_tier="low", risk_reason="tiny")
    ada = make_approver("ada2")
    with pytest.raises(ApplicationError, match="why"):
        open_change(version, ada, risk_tier="low")
    assert open_change(version, ada, risk_tier="low", risk_reason="copy fix").risk_tier == "low"


def test_only_the_requester_submits_and_only_once(version, owner, viewer):
    change = open_change(version, owner)
    with pytest.raises(ApplicationError) as error:
        services.change_request_submit(change=change, by=viewer)
    assert error.value.status == 403
    services.change_request_submit(change=change, by=owner)
    with pytest.raises(ApplicationError) as error:
        services.change_request_submit(change=change, by=owner)
    assert error.value.status == 409


@pytest.mark.parametrize(
    ("tier", "needed"), [("low", 1), ("medium", 1), ("high", 2), ("critical", 3)]
)
def test_approvals_needed_follow_the_risk_tier(version, owner, make_approver, tier, needed):
    change = submitted(version, owner, risk_tier=tier) if tier != "low" else None
    if change is None:
        version.system.risk_tier = "low"
        version.system.save()
        change = submitted(version, owner)
    for number in range(needed):
        assert change.state == "submitted"
        change = services.change_request_approve(change=change, by=make_approver(f"ap{number}"))
    assert change.state == "approved"
    assert Approval.objects.filter(change_request=change).count() == needed


def test_the_requester_never_approves_their_own_request(version, make_approver):
    ada = make_approver("ada2")
    change = submitted(version, ada)
    with pytest.raises(ApplicationError, match="own request") as error:
        services.change_request_approve(change=change, by=ada)
    assert error.value.status == 403
    assert not Approval.objects.exists()


def test_an_administrator_is_not_exempt(version, admin_user, make_approver):
    # Without the role a superuser cannot approve at all...
    change = submitted(version, make_approver("ada2"))
    with pytest.raises(ApplicationError, match="Only approvers"):
        services.change_request_approve(change=change, by=admin_user)
    # ...and with it, not their own request.
    admin_user.groups.add(Group.objects.get_or_create(name=Role.APPROVER.value)[0])
    admin_user._role_names = None
    del admin_user._role_names
    own = submitted(version, admin_user)
    with pytest.raises(ApplicationError, match="own request"):
        services.change_request_approve(change=own, by=admin_user)


def test_the_same_approver_twice_counts_once(version, owner, make_approver):
    change = submitted(version, owner, risk_tier="high")
    ada = make_approver("ada2")
    services.change_request_approve(change=change, by=ada)
    with pytest.raises(ApplicationError, match="already approved"):
        services.change_request_approve(change=change, by=ada)
    change.refresh_from_db()
    assert change.state == "submitted"
    assert services.live_approvals(change).count() == 1


@pytest.mark.parametrize("state", ["draft", "approved", "rejected", "cancelled"])
def test_approving_in_the_wrong_state_is_refused(version, owner, make_approver, state):
    change = open_change(version, owner)
    ChangeRequest.objects.filter(pk=change.pk).update(state=state)
    with pytest.raises(ApplicationError) as error:
        services.change_request_approve(change=change, by=make_approver("ada2"))
    assert error.value.status == 409
    assert not Approval.objects.exists()


def test_an_approval_records_what_it_was_based_on(version, owner, make_approver):
    change = services.change_request_approve(
        change=submitted(version, owner), by=make_approver("ada2"), comment="looks good"
    )
    approval = Approval.objects.get(change_request=change)
    assert approval.bound_hash == version.content_hash
    assert approval.metric_snapshot[0]["metric"] == "output_quality"
    assert {"warning", "critical", "value", "status"} <= set(approval.metric_snapshot[0])


def test_a_rejection_needs_a_reason_and_ends_the_request(version, owner, make_approver):
    change = submitted(version, owner)
    ada = make_approver("ada2")
    with pytest.raises(ApplicationError, match="reason"):
        services.change_request_reject(change=change, by=ada, reason=" ")
    change = services.change_request_reject(change=change, by=ada, reason="no eval on Q3 data")
    assert (change.state, change.closing_reason) == ("rejected", "no eval on Q3 data")
    with pytest.raises(ApplicationError):
        services.change_request_approve(change=change, by=make_approver("bob"))


def test_only_the_requester_cancels_an_open_request(version, owner, viewer):
    change = submitted(version, owner)
    with pytest.raises(ApplicationError):
        services.change_request_cancel(change=change, by=viewer)
    assert services.change_request_cancel(change=change, by=owner).state == "cancelled"
    with pytest.raises(ApplicationError) as error:
        services.change_request_cancel(change=change, by=owner)
    assert error.value.status == 409


def test_a_version_change_voids_the_approval_and_returns_the_request(version, owner, make_approver):
    change = services.change_request_approve(
        change=submitted(version, owner), by=make_approver("a")
    )
    assert change.state == "approved"
    assert services.version_deployable(system=version.system, model_version=version)["deployable"]
    version = model_version_update(model_version=version, by=owner, parameters={"threshold": 0.6})
    change.refresh_from_db()
    assert change.state == "submitted"
    assert change.bound_hash == version.content_hash
    approval = Approval.objects.get()
    assert approval.void_reason == "version changed after approval"
    answer = services.version_deployable(system=version.system, model_version=version)
    assert answer["deployable"] is False and answer["change_request"] == change.pk
    change = services.change_request_approve(change=change, by=make_approver("b"))
    assert services.version_deployable(system=version.system, model_version=version) == {
        "deployable": True,
        "reasons": [],
        "change_request": change.pk,
    }


def test_a_notes_edit_keeps_the_approval(version, owner, make_approver):
    change = services.change_request_approve(
        change=submitted(version, owner), by=make_approver("a")
    )
    model_version_update(model_version=version, by=owner, notes="clarified")
    change.refresh_from_db()
    assert change.state == "approved"


def test_deployable_says_why_not(version, owner):
    answer = services.version_deployable(system=version.system, model_version=version)
    assert answer == {
        "deployable": False,
        "reasons": ["No change request concerns this version; open one."],
        "change_request": None,
    }
    change = submitted(version, owner)
    answer = services.version_deployable(system=version.system, model_version=version)
    assert answer["change_request"] == change.pk
    assert "submitted" in answer["reasons"][-1]


def test_deploy_and_roll_back_are_recorded(version, owner, director, make_approver):
    change = services.change_request_approve(
        change=submitted(version, owner), by=make_approver("a")
    )
    with pytest.raises(ApplicationError):
        services.change_request_roll_back(change=change, by=director, reason="x")
    change = services.change_request_mark_deployed(change=change, by=director)
    assert change.state == "deployed"
    change = services.change_request_roll_back(change=change, by=director, reason="latency")
    assert change.state == "rolled_back"
    actions = list(
        AuditEvent.objects.filter(
            object_id=str(change.pk), object_type="governance.changerequest"
        ).values_list("action", flat=True)
    )
    assert actions == [
        "change.open",
        "change.submit",
        "change.approve",
        "change.deploy",
        "change.roll_back",
    ]


def _approve_at_once(change, approvers):
    """Each approver approves in their own thread and connection, released together."""
    barrier = threading.Barrier(len(approvers))
    outcomes = []

    def run(user):
        try:
            barrier.wait(timeout=10)
            services.change_request_approve(change=change, by=user)
            outcomes.append("ok")
        except ApplicationError as exc:
            outcomes.append(exc.status)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(user,)) for user in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes, key=str)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_on_a_high_risk_request_both_count(version, owner, make_approver):
    change = submitted(version, owner, risk_tier="high")
    outcomes = _approve_at_once(change, [make_approver("a"), make_approver("b")])
    change.refresh_from_db()
    assert outcomes == ["ok", "ok"]
    assert change.state == "approved"
    assert services.live_approvals(change).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_on_a_one_approval_request_end_consistent(
    version, owner, make_approver
):
    change = submitted(version, owner)
    outcomes = _approve_at_once(change, [make_approver("a"), make_approver("b")])
    change.refresh_from_db()
    assert outcomes == [409, "ok"]
    assert change.state == "approved"
    assert services.live_approvals(change).count() == 1


def test_from_stage_3_thresholds_change_only_through_an_approved_request(
    version, owner, director, make_approver
):
    system = version.system
    system.stage = "ownership_governance"
    system.save()
    spec = MetricSpec.objects.get(system=system)
    with pytest.raises(ApplicationError, match="change request") as error:
        metric_spec_update(spec=spec, by=director, warning=0.95)
    assert error.value.status == 409
    change = services.change_request_submit(
        change=open_change(
            version,
            owner,
            kind="parameter_change",
            model_version=None,
            parameters={"metric_spec": spec.key, "warning": 0.95},
        ),
        by=owner,
    )
    change = services.change_request_approve(change=change, by=make_approver("a"))
    services.change_request_mark_deployed(change=change, by=director)
    spec.refresh_from_db()
    assert spec.warning == 0.95
    event = AuditEvent.objects.filter(action="metric_spec.update").get()
    assert event.reason == f"change request {change.pk}"


def test_the_escalation_routing_changes_through_an_approved_request(
    version, owner, director, make_approver
):
    ada = make_approver("ada2")
    change = services.change_request_submit(
        change=open_change(
            version,
            owner,
            kind="parameter_change",
            model_version=None,
            parameters={"routing": {"ack_timeout_minutes": 30, "level3_user": "ada2"}},
        ),
        by=owner,
    )
    change = services.change_request_approve(change=change, by=make_approver("b"))
    services.change_request_mark_deployed(change=change, by=director)
    policy = routing_for(version.system)
    assert (policy.ack_timeout_minutes, policy.level3_user) == (30, ada)
    assert AuditEvent.objects.filter(action="routing.update").exists()


def test_a_bad_routing_change_cannot_go_live(version, owner, director, make_approver):
    change = services.change_request_submit(
        change=open_change(
            version,
            owner,
            kind="parameter_change",
            model_version=None,
            parameters={"routing": {"ack_timeout_minutes": 0}},
        ),
        by=owner,
    )
    change = services.change_request_approve(change=change, by=make_approver("b"))
    with pytest.raises(ApplicationError, match="whole number"):
        services.change_request_mark_deployed(change=change, by=director)
    change.refresh_from_db()
    assert change.state == "approved"
