"""Staged rollouts: the state machine, checkpoints, approvals, pauses and rollbacks.

Dana directs operations and Dirk is a second director; Omar owns the loan
classifier, Ada and Abe approve changes, Bo leads the business unit, Vic only
views and Charlie has no role. The system is in Stage 4 with every readiness
indicator met but the rollback drill, and Dana has waived that one. Version
1.0.0 is deployed; 2.0.0 is the approved candidate. The clock is frozen;
tests move it instead of waiting. Every refusal also proves nothing was written.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group

from core.errors import ApplicationError
from core.roles import Role
from governance.models import AuditEvent, ChangeRequest, Escalation
from governance.services import (
    accountability_sign,
    ai_ops_member_add,
    briefing_attest,
    business_unit_lead_add,
    change_request_approve,
    change_request_open,
    change_request_submit,
    ownership_assign,
)
from governance.services.escalations import escalation_acknowledge
from registry.models import AISystem, ModelVersion
from registry.services import (
    api_token_create,
    data_source_evaluate,
    delivery_record,
    integration_run_record,
    model_version_update,
)
from registry.validation import ValidPoint
from registry.writer import store_points
from rollout import receivers
from rollout.models import CheckpointMetric, CohortApproval, CohortStep, Pause, Rollout, Waiver
from rollout.selectors import system_facts
from rollout.services import (
    alert_test_send,
    cohort_approve,
    intervention_record,
    rollback_plan_save,
    rollout_evaluate,
    rollout_pause,
    rollout_plan,
    rollout_resume,
    rollout_roll_back,
    rollout_start,
    waiver_grant,
)
from tests.registry.factories import (
    AISystemFactory,
    DataSourceFactory,
    MetricSpecFactory,
    ModelVersionFactory,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOUR = 3600
NON_DIRECTORS = ["owner", "approver", "viewer", "outsider"]


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def person(django_user_model, username: str, full_name: str, role: Role):
    first, _, last = full_name.partition(" ")
    user = django_user_model.objects.create_user(
        username=username, password="pw", first_name=first, last_name=last
    )
    user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def stage_4_system(slug, tier, director, owner, lead):
    """A Stage 4 system whose only unmet indicator (the drill) is waived; 1.0.0 deployed."""
    system = AISystemFactory(
        slug=slug, name="Loan classifier", risk_tier=tier, stage="staged_rollout"
    )
    deployed = ModelVersionFactory(system=system, version="1.0.0", status="deployed")
    AISystem.objects.filter(pk=system.pk).update(deployed_version=deployed)
    system.refresh_from_db()
    quality = MetricSpecFactory(system=system, key="output_quality", name="Output quality")
    # Indicators 1 and 3: one source expected monthly, delivered, integration-tested.
    source = DataSourceFactory(systems=[system], owner=owner, expected_interval_seconds=30 * 86400)
    delivery_record(source=source, body={"at": iso(NOW - timedelta(days=29))}, by=None)
    integration_run_record(source=source, body={"passed": 500, "failed": 0}, by=None)
    data_source_evaluate(source_id=source.pk)
    # Indicator 2 and the data part of 5: 15 good days and a point an hour ago (no version).
    store_points(
        system_id=system.pk,
        version_id=None,
        points=[ValidPoint(quality.pk, NOW - timedelta(days=d, hours=1), 0.95) for d in range(16)],
        received_at=NOW,
    )
    # Indicators 4, 5 (the alert) and 7; 6 has its plan but no drill.
    ownership_assign(system=system, by=director, owner=owner, budget_authority="EUR 250k")
    accountability_sign(system=system, by=owner)
    ai_ops_member_add(system=system, by=director, user=owner)
    escalation_acknowledge(escalation=alert_test_send(system=system, by=owner), by=owner)
    rollback_plan_save(system=system, by=owner, text="Set the router share to 0%.")
    bu_lead = business_unit_lead_add(system=system, by=director, user=lead, business_unit="Retail")
    briefing_attest(lead=bu_lead, by=lead)
    waiver_grant(system=system, by=director, unmet=["rollback"], justification="Drill on Monday")
    return system


def approved_version(system, owner, approvers, version="2.0.0"):
    """A registered version with a change request approved by enough approvers."""
    candidate = ModelVersionFactory(system=system, version=version)
    change = change_request_open(
        system=system,
        by=owner,
        kind="model_update",
        title=f"Release {version}",
        description="Retrained on the 2026 applications",
        rationale="Better recall on thin-file applicants",
        model_version=candidate,
    )
    change_request_submit(change=change, by=owner)
    for approver in approvers:
        change_request_approve(change=change, by=approver, comment="ok")
    return candidate


@pytest.fixture
def system(director, owner, lead):
    return stage_4_system("loan-classifier", "medium", director, owner, lead)


@pytest.fixture
def candidate(system, owner, approver):
    return approved_version(system, owner, [approver])


@pytest.fixture
def high_system(director, owner, lead):
    return stage_4_system("credit-limits", "high", director, owner, lead)


@pytest.fixture
def high_candidate(high_system, owner, approver, abe):
    return approved_version(high_system, owner, [approver, abe])


def drill_version(system) -> ModelVersion:
    return ModelVersionFactory(system=system, version="0.9.0-rehearsal")


def plan(system, candidate, by, **overrides) -> Rollout:
    fields = {"cohorts": [10, 25, 50, 100], "observation_seconds": HOUR, "min_points": 5}
    return rollout_plan(system=system, candidate=candidate, by=by, **(fields | overrides))


@pytest.fixture
def planned(system, candidate, director):
    return plan(system, candidate, director)


@pytest.fixture
def running(planned, director):
    return rollout_start(rollout=planned, by=director)


def current(rollout) -> CohortStep:
    rollout.refresh_from_db()
    return rollout.steps.get(index=rollout.current_index)


def spec_of(rollout, key="output_quality"):
    return rollout.system.metric_specs.get(key=key)


def feed(rollout, value, *, count=5, since=None, key="output_quality", version=None):
    """`count` points of the candidate (or `version`), one a minute from `since`."""
    since = since or current(rollout).started_at
    spec = spec_of(rollout, key)
    store_points(
        system_id=rollout.system_id,
        version_id=(version or rollout.candidate).pk,
        points=[ValidPoint(spec.pk, since + timedelta(minutes=m + 1), value) for m in range(count)],
        received_at=datetime.now(UTC),
    )


def awaiting(rollout, clock) -> CohortStep:
    """Good points for the current cohort, its observation lapses, the checkpoint passes."""
    feed(rollout, 0.95)
    clock.shift(rollout.observation_seconds)
    assert rollout_evaluate(rollout_id=rollout.pk) == "pass"
    step = current(rollout)
    assert step.state == "awaiting_approval"
    return step


def paused_by_breach(rollout) -> CohortStep:
    feed(rollout, 0.5)
    assert rollout_evaluate(rollout_id=rollout.pk) == "fail"
    return current(rollout)


def completed(rollout, clock, directors):
    for _ in rollout.cohorts:
        step = awaiting(rollout, clock)
        for director in directors:
            cohort_approve(step=step, by=director)
    rollout.refresh_from_db()
    return rollout


def audited(action: str, rollout=None) -> list:
    events = AuditEvent.objects.filter(action=action)
    if rollout is not None:
        events = events.filter(object_type="rollout.rollout", object_id=str(rollout.pk))
    return list(events.order_by("id").values_list("actor_label", "before", "after", "reason"))


def refused(call, *, status, code=None, field=None) -> ApplicationError:
    with pytest.raises(ApplicationError) as error:
        call()
    assert error.value.status == status, error.value.message
    if code is not None:
        assert error.value.code == code
    if field is not None:
        assert error.value.field == field
    return error.value


def state_of(rollout) -> tuple[str, list[str]]:
    rollout.refresh_from_db()
    return rollout.state, list(rollout.steps.order_by("index").values_list("state", flat=True))


# --- Plan ----------------------------------------------------------------------------------


def test_a_director_plans_a_rollout_with_the_defaults(system, candidate, director):
    MetricSpecFactory(
        system=system,
        key="error_rate",
        name="Error rate",
        kind="error_rate",
        direction="lower_is_better",
        warning=0.02,
        critical=0.05,
    )
    MetricSpecFactory(
        system=system,
        key="integration_errors",
        name="Integration errors",
        kind="integration",
        direction="lower_is_better",
        warning=0.01,
        critical=0.03,
    )
    MetricSpecFactory(
        system=system,
        key="weekly_users",
        name="Weekly users",
        kind="adoption",
        warning=200,
        critical=100,
        aggregation="last",
    )
    MetricSpecFactory(
        system=system,
        key="latency_ms",
        name="Latency",
        kind="latency",
        direction="lower_is_better",
        warning=800,
        critical=1500,
        aggregation="p95",
    )
    MetricSpecFactory(system=system, key="tone", name="Tone", required=False, critical=0.5)
    rollout = rollout_plan(system=system, candidate=candidate, by=director)
    rollout.refresh_from_db()
    change = ChangeRequest.objects.get(model_version=candidate)
    assert (rollout.state, rollout.cohorts, rollout.observation_seconds, rollout.min_points) == (
        "planned",
        [10, 25, 50, 100],
        3 * 86400,
        30,
    )
    assert (rollout.candidate, rollout.previous.version, rollout.change_request) == (
        candidate,
        "1.0.0",
        change,
    )
    assert (rollout.is_rehearsal, rollout.created_by, rollout.created_at) == (False, director, NOW)
    assert list(rollout.steps.values_list("index", "percent", "state")) == [
        (0, 10, "pending"),
        (1, 25, "pending"),
        (2, 50, "pending"),
        (3, 100, "pending"),
    ]
    assert sorted(
        CheckpointMetric.objects.filter(rollout=rollout).values_list("metric__key", "threshold")
    ) == [
        ("error_rate", 0.05),
        ("integration_errors", 0.03),
        ("output_quality", 0.8),
        ("weekly_users", 100.0),
    ]
    [(actor, _before, after, _reason)] = audited("rollout.plan", rollout)
    assert actor == "dana"
    assert after["metrics"] == {
        "error_rate": 0.05,
        "integration_errors": 0.03,
        "output_quality": 0.8,
        "weekly_users": 100,
    }
    assert after["cohorts"] == [10, 25, 50, 100]


@pytest.mark.parametrize(
    ("tier", "seconds"),
    [("low", 86400), ("medium", 3 * 86400), ("high", 7 * 86400), ("critical", 14 * 86400)],
)
def test_each_risk_tier_sets_its_default_observation(director, tier, seconds):
    system = AISystemFactory(risk_tier=tier)
    MetricSpecFactory(system=system)
    rehearsal = rollout_plan(
        system=system, candidate=ModelVersionFactory(system=system), by=director, is_rehearsal=True
    )
    assert rehearsal.observation_seconds == seconds


def nothing_planned() -> bool:
    return (
        Rollout.objects.count() == 0
        and CohortStep.objects.count() == 0
        and CheckpointMetric.objects.count() == 0
        and not AuditEvent.objects.filter(action="rollout.plan").exists()
    )


@pytest.mark.parametrize(
    "cohorts",
    [
        [10, 10, 100],
        [10, 50],
        [0, 100],
        [10, "x", 100],
        [],
        [50, 25, 100],
        [10, 100.0],
        [True, 100],
        [10, 101],
        "10,100",
    ],
)
def test_bad_cohorts_are_refused_and_nothing_is_written(system, candidate, director, cohorts):
    refused(lambda: plan(system, candidate, director, cohorts=cohorts), status=400, field="cohorts")
    assert nothing_planned()


def test_a_version_without_an_approved_change_is_not_deployable(system, director, owner):
    draft = ModelVersionFactory(system=system, version="2.1.0")
    error = refused(
        lambda: plan(system, draft, director), status=409, code="not_deployable", field="candidate"
    )
    assert "No change request concerns this version" in error.message
    submitted = approved_version(system, owner, [], version="2.2.0")
    refused(lambda: plan(system, submitted, director), status=409, code="not_deployable")
    assert nothing_planned()


def test_a_rehearsal_needs_no_change_request(system, director):
    rehearsal = plan(system, drill_version(system), director, is_rehearsal=True)
    assert (rehearsal.is_rehearsal, rehearsal.change_request) == (True, None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"observation_seconds": 0}, "observation_seconds"),
        ({"observation_seconds": 1.5}, "observation_seconds"),
        ({"min_points": 0}, "min_points"),
        ({"min_points": True}, "min_points"),
    ],
)
def test_bad_observation_or_min_points_are_refused(system, candidate, director, overrides, field):
    refused(lambda: plan(system, candidate, director, **overrides), status=400, field=field)
    assert nothing_planned()


def test_a_candidate_of_another_system_is_refused(system, director):
    other = ModelVersionFactory(system=AISystemFactory(slug="fraud-screen"), version="2.0.0")
    refused(lambda: plan(system, other, director), status=400, field="candidate")
    assert nothing_planned()


def test_a_checkpoint_metric_of_another_system_is_refused(system, candidate, director):
    foreign = MetricSpecFactory(system=AISystemFactory(slug="fraud-screen"))
    refused(
        lambda: plan(system, candidate, director, metrics=[(foreign, 0.8)]),
        status=400,
        field="metrics",
    )
    assert nothing_planned()


def test_a_system_without_a_checkpoint_metric_cannot_plan(director):
    system = AISystemFactory(slug="bare")
    MetricSpecFactory(
        system=system,
        key="latency_ms",
        kind="latency",
        direction="lower_is_better",
        warning=800,
        critical=1500,
    )
    refused(
        lambda: plan(system, ModelVersionFactory(system=system), director, is_rehearsal=True),
        status=400,
        field="metrics",
    )
    assert nothing_planned()


def test_a_second_rollout_in_flight_is_refused(system, candidate, planned, director, owner, abe):
    other = approved_version(system, owner, [abe], version="2.1.0")
    refused(lambda: plan(system, other, director), status=409, code="rollout_active")
    assert Rollout.objects.count() == 1
    assert len(audited("rollout.plan")) == 1


@pytest.mark.parametrize("persona", NON_DIRECTORS)
def test_only_a_director_plans_a_rollout(request, persona, system, candidate):
    refused(lambda: plan(system, candidate, request.getfixturevalue(persona)), status=403)
    assert nothing_planned()


# --- Start ---------------------------------------------------------------------------------


def test_starting_opens_the_first_cohort_under_the_waiver(planned, director):
    rollout = rollout_start(rollout=planned, by=director)
    waiver = Waiver.objects.get()
    assert (rollout.state, rollout.started_at, rollout.waiver, rollout.current_index) == (
        "running",
        NOW,
        waiver,
        0,
    )
    assert state_of(rollout) == ("running", ["observing", "pending", "pending", "pending"])
    assert current(rollout).started_at == NOW
    assert audited("rollout.start", rollout) == [
        (
            "dana",
            {"state": "planned"},
            {"state": "running", "verdict": "conditional", "waiver": waiver.pk},
            "",
        ),
    ]


def test_a_rollout_cannot_start_twice(running, director, clock):
    clock.shift(60)
    refused(lambda: rollout_start(rollout=running, by=director), status=409, code="wrong_state")
    running.refresh_from_db()
    assert running.started_at == NOW
    assert len(audited("rollout.start", running)) == 1


def test_a_rollout_cannot_start_before_stage_4(planned, director):
    AISystem.objects.filter(pk=planned.system_id).update(stage="ownership_governance")
    refused(lambda: rollout_start(rollout=planned, by=director), status=409, code="stage")
    assert state_of(planned) == ("planned", ["pending"] * 4)
    assert audited("rollout.start", planned) == []


def test_a_defer_verdict_cannot_start(director, owner, approver):
    system = AISystemFactory(slug="unready", stage="staged_rollout")
    MetricSpecFactory(system=system)
    rollout = plan(system, approved_version(system, owner, [approver]), director)
    refused(lambda: rollout_start(rollout=rollout, by=director), status=409, code="defer")
    assert state_of(rollout) == ("planned", ["pending"] * 4)


def test_a_conditional_verdict_needs_a_waiver_naming_todays_unmet_indicators(
    planned, director, owner
):
    # An intervention restarts the quality count: the waiver (rollback only) no longer covers.
    intervention_record(system=planned.system, by=owner, kind="data_correction", note="Fix")
    refused(lambda: rollout_start(rollout=planned, by=director), status=409, code="waiver_required")
    assert state_of(planned) == ("planned", ["pending"] * 4)
    assert audited("rollout.start", planned) == []


@pytest.mark.parametrize("persona", NON_DIRECTORS)
def test_only_a_director_starts_a_rollout(request, persona, planned):
    refused(lambda: rollout_start(rollout=planned, by=request.getfixturevalue(persona)), status=403)
    assert state_of(planned) == ("planned", ["pending"] * 4)


# --- Checkpoints -----------------------------------------------------------------------------


def test_too_few_points_are_insufficient_data_never_a_pass(system, candidate, director, clock):
    rollout = rollout_start(rollout=plan(system, candidate, director, min_points=30), by=director)
    feed(rollout, 0.99, count=29)
    clock.shift(2 * HOUR)
    assert rollout_evaluate(rollout_id=rollout.pk) == "insufficient_data"
    step = current(rollout)
    assert (step.state, step.verdict, step.passing_since) == (
        "observing",
        "insufficient_data",
        None,
    )
    assert step.verdict_detail[0]["detail"] == "output_quality: 29 of 30 points needed"
    feed(rollout, 0.99, count=1, since=NOW + timedelta(minutes=40))
    assert rollout_evaluate(rollout_id=rollout.pk) == "pass"
    assert current(rollout).state == "awaiting_approval"


def test_a_pass_waits_for_the_observation_to_lapse(running, clock):
    feed(running, 0.95)
    clock.shift(HOUR - 1)
    assert rollout_evaluate(rollout_id=running.pk) == "pass"
    step = current(running)
    assert (step.state, step.passing_since, step.awaiting_since) == (
        "observing",
        NOW + timedelta(seconds=HOUR - 1),
        None,
    )
    clock.shift(1)
    assert rollout_evaluate(rollout_id=running.pk) == "pass"
    step = current(running)
    assert (step.state, step.passing_since, step.awaiting_since) == (
        "awaiting_approval",
        NOW + timedelta(seconds=HOUR - 1),
        NOW + timedelta(seconds=HOUR),
    )
    [(actor, _b, after, _r)] = audited("rollout.checkpoint_pass", running)
    assert (actor, after["cohort"], after["metrics"][0]["value"]) == ("portal", 10, 0.95)


def test_points_of_another_version_do_not_count_for_the_candidate(running, clock):
    feed(running, 0.95, version=running.system.deployed_version)
    clock.shift(HOUR)
    assert rollout_evaluate(rollout_id=running.pk) == "insufficient_data"
    assert current(running).state == "observing"


def test_a_breach_pauses_at_once_and_escalates_to_the_owner(running, owner):
    step = paused_by_breach(running)
    assert state_of(running) == ("paused", ["failed", "pending", "pending", "pending"])
    assert (step.verdict, step.evaluated_at) == ("fail", NOW)
    pause = Pause.objects.get(rollout=running)
    expected = "output_quality: mean 0.5 over 5 points, must be >= 0.8"
    assert (pause.step, pause.automatic, pause.paused_by, pause.reason) == (
        step,
        True,
        None,
        expected,
    )
    escalation = Escalation.objects.get(source="rollout_checkpoint")
    assert pause.escalation == escalation
    assert (escalation.severity, escalation.assignee, escalation.system_id) == (
        "critical",
        owner,
        running.system_id,
    )
    assert escalation.title == "Rollout of 2.0.0 paused at 10%: checkpoint failed"
    [(actor, before, after, reason)] = audited("rollout.pause", running)
    assert (actor, before, after["state"], reason) == (
        "portal",
        {"state": "running"},
        "paused",
        f"checkpoint failed: {expected}",
    )


def test_a_breach_while_awaiting_approval_pauses(running, clock):
    awaiting(running, clock)
    feed(running, 0.1, count=20, since=NOW + timedelta(minutes=10))
    assert rollout_evaluate(rollout_id=running.pk) == "fail"
    assert state_of(running) == ("paused", ["failed", "pending", "pending", "pending"])
    assert Pause.objects.filter(rollout=running, automatic=True).count() == 1


def test_evaluating_a_paused_rollout_does_nothing(running, director, clock):
    rollout_pause(rollout=running, by=director, reason="Investigating complaints")
    feed(running, 0.1)
    clock.shift(HOUR)
    assert rollout_evaluate(rollout_id=running.pk) == ""
    step = current(running)
    assert (step.state, step.verdict, step.evaluated_at) == ("observing", "", None)
    assert Pause.objects.filter(rollout=running).count() == 1
    assert not Escalation.objects.filter(source="rollout_checkpoint").exists()


def test_evaluating_a_planned_or_missing_rollout_does_nothing(planned):
    assert rollout_evaluate(rollout_id=planned.pk) == ""
    assert rollout_evaluate(rollout_id=planned.pk + 1000) == ""
    assert state_of(planned) == ("planned", ["pending"] * 4)


# --- Approval --------------------------------------------------------------------------------


def test_a_cohort_still_observing_cannot_be_approved(running, director):
    refused(
        lambda: cohort_approve(step=current(running), by=director), status=409, code="wrong_state"
    )
    assert not CohortApproval.objects.exists()
    assert state_of(running) == ("running", ["observing", "pending", "pending", "pending"])


def test_a_cohort_of_a_paused_rollout_cannot_be_approved(running, director, clock):
    step = awaiting(running, clock)
    rollout_pause(rollout=running, by=director, reason="Complaints from branch staff")
    refused(lambda: cohort_approve(step=step, by=director), status=409, code="wrong_state")
    assert not CohortApproval.objects.exists()
    assert state_of(running) == ("paused", ["awaiting_approval", "pending", "pending", "pending"])


def test_a_failed_cohort_cannot_be_approved(running, director):
    step = paused_by_breach(running)
    refused(lambda: cohort_approve(step=step, by=director), status=409, code="wrong_state")
    assert not CohortApproval.objects.exists()


def test_an_approved_cohort_cannot_be_approved_again(running, director, dirk, clock):
    step = awaiting(running, clock)
    cohort_approve(step=step, by=director)
    refused(lambda: cohort_approve(step=step, by=dirk), status=409, code="wrong_state")
    assert CohortApproval.objects.count() == 1
    assert current(running).index == 1


def test_a_checkpoint_that_no_longer_passes_cannot_be_approved(running, director, clock):
    step = awaiting(running, clock)
    feed(running, 0.0, count=10, since=NOW + timedelta(minutes=10))  # not evaluated yet
    refused(lambda: cohort_approve(step=step, by=director), status=409)
    assert not CohortApproval.objects.exists()
    assert state_of(running) == ("running", ["awaiting_approval", "pending", "pending", "pending"])


def test_one_director_approves_a_medium_tier_cohort_on_its_snapshot(running, director, clock):
    step = awaiting(running, clock)
    clock.shift(60)
    cohort_approve(step=step, by=director)
    approved_at = NOW + timedelta(seconds=HOUR + 60)
    step.refresh_from_db()
    assert (step.state, step.approved_at) == ("approved", approved_at)
    assert state_of(running) == ("running", ["approved", "observing", "pending", "pending"])
    following = current(running)
    assert (following.index, following.percent, following.started_at) == (1, 25, approved_at)
    approval = CohortApproval.objects.get()
    assert (approval.step, approval.approver, approval.at) == (step, director, approved_at)
    assert approval.snapshot == {
        "metrics": [
            {
                "metric": "output_quality",
                "status": "pass",
                "value": 0.95,
                "threshold": 0.8,
                "points": 5,
                "detail": "output_quality: mean 0.95 over 5 points, must be >= 0.8",
            }
        ],
        "observation_seconds": HOUR,
        "min_points": 5,
    }
    [(actor, _b, after, _r)] = audited("rollout.approve", running)
    assert (actor, after) == (
        "dana",
        {"cohort": 10, "approvals": 1, "needed": 1, "next_cohort": 25},
    )


def test_a_high_tier_cohort_needs_two_different_directors(
    high_system, high_candidate, director, dirk, clock
):
    rollout = rollout_start(rollout=plan(high_system, high_candidate, director), by=director)
    step = awaiting(rollout, clock)
    cohort_approve(step=step, by=director)
    assert state_of(rollout) == ("running", ["awaiting_approval", "pending", "pending", "pending"])
    error = refused(lambda: cohort_approve(step=step, by=director), status=409)
    assert error.message == "You have approved this cohort already."
    assert CohortApproval.objects.filter(step=step).count() == 1
    cohort_approve(step=step, by=dirk)
    assert state_of(rollout) == ("running", ["approved", "observing", "pending", "pending"])
    assert sorted(step.approvals.values_list("approver__username", flat=True)) == ["dana", "dirk"]
    assert [a[2] for a in audited("rollout.approve", rollout)] == [
        {"cohort": 10, "approvals": 1, "needed": 2},
        {"cohort": 10, "approvals": 2, "needed": 2, "next_cohort": 25},
    ]


def test_the_last_approval_completes_the_rollout_and_deploys_the_candidate(
    system, candidate, director, clock
):
    rollout = rollout_start(
        rollout=plan(system, candidate, director, cohorts=[50, 100]), by=director
    )
    rollout = completed(rollout, clock, [director])
    assert (rollout.state, rollout.current_index) == ("completed", 1)
    assert rollout.ended_at == NOW + timedelta(seconds=2 * HOUR)
    assert state_of(rollout) == ("completed", ["approved", "approved"])
    system.refresh_from_db()
    assert system.deployed_version == candidate
    assert dict(ModelVersion.objects.filter(system=system).values_list("version", "status")) == {
        "1.0.0": "retired",
        "2.0.0": "deployed",
    }
    assert ChangeRequest.objects.get(model_version=candidate).state == "deployed"
    assert audited("rollout.approve", rollout)[-1][2] == {
        "cohort": 100,
        "approvals": 1,
        "needed": 1,
        "state": "completed",
    }
    assert system_facts(system).completed_rollout is True


def test_a_completed_rehearsal_deploys_nothing(system, director, clock):
    rehearsal = plan(
        system,
        ModelVersionFactory(system=system, version="0.9.0"),
        director,
        cohorts=[100],
        is_rehearsal=True,
    )
    rollout_start(rollout=rehearsal, by=director)
    assert completed(rehearsal, clock, [director]).state == "completed"
    system.refresh_from_db()
    assert system.deployed_version.version == "1.0.0"
    assert system_facts(system).completed_rollout is False


def test_a_candidate_changed_after_its_approval_is_not_deployed_at_100_percent(
    system, candidate, director, owner, clock
):
    rollout = rollout_start(rollout=plan(system, candidate, director, cohorts=[100]), by=director)
    # The artifact is swapped mid-rollout: the approval is void, the request back to submitted.
    model_version_update(
        model_version=candidate, by=owner, artifact_uri="s3://models/loan/2.0.0-hotfix"
    )
    assert ChangeRequest.objects.get(model_version=candidate).state == "submitted"
    step = awaiting(rollout, clock)
    refused(lambda: cohort_approve(step=step, by=director), status=409)
    system.refresh_from_db()
    assert system.deployed_version.version == "1.0.0"
    assert state_of(rollout)[0] == "running"


def test_the_previous_version_is_the_one_deployed_when_the_rollout_is_planned(
    system, candidate, director, owner, abe, clock
):
    stale = AISystem.objects.get(pk=system.pk)  # loaded while 1.0.0 is deployed
    first = rollout_start(rollout=plan(system, candidate, director, cohorts=[100]), by=director)
    completed(first, clock, [director])
    second = plan(stale, approved_version(system, owner, [abe], version="3.0.0"), director)
    assert second.previous == candidate


@pytest.mark.parametrize("persona", NON_DIRECTORS)
def test_only_a_director_approves_a_cohort(request, persona, running, clock):
    step = awaiting(running, clock)
    refused(lambda: cohort_approve(step=step, by=request.getfixturevalue(persona)), status=403)
    assert not CohortApproval.objects.exists()
    assert state_of(running) == ("running", ["awaiting_approval", "pending", "pending", "pending"])


# --- Pause -----------------------------------------------------------------------------------


def test_a_director_pauses_a_running_rollout(running, director, clock):
    clock.shift(60)
    rollout_pause(rollout=running, by=director, reason="  Complaints from branch staff  ")
    assert state_of(running) == ("paused", ["observing", "pending", "pending", "pending"])
    pause = Pause.objects.get()
    assert (pause.step, pause.at, pause.reason, pause.automatic, pause.paused_by) == (
        current(running),
        NOW + timedelta(seconds=60),
        "Complaints from branch staff",
        False,
        director,
    )
    assert [(a, b, c) for a, b, c, _r in audited("rollout.pause", running)] == [
        ("dana", {"state": "running"}, {"state": "paused"})
    ]


def test_a_planned_rollout_cannot_be_paused(planned, director):
    refused(
        lambda: rollout_pause(rollout=planned, by=director, reason="x"),
        status=409,
        code="wrong_state",
    )
    assert state_of(planned) == ("planned", ["pending"] * 4)
    assert not Pause.objects.exists()


def test_a_paused_rollout_cannot_be_paused_again(running, director):
    rollout_pause(rollout=running, by=director, reason="Complaints")
    refused(
        lambda: rollout_pause(rollout=running, by=director, reason="Again"),
        status=409,
        code="wrong_state",
    )
    assert Pause.objects.count() == 1


def test_a_completed_rollout_cannot_be_paused(system, candidate, director, clock):
    rollout = rollout_start(rollout=plan(system, candidate, director, cohorts=[100]), by=director)
    completed(rollout, clock, [director])
    refused(
        lambda: rollout_pause(rollout=rollout, by=director, reason="x"),
        status=409,
        code="wrong_state",
    )
    assert state_of(rollout) == ("completed", ["approved"])
    assert not Pause.objects.exists()


@pytest.mark.parametrize("reason", ["", "  ", None])
def test_a_pause_needs_a_reason(running, director, reason):
    refused(
        lambda: rollout_pause(rollout=running, by=director, reason=reason),
        status=400,
        field="reason",
    )
    assert state_of(running)[0] == "running"
    assert not Pause.objects.exists()


@pytest.mark.parametrize("persona", NON_DIRECTORS)
def test_only_a_director_pauses_a_rollout(request, persona, running):
    by = request.getfixturevalue(persona)
    refused(lambda: rollout_pause(rollout=running, by=by, reason="Complaints"), status=403)
    assert state_of(running)[0] == "running"
    assert not Pause.objects.exists()


# --- Resume ----------------------------------------------------------------------------------


def test_a_running_rollout_cannot_be_resumed(running, director):
    refused(
        lambda: rollout_resume(rollout=running, by=director, root_cause="other", note="Nothing"),
        status=409,
        code="wrong_state",
    )
    assert audited("rollout.resume", running) == []


def test_a_planned_rollout_cannot_be_resumed(planned, director):
    refused(
        lambda: rollout_resume(rollout=planned, by=director, root_cause="other", note="Nothing"),
        status=409,
        code="wrong_state",
    )
    assert state_of(planned) == ("planned", ["pending"] * 4)


@pytest.mark.parametrize(
    ("root_cause", "note", "field"),
    [
        ("", "Fixed the CRM mapping", "root_cause"),
        ("gremlins", "Fixed", "root_cause"),
        ("integration", "", "note"),
        ("integration", "   ", "note"),
    ],
)
def test_resuming_needs_a_root_cause_and_a_note(running, director, root_cause, note, field):
    paused_by_breach(running)
    refused(
        lambda: rollout_resume(rollout=running, by=director, root_cause=root_cause, note=note),
        status=400,
        field=field,
    )
    assert state_of(running) == ("paused", ["failed", "pending", "pending", "pending"])
    pause = Pause.objects.get()
    assert (pause.resumed_at, pause.root_cause) == (None, "")


def test_resuming_after_a_breach_observes_the_cohort_anew(running, director, clock):
    paused_by_breach(running)
    clock.shift(600)
    rollout_resume(
        rollout=running, by=director, root_cause="integration", note="  Fixed the CRM mapping  "
    )
    resumed_at = NOW + timedelta(seconds=600)
    step = current(running)
    assert (step.state, step.started_at, step.verdict, step.verdict_detail) == (
        "observing",
        resumed_at,
        "",
        [],
    )
    assert state_of(running)[0] == "running"
    pause = Pause.objects.get()
    assert (pause.resumed_at, pause.resumed_by, pause.root_cause, pause.root_cause_note) == (
        resumed_at,
        director,
        "integration",
        "Fixed the CRM mapping",
    )
    assert audited("rollout.resume", running)[0][2] == {
        "state": "running",
        "root_cause": "integration",
    }
    # The bad points before the resume no longer count; fresh good ones pass.
    assert rollout_evaluate(rollout_id=running.pk) == "insufficient_data"
    assert awaiting(running, clock).index == 0


def test_resuming_a_manual_pause_keeps_the_cohort_awaiting_approval(running, director, clock):
    step = awaiting(running, clock)
    rollout_pause(rollout=running, by=director, reason="Board meeting first")
    rollout_resume(rollout=running, by=director, root_cause="other", note="Board agreed")
    step.refresh_from_db()
    assert (step.state, step.started_at) == ("awaiting_approval", NOW)
    cohort_approve(step=step, by=director)
    assert state_of(running) == ("running", ["approved", "observing", "pending", "pending"])


@pytest.mark.parametrize("persona", NON_DIRECTORS)
def test_only_a_director_resumes_a_rollout(request, persona, running, director):
    rollout_pause(rollout=running, by=director, reason="Complaints")
    by = request.getfixturevalue(persona)
    refused(
        lambda: rollout_resume(rollout=running, by=by, root_cause="other", note="Done"),
        status=403,
    )
    assert state_of(running)[0] == "paused"
    assert Pause.objects.get().resumed_at is None


# --- Roll back -------------------------------------------------------------------------------


def test_rolling_back_sends_the_candidate_share_to_zero(running, director, clock):
    clock.shift(60)
    rollout_roll_back(rollout=running, by=director, reason="  Complaints from branch staff  ")
    running.refresh_from_db()
    assert (running.state, running.ended_at, running.rollback_is_drill) == (
        "rolled_back",
        NOW + timedelta(seconds=60),
        False,
    )
    assert (running.rollback_outcome, running.rollback_note) == (
        "succeeded",
        "Complaints from branch staff",
    )
    assert audited("rollout.roll_back", running)[0][1:3] == (
        {"state": "running"},
        {"state": "rolled_back", "drill": False, "outcome": "succeeded"},
    )
    running.system.refresh_from_db()
    assert running.system.deployed_version.version == "1.0.0"


def test_a_paused_rollout_can_be_rolled_back(running, director):
    paused_by_breach(running)
    rollout_roll_back(rollout=running, by=director, reason="The breach is structural")
    assert state_of(running)[0] == "rolled_back"


def test_a_planned_rollout_cannot_be_rolled_back(planned, director):
    refused(
        lambda: rollout_roll_back(rollout=planned, by=director, reason="x"),
        status=409,
        code="wrong_state",
    )
    assert state_of(planned)[0] == "planned"
    assert audited("rollout.roll_back") == []


def test_a_completed_rollout_cannot_be_rolled_back(system, candidate, director, clock):
    rollout = rollout_start(rollout=plan(system, candidate, director, cohorts=[100]), by=director)
    completed(rollout, clock, [director])
    refused(
        lambda: rollout_roll_back(rollout=rollout, by=director, reason="x"),
        status=409,
        code="wrong_state",
    )
    rollout.refresh_from_db()
    assert (rollout.state, rollout.rollback_outcome) == ("completed", "")


def test_a_rolled_back_rollout_cannot_be_rolled_back_again(running, director, clock):
    rollout_roll_back(rollout=running, by=director, reason="Complaints")
    clock.shift(60)
    refused(
        lambda: rollout_roll_back(rollout=running, by=director, reason="Again"),
        status=409,
        code="wrong_state",
    )
    running.refresh_from_db()
    assert (running.ended_at, running.rollback_note) == (NOW, "Complaints")


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_roll_back_needs_a_reason(running, director, reason):
    refused(
        lambda: rollout_roll_back(rollout=running, by=director, reason=reason),
        status=400,
        field="reason",
    )
    assert state_of(running)[0] == "running"


@pytest.mark.parametrize("persona", NON_DIRECTORS)
def test_only_a_director_rolls_back(request, persona, running):
    by = request.getfixturevalue(persona)
    refused(lambda: rollout_roll_back(rollout=running, by=by, reason="Complaints"), status=403)
    assert state_of(running)[0] == "running"


def test_a_successful_drill_meets_indicator_6(system, director, clock):
    rehearsal = plan(system, drill_version(system), director, is_rehearsal=True)
    rollout_start(rollout=rehearsal, by=director)
    clock.shift(300)
    rollout_roll_back(rollout=rehearsal, by=director, reason="Quarterly drill", drill=True)
    facts = system_facts(system)
    assert facts.drill_succeeded_at == NOW + timedelta(seconds=300)


@pytest.mark.parametrize(("drill", "succeeded"), [(True, False), (False, True)])
def test_a_failed_drill_or_a_plain_roll_back_is_no_drill(system, director, drill, succeeded):
    rehearsal = plan(system, drill_version(system), director, is_rehearsal=True)
    rollout_start(rollout=rehearsal, by=director)
    rollout_roll_back(
        rollout=rehearsal, by=director, reason="Drill", drill=drill, succeeded=succeeded
    )
    assert system_facts(system).drill_succeeded_at is None


# --- A metrics batch triggers the checkpoint ------------------------------------------------


@pytest.fixture
def pipeline(system):
    return api_token_create(by=None, name="router", system=system)[1]


def push(client, system, secret, *, version="2.0.0", value=0.95, count=5, since=NOW):
    body = {
        "model_version": version,
        "points": [
            {"metric": "output_quality", "value": value, "at": iso(since + timedelta(minutes=m))}
            for m in range(1, count + 1)
        ],
    }
    return client.post(
        f"/api/v1/systems/{system.slug}/metrics/",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )


def test_a_batch_for_the_candidate_evaluates_its_rollout_after_the_commit(
    client, running, pipeline, clock, django_capture_on_commit_callbacks
):
    clock.shift(600)
    with django_capture_on_commit_callbacks(execute=True):
        response = push(client, running.system, pipeline, value=0.5)
    assert response.status_code == 201, response.content
    step = current(running)
    assert (step.state, step.verdict, step.evaluated_at) == (
        "failed",
        "fail",
        NOW + timedelta(seconds=600),
    )
    assert state_of(running)[0] == "paused"


def test_a_batch_is_judged_only_once_committed(client, running, pipeline, clock):
    clock.shift(600)
    assert push(client, running.system, pipeline, value=0.5).status_code == 201
    step = current(running)
    assert (step.verdict, step.evaluated_at) == ("", None)


def test_only_a_batch_for_a_running_candidate_enqueues_an_evaluation(
    client, running, director, pipeline, clock, monkeypatch, django_capture_on_commit_callbacks
):
    enqueued = []
    monkeypatch.setattr(
        receivers.evaluate_rollout, "apply_async", lambda args, kwargs, **_: enqueued.extend(args)
    )
    clock.shift(600)
    with django_capture_on_commit_callbacks(execute=True):
        push(client, running.system, pipeline, version="1.0.0")
    assert enqueued == []
    with django_capture_on_commit_callbacks(execute=True):
        push(client, running.system, pipeline)
    assert enqueued == [running.pk]
    rollout_pause(rollout=running, by=director, reason="Complaints")
    with django_capture_on_commit_callbacks(execute=True):
        push(client, running.system, pipeline, since=NOW + timedelta(minutes=5))
    assert enqueued == [running.pk]
