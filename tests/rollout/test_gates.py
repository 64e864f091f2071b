"""Stage gates and readiness on database data, on a frozen clock.

Dana directs operations (Dirk is a second director), Omar owns the system,
Ada approves changes, Bo leads the retail business unit, Vic only views and
Charlie has no role. Every refusal also proves that nothing was written.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import ApplicationError
from core.roles import Role
from governance.models import AuditEvent, Escalation
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
from governance.services.escalations import (
    escalation_acknowledge,
    escalation_raise,
    escalation_resolve,
    routing_for,
)
from registry.models import AISystem
from registry.services import data_source_evaluate, delivery_record, integration_run_record
from registry.validation import ValidPoint
from registry.writer import store_points
from rollout import indicators as ind
from rollout.criteria import exit_criteria, readiness
from rollout.models import GateSnapshot, ManualIntervention, RollbackPlan, Waiver
from rollout.selectors import system_facts, system_gates, systems_facts
from rollout.services import (
    alert_test_send,
    cohort_approve,
    gates_evaluate,
    intervention_record,
    rollback_plan_save,
    rollout_evaluate,
    rollout_plan,
    rollout_roll_back,
    rollout_start,
    stage_advance,
    stage_step_back,
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
TODAY = NOW.date()
STAGE_1 = "operational_architecture"
STAGE_2 = "evaluation_infrastructure"
STAGE_3 = "ownership_governance"
STAGE_4 = "staged_rollout"
PRODUCTION = "production"
ALL_INDICATORS = [
    "pipeline_uptime",
    "output_quality",
    "integration_testing",
    "ownership",
    "monitoring",
    "rollback",
    "briefings",
]
NON_DIRECTORS = ["owner", "approver", "viewer", "outsider"]
NON_STEWARDS = ["approver", "viewer", "outsider"]


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def lead(django_user_model):
    bo = django_user_model.objects.create_user(
        username="bo", password="pw", first_name="Bo", last_name="Lead"
    )
    bo.groups.add(Group.objects.get_or_create(name=Role.BUSINESS_UNIT_LEAD.value)[0])
    return bo


@pytest.fixture
def system():
    return AISystemFactory(slug="loan-classifier", name="Loan classifier", risk_tier="medium")


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def stage_events(system) -> list[tuple[dict, dict, str]]:
    return list(
        AuditEvent.objects.filter(action="system.stage", system_id=system.pk)
        .order_by("id")
        .values_list("before", "after", "actor_label")
    )


def criteria_of(system) -> dict[str, bool]:
    return {c.key: c.met for c in exit_criteria(system_facts(system, now=NOW), now=NOW)}


def indicators_of(system) -> dict[str, ind.Indicator]:
    return {i.key: i for i in readiness(system_facts(system, now=NOW), now=NOW)}


def at_stage(system, stage: str) -> AISystem:
    AISystem.objects.filter(pk=system.pk).update(stage=stage)
    system.refresh_from_db()
    return system


# --- Builders: each makes one part of the facts real, through the services ------------------


def delivering_source(system, owner, *, name="Core-banking CRM", failed=5, evaluate=True):
    """A daily source with a delivery in each of the last 30 days and 1,000 integration checks.

    Indicator 1: 30 of 30 daily intervals; indicator 3: `failed` of 1,000 + `failed`.
    """
    source = DataSourceFactory(
        systems=[system], owner=owner, name=name, expected_interval_seconds=86400
    )
    start = NOW - timedelta(days=30)
    for day in range(30):
        delivery_record(
            source=source, body={"at": iso(start + timedelta(days=day, hours=1))}, by=None
        )
    integration_run_record(
        source=source,
        body={"passed": 1000, "failed": failed, "at": iso(NOW - timedelta(hours=2))},
        by=None,
    )
    if evaluate:
        data_source_evaluate(source_id=source.pk)
    return source


def quality_metric(system, **fields):
    return MetricSpecFactory(system=system, **fields)


def daily_quality(spec, *, days: int, value: float = 0.95, fresh: bool = True):
    """One point a day at noon on each of the last `days` days, and one an hour ago."""
    points = [ValidPoint(spec.pk, NOW - timedelta(days=back), value) for back in range(1, days + 1)]
    if fresh:
        points.append(ValidPoint(spec.pk, NOW - timedelta(hours=1), value))
    store_points(
        system_id=spec.system_id,
        version_id=None,
        points=points,
        received_at=NOW,
        sketch_metric_ids=frozenset(),
    )


def owned(system, director, owner):
    """Indicator 4: Omar owns it with a budget, has signed, and is its AI-ops member."""
    ownership_assign(system=system, by=director, owner=owner, budget_authority="EUR 250k a year")
    accountability_sign(system=system, by=owner)
    ai_ops_member_add(system=system, by=director, user=owner)


def briefed(system, director, lead):
    """Indicator 7: Bo is the named lead and attested the briefing."""
    bu_lead = business_unit_lead_add(
        system=system, by=director, user=lead, business_unit="Retail banking"
    )
    briefing_attest(lead=bu_lead, by=lead)


def alert_tested(system, owner):
    """Indicator 5's alert part: Omar sends a test alert and acknowledges it."""
    escalation = alert_test_send(system=system, by=owner)
    return escalation_acknowledge(escalation=escalation, by=owner)


def level_3(system, user):
    policy = routing_for(system)
    policy.level3_user = user
    policy.save()


def drilled(system, director):
    """Indicator 6's drill: a rehearsal rollout rolled back successfully."""
    rehearsal = rollout_plan(
        system=system,
        candidate=ModelVersionFactory(system=system, version="0.9.0-drill"),
        by=director,
        is_rehearsal=True,
        min_points=1,
        observation_seconds=60,
    )
    rollout_start(rollout=rehearsal, by=director)
    return rollout_roll_back(rollout=rehearsal, by=director, reason="drill", drill=True)


def all_but_the_drill(system, director, owner, lead):
    """Every indicator met except the rollback drill (the plan is written): conditional."""
    delivering_source(system, owner)
    daily_quality(quality_metric(system), days=20)
    owned(system, director, owner)
    alert_tested(system, owner)
    rollback_plan_save(system=system, by=owner, text="Set the router share to 0%.")
    briefed(system, director, lead)


# --- Stage advance: permissions and wrong states ---------------------------------------------


@pytest.mark.parametrize("persona", NON_DIRECTORS)
def test_only_a_director_advances_a_stage(request, persona, system):
    with pytest.raises(ApplicationError) as refused:
        stage_advance(system=system, by=request.getfixturevalue(persona))
    assert refused.value.status == 403
    system.refresh_from_db()
    assert system.stage == STAGE_1
    assert stage_events(system) == []


def test_a_system_in_production_has_no_further_stage(system, director):
    at_stage(system, PRODUCTION)
    with pytest.raises(ApplicationError) as refused:
        stage_advance(system=system, by=director)
    assert refused.value.status == 409
    system.refresh_from_db()
    assert system.stage == PRODUCTION
    assert stage_events(system) == []


# --- Stage 1: operational architecture ---------------------------------------------------------


def test_stage_1_without_a_source_is_refused_listing_every_unmet_criterion(system, director):
    with pytest.raises(ApplicationError) as refused:
        stage_advance(system=system, by=director)
    assert (refused.value.status, refused.value.code) == (409, "criteria_unmet")
    assert refused.value.extra == {
        "unmet": ["data_flow_documented", "quality_gaps_identified", "pipelines_delivering"]
    }
    system.refresh_from_db()
    assert system.stage == STAGE_1
    assert stage_events(system) == []


def test_stage_1_advances_when_every_source_is_documented_evaluated_and_delivering(
    system, director, owner
):
    delivering_source(system, owner)
    advanced = stage_advance(system=system, by=director)
    assert advanced.stage == STAGE_2
    system.refresh_from_db()
    assert system.stage == STAGE_2
    event = AuditEvent.objects.get(action="system.stage", system_id=system.pk)
    assert (event.before, event.after) == ({"stage": STAGE_1}, {"stage": STAGE_2})
    assert (event.actor_kind, event.actor_id, event.actor_label) == ("user", director.pk, "dana")
    assert event.reason == (
        "exit criteria met: data_flow_documented, quality_gaps_identified, pipelines_delivering"
    )


def test_a_source_without_an_owner_leaves_the_data_flow_undocumented(system, director, owner):
    delivering_source(system, owner)
    DataSourceFactory(systems=[system], owner=None, name="Legacy ledger")
    facts = system_facts(system, now=NOW)
    documented = exit_criteria(facts, now=NOW)[0]
    assert (documented.key, documented.met) == ("data_flow_documented", False)
    assert documented.evidence == "missing owner or schema: Legacy ledger"
    with pytest.raises(ApplicationError) as refused:
        stage_advance(system=system, by=director)
    # The legacy ledger was never evaluated nor delivered either.
    assert refused.value.extra["unmet"] == [
        "data_flow_documented",
        "quality_gaps_identified",
        "pipelines_delivering",
    ]


def test_a_source_without_a_schema_leaves_the_data_flow_undocumented(system, owner):
    source = delivering_source(system, owner)
    source.expected_schema = {}
    source.save()
    assert criteria_of(system) == {
        "data_flow_documented": False,
        "quality_gaps_identified": True,
        "pipelines_delivering": True,
    }


def test_an_unevaluated_source_has_no_quality_gaps_identified(system, director, owner):
    delivering_source(system, owner, evaluate=False)
    criteria = exit_criteria(system_facts(system, now=NOW), now=NOW)
    assert [(c.key, c.met) for c in criteria] == [
        ("data_flow_documented", True),
        ("quality_gaps_identified", False),
        ("pipelines_delivering", False),
    ]
    assert criteria[1].evidence == "not evaluated yet: Core-banking CRM"


def test_a_source_that_stopped_delivering_blocks_stage_1(system, director, owner, clock):
    source = delivering_source(system, owner)
    clock.shift(timedelta(days=3))  # the last delivery is now 3 days old: freshness fails
    data_source_evaluate(source_id=source.pk)
    later = NOW + timedelta(days=3)
    criteria = exit_criteria(system_facts(system, now=later), now=later)
    assert [(c.key, c.met) for c in criteria][2] == ("pipelines_delivering", False)
    assert criteria[2].evidence == "not delivering: Core-banking CRM"
    with pytest.raises(ApplicationError) as refused:
        stage_advance(system=system, by=director)
    assert refused.value.extra == {"unmet": ["pipelines_delivering"]}


# --- Stage 2: evaluation infrastructure -------------------------------------------------------


def test_stage_2_without_metrics_or_alert_lists_all_three_criteria(system, director):
    at_stage(system, STAGE_2)
    with pytest.raises(ApplicationError) as refused:
        stage_advance(system=system, by=director)
    assert refused.value.extra == {
        "unmet": ["thresholds_defined", "monitoring_instrumented", "alerting_tested"]
    }
    system.refresh_from_db()
    assert system.stage == STAGE_2


def test_a_silent_required_metric_leaves_monitoring_uninstrumented(system, director, owner):
    at_stage(system, STAGE_2)
    daily_quality(quality_metric(system), days=3)
    MetricSpecFactory(
        system=system,
        key="error_rate",
        name="Error rate",
        kind="error_rate",
        direction="lower_is_better",
        warning=0.02,
        critical=0.05,
    )
    ownership_assign(system=system, by=director, owner=owner, budget_authority="EUR 250k")
    alert_tested(system, owner)
    criteria = exit_criteria(system_facts(system, now=NOW), now=NOW)
    assert [(c.key, c.met) for c in criteria] == [
        ("thresholds_defined", True),
        ("monitoring_instrumented", False),
        ("alerting_tested", True),
    ]
    assert criteria[1].evidence == "silent: error_rate"


@pytest.mark.parametrize(("hours", "instrumented"), [(24, True), (25, False)])
def test_a_metric_last_heard_over_24_hours_ago_is_silent(system, hours, instrumented):
    at_stage(system, STAGE_2)
    spec = quality_metric(system)
    store_points(
        system_id=system.pk,
        version_id=None,
        points=[ValidPoint(spec.pk, NOW - timedelta(hours=hours), 0.95)],
        received_at=NOW,
    )
    assert criteria_of(system)["monitoring_instrumented"] is instrumented
    assert criteria_of(system)["thresholds_defined"] is True


def test_stage_2_advances_with_thresholds_live_monitoring_and_an_acknowledged_alert(
    system, director, owner
):
    at_stage(system, STAGE_2)
    daily_quality(quality_metric(system), days=3)
    ownership_assign(system=system, by=director, owner=owner, budget_authority="EUR 250k")
    alert_tested(system, owner)
    assert stage_advance(system=system, by=director).stage == STAGE_3
    assert stage_events(system) == [({"stage": STAGE_2}, {"stage": STAGE_3}, "dana")]


def test_an_alert_acknowledged_31_days_ago_no_longer_counts(system, director, owner, clock):
    at_stage(system, STAGE_2)
    ownership_assign(system=system, by=director, owner=owner, budget_authority="EUR 250k")
    clock.move_to(NOW - timedelta(days=31))
    alert_tested(system, owner)
    clock.move_to(NOW)
    daily_quality(quality_metric(system), days=3)
    criterion = exit_criteria(system_facts(system, now=NOW), now=NOW)[2]
    assert (criterion.key, criterion.met) == ("alerting_tested", False)
    assert criterion.evidence == "no test alert acknowledged in the last 30 days"


# --- Stage 3: ownership and governance --------------------------------------------------------


def test_stage_3_with_nothing_in_place_lists_every_criterion(system, director):
    at_stage(system, STAGE_3)
    with pytest.raises(ApplicationError) as refused:
        stage_advance(system=system, by=director)
    assert refused.value.extra == {
        "unmet": [
            "owner_signed",
            "ai_ops_function",
            "change_protocol",
            "escalation_path",
            "readiness",
        ]
    }
    assert stage_events(system) == []


def test_stage_3_advances_on_a_conditional_verdict_with_a_waiver(
    system, director, owner, approver, lead
):
    at_stage(system, STAGE_3)
    all_but_the_drill(system, director, owner, lead)
    level_3(system, approver)
    with pytest.raises(ApplicationError) as refused:
        stage_advance(system=system, by=director)
    assert refused.value.extra == {"unmet": ["readiness"]}
    waiver_grant(system=system, by=director, unmet=["rollback"], justification="Drill on day 1.")
    assert stage_advance(system=system, by=director).stage == STAGE_4


def test_stage_3_needs_an_approver_and_a_level_3_person(system, director, owner, lead):
    at_stage(system, STAGE_3)
    all_but_the_drill(system, director, owner, lead)
    waiver_grant(system=system, by=director, unmet=["rollback"], justification="Drill on day 1.")
    # Nobody holds the Approver role yet, and nobody is named at level 3.
    criteria = {c.key: c for c in exit_criteria(system_facts(system, now=NOW), now=NOW)}
    assert {key: c.met for key, c in criteria.items()} == {
        "owner_signed": True,
        "ai_ops_function": True,
        "change_protocol": False,
        "escalation_path": False,
        "readiness": True,
    }
    assert criteria["change_protocol"].evidence == "nobody holds the Approver role"
    assert criteria["readiness"].evidence == "Conditional; unmet: rollback; waived"


def test_an_unsigned_owner_and_no_ai_ops_member_block_stage_3(system, director, owner, approver):
    at_stage(system, STAGE_3)
    ownership_assign(system=system, by=director, owner=owner, budget_authority="EUR 250k")
    level_3(system, approver)
    criteria = criteria_of(system)
    assert (criteria["owner_signed"], criteria["ai_ops_function"]) == (False, False)
    assert criteria["escalation_path"] is True
    assert criteria["change_protocol"] is False  # no business-unit lead named


def test_a_defer_verdict_keeps_stage_3_closed_even_when_the_rest_is_in_place(
    system, director, owner, approver, lead
):
    at_stage(system, STAGE_3)
    owned(system, director, owner)
    briefed(system, director, lead)
    level_3(system, approver)
    criteria = {c.key: c for c in exit_criteria(system_facts(system, now=NOW), now=NOW)}
    assert [key for key, c in criteria.items() if not c.met] == ["readiness"]
    assert criteria["readiness"].evidence == (
        "Defer; unmet: pipeline_uptime, output_quality, integration_testing, monitoring, rollback"
    )
    with pytest.raises(ApplicationError) as refused:
        stage_advance(system=system, by=director)
    assert refused.value.extra == {"unmet": ["readiness"]}


# --- Stage 4: staged rollout -----------------------------------------------------------------


def test_stage_4_without_a_completed_rollout_is_refused(system, director):
    at_stage(system, STAGE_4)
    with pytest.raises(ApplicationError) as refused:
        stage_advance(system=system, by=director)
    assert refused.value.extra == {"unmet": ["rollout_completed"]}
    system.refresh_from_db()
    assert system.stage == STAGE_4


def test_stage_4_advances_to_production_after_a_rollout_reached_100_percent(
    system, director, owner, approver, lead
):
    at_stage(system, STAGE_4)
    all_but_the_drill(system, director, owner, lead)
    waiver_grant(system=system, by=director, unmet=["rollback"], justification="Drill on day 1.")
    spec = system.metric_specs.get(key="output_quality")
    candidate = ModelVersionFactory(system=system, version="2.0.0")
    change = change_request_open(
        system=system,
        by=owner,
        kind="model_update",
        title="2.0.0",
        description="New model",
        rationale="Better recall",
        model_version=candidate,
    )
    change_request_submit(change=change, by=owner)
    change_request_approve(change=change, by=approver, comment="ok")
    rollout = rollout_plan(
        system=system,
        candidate=candidate,
        by=director,
        cohorts=[100],
        min_points=3,
        observation_seconds=60,
    )
    rollout_start(rollout=rollout, by=director)
    store_points(
        system_id=system.pk,
        version_id=candidate.pk,
        points=[ValidPoint(spec.pk, NOW + timedelta(seconds=s), 0.95) for s in (1, 2, 3)],
        received_at=NOW,
    )
    assert rollout_evaluate(rollout_id=rollout.pk, now=NOW + timedelta(minutes=2)) == "pass"
    cohort_approve(step=rollout.steps.get(), by=director)
    assert stage_advance(system=system, by=director).stage == PRODUCTION
    assert stage_events(system)[-1] == ({"stage": STAGE_4}, {"stage": PRODUCTION}, "dana")


# --- Stage step back -------------------------------------------------------------------------


@pytest.mark.parametrize("persona", NON_DIRECTORS)
def test_only_a_director_moves_a_system_back(request, persona, system):
    at_stage(system, STAGE_2)
    with pytest.raises(ApplicationError) as refused:
        stage_step_back(system=system, by=request.getfixturevalue(persona), reason="Data gaps")
    assert refused.value.status == 403
    system.refresh_from_db()
    assert system.stage == STAGE_2
    assert stage_events(system) == []


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_step_back_needs_a_reason(system, director, reason):
    at_stage(system, STAGE_2)
    with pytest.raises(ApplicationError) as refused:
        stage_step_back(system=system, by=director, reason=reason)
    assert (refused.value.status, refused.value.field) == (400, "reason")
    system.refresh_from_db()
    assert system.stage == STAGE_2
    assert stage_events(system) == []


def test_stage_1_cannot_step_back(system, director):
    with pytest.raises(ApplicationError) as refused:
        stage_step_back(system=system, by=director, reason="Start over")
    assert refused.value.status == 409
    assert stage_events(system) == []


def test_a_step_back_is_audited_with_its_reason(system, director):
    at_stage(system, STAGE_3)
    moved = stage_step_back(system=system, by=director, reason="  The CRM schema changed  ")
    assert moved.stage == STAGE_2
    event = AuditEvent.objects.get(action="system.stage", system_id=system.pk)
    assert (event.before, event.after, event.reason) == (
        {"stage": STAGE_3},
        {"stage": STAGE_2},
        "The CRM schema changed",
    )


def test_stage_4_does_not_step_back_while_a_rollout_is_in_flight(system, director):
    at_stage(system, STAGE_4)
    MetricSpecFactory(system=system)
    rehearsal = rollout_plan(
        system=system,
        candidate=ModelVersionFactory(system=system),
        by=director,
        is_rehearsal=True,
    )
    with pytest.raises(ApplicationError) as refused:
        stage_step_back(system=system, by=director, reason="Ownership lapsed")
    assert refused.value.status == 409
    system.refresh_from_db()
    assert system.stage == STAGE_4
    rollout_start(rollout=rehearsal, by=director)
    rollout_roll_back(rollout=rehearsal, by=director, reason="drill", drill=True)
    assert stage_step_back(system=system, by=director, reason="Ownership lapsed").stage == STAGE_3
    assert stage_events(system) == [({"stage": STAGE_4}, {"stage": STAGE_3}, "dana")]


# --- Waivers -----------------------------------------------------------------------------------


def nothing_waived(system) -> bool:
    return (
        not Waiver.objects.filter(system=system).exists()
        and not AuditEvent.objects.filter(action="readiness.waive").exists()
    )


def test_a_defer_verdict_cannot_be_waived(system, director):
    with pytest.raises(ApplicationError) as refused:
        waiver_grant(system=system, by=director, unmet=ALL_INDICATORS, justification="Urgent")
    assert (refused.value.status, refused.value.code) == (409, "defer")
    assert "7 indicators unmet" in refused.value.message
    assert nothing_waived(system)


def test_a_ready_verdict_has_nothing_to_waive(system, director, owner, lead):
    all_but_the_drill(system, director, owner, lead)
    drilled(system, director)
    assert ind.verdict(list(indicators_of(system).values())) == ind.READY
    with pytest.raises(ApplicationError) as refused:
        waiver_grant(system=system, by=director, unmet=[], justification="Belt and braces")
    assert refused.value.status == 409
    assert nothing_waived(system)


@pytest.mark.parametrize(
    "named",
    [[], ["rollback", "briefings"], ["briefings"], ["Rollback"], ["rollback ", "rollback"]],
)
def test_a_waiver_must_name_exactly_the_unmet_indicators(system, director, owner, lead, named):
    all_but_the_drill(system, director, owner, lead)
    with pytest.raises(ApplicationError) as refused:
        waiver_grant(system=system, by=director, unmet=named, justification="Drill next week")
    assert (refused.value.status, refused.value.field) == (400, "unmet")
    assert refused.value.message == "Name exactly the unmet indicators: rollback."
    assert nothing_waived(system)


@pytest.mark.parametrize("justification", ["", "  ", None])
def test_a_waiver_needs_a_justification(system, director, owner, lead, justification):
    all_but_the_drill(system, director, owner, lead)
    with pytest.raises(ApplicationError) as refused:
        waiver_grant(system=system, by=director, unmet=["rollback"], justification=justification)
    assert (refused.value.status, refused.value.field) == (400, "justification")
    assert nothing_waived(system)


@pytest.mark.parametrize("persona", NON_DIRECTORS)
def test_only_a_director_grants_a_waiver(request, persona, system, director, owner, lead):
    all_but_the_drill(system, director, owner, lead)
    with pytest.raises(ApplicationError) as refused:
        waiver_grant(
            system=system,
            by=request.getfixturevalue(persona),
            unmet=["rollback"],
            justification="Drill next week",
        )
    assert refused.value.status == 403
    assert nothing_waived(system)


def test_a_waiver_records_the_unmet_indicators_and_the_readings(system, director, owner, lead):
    all_but_the_drill(system, director, owner, lead)
    waiver = waiver_grant(
        system=system,
        by=director,
        unmet=["rollback", "rollback"],
        justification="  The drill is booked for Monday.  ",
    )
    waiver.refresh_from_db()
    assert (waiver.unmet, waiver.justification, waiver.granted_by, waiver.granted_at) == (
        ["rollback"],
        "The drill is booked for Monday.",
        director,
        NOW,
    )
    assert [(i["key"], i["met"]) for i in waiver.indicators] == [
        (key, key != "rollback") for key in ALL_INDICATORS
    ]
    event = AuditEvent.objects.get(action="readiness.waive")
    assert (event.system_id, event.after, event.reason) == (
        system.pk,
        {"unmet": ["rollback"], "verdict": "conditional"},
        "The drill is booked for Monday.",
    )


def test_a_waiver_stops_covering_once_other_indicators_fail(
    system, director, owner, approver, lead, clock
):
    at_stage(system, STAGE_3)
    all_but_the_drill(system, director, owner, lead)
    level_3(system, approver)
    waiver_grant(system=system, by=director, unmet=["rollback"], justification="Drill Monday")
    assert criteria_of(system)["readiness"] is True
    intervention_record(system=system, by=owner, kind="data_correction", note="Fixed a feed")
    # Now output quality restarts its count too: the waiver named rollback alone.
    assert criteria_of(system)["readiness"] is False
    with pytest.raises(ApplicationError) as refused:
        stage_advance(system=system, by=director)
    assert refused.value.extra == {"unmet": ["readiness"]}


# --- Rollback plan -----------------------------------------------------------------------------


def test_the_owner_writes_and_rewrites_the_rollback_plan(system, owner, director, clock):
    rollback_plan_save(system=system, by=owner, text="  Route 100% to the previous version.  ")
    clock.shift(60)
    plan = rollback_plan_save(system=system, by=director, text="Set the router share to 0%.")
    assert RollbackPlan.objects.filter(system=system).count() == 1
    plan.refresh_from_db()
    assert (plan.text, plan.updated_by, plan.updated_at) == (
        "Set the router share to 0%.",
        director,
        NOW + timedelta(seconds=60),
    )
    assert list(
        AuditEvent.objects.filter(action="rollback_plan.save")
        .order_by("id")
        .values_list("actor_label", "after")
    ) == [
        ("omar", {"chars": len("Route 100% to the previous version.")}),
        ("dana", {"chars": len("Set the router share to 0%.")}),
    ]


def test_a_written_plan_without_a_drill_leaves_indicator_6_unmet(system, owner):
    rollback_plan_save(system=system, by=owner, text="Set the router share to 0%.")
    rollback = indicators_of(system)["rollback"]
    assert (rollback.met, rollback.value) == (False, "no successful rollback drill")


@pytest.mark.parametrize("text", ["", "   ", None])
def test_an_empty_rollback_plan_is_refused(system, owner, text):
    with pytest.raises(ApplicationError) as refused:
        rollback_plan_save(system=system, by=owner, text=text)
    assert (refused.value.status, refused.value.field) == (400, "text")
    assert not RollbackPlan.objects.exists()
    assert not AuditEvent.objects.filter(action="rollback_plan.save").exists()


@pytest.mark.parametrize("persona", NON_STEWARDS)
def test_only_directors_and_owners_write_rollback_plans(request, persona, system):
    with pytest.raises(ApplicationError) as refused:
        rollback_plan_save(system=system, by=request.getfixturevalue(persona), text="Share to 0%")
    assert refused.value.status == 403
    assert not RollbackPlan.objects.exists()


# --- Manual interventions ----------------------------------------------------------------------


def test_an_intervention_restarts_the_14_day_quality_count(system, owner):
    daily_quality(quality_metric(system), days=20)
    before = indicators_of(system)["output_quality"]
    assert (before.met, before.value) == (True, "20 consecutive days")
    intervention = intervention_record(
        system=system,
        by=owner,
        kind="manual_override",
        note="  Overrode 40 decisions by hand  ",
        at=NOW - timedelta(days=3),
    )
    assert system_facts(system, now=NOW).interventions == [date(2026, 11, 22)]
    after = indicators_of(system)["output_quality"]
    assert (after.met, after.value) == (False, "2 consecutive days")
    assert "manual interventions in the window: 2026-11-22" in after.evidence
    event = AuditEvent.objects.get(action="intervention.record")
    assert (event.object_id, event.after, event.reason) == (
        str(intervention.pk),
        {"kind": "manual_override", "at": "2026-11-22T12:00:00+00:00"},
        "Overrode 40 decisions by hand",
    )


def test_an_intervention_today_leaves_no_day_in_the_count(system, owner):
    daily_quality(quality_metric(system), days=20)
    intervention_record(system=system, by=owner, kind="data_correction", note="Fixed a feed")
    assert indicators_of(system)["output_quality"].value == "0 consecutive days"


def test_an_intervention_20_days_ago_is_before_the_last_14_days(system, owner):
    daily_quality(quality_metric(system), days=30)
    intervention_record(
        system=system,
        by=owner,
        kind="data_correction",
        note="Old fix",
        at=NOW - timedelta(days=20),
    )
    quality = indicators_of(system)["output_quality"]
    assert (quality.met, quality.value) == (True, "19 consecutive days")


def test_a_quality_incident_closed_by_hand_restarts_the_count(system, director):
    daily_quality(quality_metric(system), days=20)
    incident = escalation_raise(
        system=system,
        source="threshold_breach",
        severity="critical",
        title="Output quality below 0.8",
        dedup_key="threshold:output_quality",
    )
    escalation_resolve(escalation=incident, by=director, note="Relabelled", root_cause="other")
    assert system_facts(system, now=NOW).interventions == [TODAY]
    assert indicators_of(system)["output_quality"].met is False


@pytest.mark.parametrize(
    ("kind", "note", "at", "field"),
    [
        ("coffee_break", "Did something", None, "kind"),
        ("manual_override", "", None, "note"),
        ("manual_override", "   ", None, "note"),
        ("manual_override", "Tomorrow's fix", NOW + timedelta(minutes=1), "at"),
    ],
)
def test_a_bad_intervention_is_refused_and_nothing_written(system, owner, kind, note, at, field):
    with pytest.raises(ApplicationError) as refused:
        intervention_record(system=system, by=owner, kind=kind, note=note, at=at)
    assert (refused.value.status, refused.value.field) == (400, field)
    assert not ManualIntervention.objects.exists()
    assert not AuditEvent.objects.filter(action="intervention.record").exists()


@pytest.mark.parametrize("persona", NON_STEWARDS)
def test_only_directors_and_owners_record_interventions(request, persona, system):
    with pytest.raises(ApplicationError) as refused:
        intervention_record(
            system=system, by=request.getfixturevalue(persona), kind="data_correction", note="x"
        )
    assert refused.value.status == 403
    assert not ManualIntervention.objects.exists()


# --- Test alerts -------------------------------------------------------------------------------


def test_a_test_alert_is_a_real_escalation_routed_to_the_owner(system, director, owner):
    ownership_assign(system=system, by=director, owner=owner, budget_authority="EUR 250k")
    escalation = alert_test_send(system=system, by=director)
    escalation.refresh_from_db()
    assert (
        escalation.is_test,
        escalation.source,
        escalation.severity,
        escalation.state,
        escalation.level,
        escalation.assignee,
    ) == (True, "manual", "warning", "open", 1, owner)
    assert escalation.dedup_key == "test_alert:20261125T120000000000"
    facts = system_facts(system, now=NOW)
    assert (facts.alert_pending, facts.alert_acknowledged_at) == (True, None)
    at_stage(system, STAGE_2)
    alerting = exit_criteria(system_facts(system, now=NOW), now=NOW)[2]
    assert (alerting.met, alerting.evidence) == (
        False,
        "a test alert was sent and waits for its acknowledgement",
    )


def test_a_second_test_alert_is_refused_while_the_first_waits(system, director, owner, clock):
    ownership_assign(system=system, by=director, owner=owner, budget_authority="EUR 250k")
    first = alert_test_send(system=system, by=owner)
    clock.shift(60)
    with pytest.raises(ApplicationError) as refused:
        alert_test_send(system=system, by=owner)
    assert refused.value.status == 409
    assert refused.value.message == (
        f"Test alert ESC-{first.pk} still waits for its acknowledgement."
    )
    assert Escalation.objects.filter(system=system).count() == 1
    escalation_acknowledge(escalation=first, by=owner)
    second = alert_test_send(system=system, by=owner)
    assert second.pk != first.pk
    assert Escalation.objects.filter(system=system, is_test=True).count() == 2


def test_acknowledging_the_test_alert_meets_the_alert_part_of_indicator_5(
    system, director, owner, clock
):
    ownership_assign(system=system, by=director, owner=owner, budget_authority="EUR 250k")
    daily_quality(quality_metric(system), days=2)
    escalation = alert_test_send(system=system, by=owner)
    waiting = indicators_of(system)["monitoring"]
    assert (waiting.met, waiting.value) == (False, "no test alert acknowledged")
    clock.shift(600)
    escalation_acknowledge(escalation=escalation, by=owner)
    later = NOW + timedelta(seconds=600)
    facts = system_facts(system, now=later)
    assert (facts.alert_pending, facts.alert_acknowledged_at) == (False, later)
    monitoring = {i.key: i for i in readiness(facts, now=later)}["monitoring"]
    assert (monitoring.met, monitoring.value) == (True, "live, alert tested")


@pytest.mark.parametrize("persona", NON_STEWARDS)
def test_only_directors_and_owners_send_test_alerts(request, persona, system):
    with pytest.raises(ApplicationError) as refused:
        alert_test_send(system=system, by=request.getfixturevalue(persona))
    assert refused.value.status == 403
    assert not Escalation.objects.exists()


# --- The daily snapshot ------------------------------------------------------------------------


def test_gates_evaluate_keeps_one_snapshot_per_system_and_day(system, director, owner, clock):
    other = AISystemFactory(slug="fraud-screen", stage=STAGE_2)
    assert gates_evaluate() == 2
    first = GateSnapshot.objects.get(system=system)
    assert (first.day, first.stage, first.criteria_met, first.criteria_total) == (
        TODAY,
        STAGE_1,
        0,
        3,
    )
    assert (first.verdict, first.indicators_met, first.evaluated_at) == ("defer", 0, NOW)
    assert [i["key"] for i in first.indicators] == ALL_INDICATORS
    assert [c["key"] for c in first.criteria] == [
        "data_flow_documented",
        "quality_gaps_identified",
        "pipelines_delivering",
    ]
    assert GateSnapshot.objects.get(system=other).criteria_total == 3

    delivering_source(system, owner)
    clock.shift(3600)
    assert gates_evaluate() == 2
    assert GateSnapshot.objects.count() == 2
    again = GateSnapshot.objects.get(system=system)
    assert again.pk == first.pk
    # The source meets stage 1 and indicators 1 and 3.
    assert (again.criteria_met, again.indicators_met, again.evaluated_at) == (
        3,
        2,
        NOW + timedelta(hours=1),
    )

    clock.shift(timedelta(days=1))
    gates_evaluate()
    assert list(
        GateSnapshot.objects.filter(system=system).order_by("day").values_list("day", flat=True)
    ) == [TODAY, TODAY + timedelta(days=1)]


def test_gates_evaluate_with_no_system_writes_nothing():
    assert gates_evaluate() == 0
    assert not GateSnapshot.objects.exists()


# --- Facts in a fixed number of queries --------------------------------------------------------


def furnished_systems(count, director, owner, lead):
    """`count` systems, each with a source, a quality metric and its governance in place."""
    systems = []
    for n in range(count):
        system = AISystemFactory(slug=f"fleet-{count}-{n}")
        source = DataSourceFactory(systems=[system], owner=owner, name=f"CRM {n}")
        delivery_record(source=source, body={"at": iso(NOW - timedelta(minutes=10))}, by=None)
        data_source_evaluate(source_id=source.pk)
        daily_quality(quality_metric(system), days=2)
        owned(system, director, owner)
        business_unit_lead_add(system=system, by=director, user=lead, business_unit="Retail")
        level_3(system, director)
        alert_tested(system, owner)
        intervention_record(system=system, by=owner, kind="data_correction", note="Fixed")
        rollback_plan_save(system=system, by=owner, text="Share to 0%")
        systems.append(system)
    return systems


def queries_for(systems) -> tuple[int, list]:
    with CaptureQueriesContext(connection) as captured:
        facts = systems_facts(systems, now=NOW)
    return len(captured.captured_queries), facts


def test_facts_of_30_systems_take_as_many_queries_as_facts_of_3(director, owner, lead):
    few, few_facts = queries_for(furnished_systems(3, director, owner, lead))
    fleet = furnished_systems(30, director, owner, lead)
    many, many_facts = queries_for(fleet)
    assert many == few
    assert few <= 25
    assert [f.slug for f in many_facts] == [s.slug for s in fleet]
    sample = many_facts[17]
    assert (sample.owner, sample.signed, sample.ai_ops) == ("Omar Owner", True, ["Omar Owner"])
    assert (sample.leads, sample.level3_configured, sample.rollback_plan) == (
        {"Bo Lead": False},
        True,
        True,
    )
    assert [s.name for s in sample.sources] == ["CRM 17"]
    assert sample.interventions == [TODAY]
    assert sample.alert_acknowledged_at == NOW
    assert all(len(f.quality) == 1 for f in few_facts + many_facts)


# --- Readiness end to end ----------------------------------------------------------------------


def test_readiness_end_to_end_every_indicator_is_earned_from_real_data(
    system, director, owner, approver, lead, django_user_model
):
    # Stage 1: the CRM is documented, evaluated and has delivered every day for 30 days.
    delivering_source(system, owner)
    assert stage_advance(system=system, by=director).stage == STAGE_2

    # Stage 2: output quality is defined and has met 0.9 for 20 days; the alert path is drilled.
    daily_quality(quality_metric(system), days=20)
    owned(system, director, owner)
    alert_tested(system, owner)
    assert stage_advance(system=system, by=director).stage == STAGE_3

    # Stage 3: Bo attests the briefing, Ada is named at level 3, the plan is written.
    briefed(system, director, lead)
    level_3(system, approver)
    rollback_plan_save(system=system, by=owner, text="Set the router share to 0%.")
    gates = system_gates(system, now=NOW)
    assert (gates["verdict"], gates["unmet"]) == ("conditional", ["rollback"])
    rollback = {i.key: i for i in gates["indicators"]}["rollback"]
    assert rollback.value == "no successful rollback drill"

    # The drill: a rehearsal routes no traffic and is rolled back successfully.
    drill = drilled(system, director)
    assert (drill.state, drill.rollback_is_drill, drill.rollback_outcome) == (
        "rolled_back",
        True,
        "succeeded",
    )
    gates = system_gates(system, now=NOW)
    assert (gates["verdict"], gates["unmet"], gates["criteria_met"]) == ("ready", [], True)
    assert {i.key: i.value for i in gates["indicators"]} == {
        "pipeline_uptime": "lowest 100.00%",
        "output_quality": "20 consecutive days",
        "integration_testing": "highest 0.50%",
        "ownership": "signed, resourced",
        "monitoring": "live, alert tested",
        "rollback": "documented, drilled",
        "briefings": "all 1 attested",
    }
    assert stage_advance(system=system, by=director).stage == STAGE_4

    # A real rollout starts on the ready verdict, with no waiver.
    candidate = ModelVersionFactory(system=system, version="2.0.0")
    change = change_request_open(
        system=system,
        by=owner,
        kind="model_update",
        title="2.0.0",
        description="New model",
        rationale="Better recall",
        model_version=candidate,
    )
    change_request_submit(change=change, by=owner)
    change_request_approve(change=change, by=approver, comment="ok")
    rollout = rollout_start(
        rollout=rollout_plan(system=system, candidate=candidate, by=director), by=director
    )
    assert (rollout.state, rollout.waiver) == ("running", None)
    started = AuditEvent.objects.get(action="rollout.start", object_id=str(rollout.pk))
    assert started.after == {"state": "running", "verdict": "ready", "waiver": None}

    gates_evaluate()
    snapshot = GateSnapshot.objects.get(system=system)
    assert (snapshot.stage, snapshot.verdict, snapshot.indicators_met) == (STAGE_4, "ready", 7)
    assert [e[1]["stage"] for e in stage_events(system)] == [STAGE_2, STAGE_3, STAGE_4]
