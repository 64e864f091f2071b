"""The root-cause assessment on evidence built in the database, its answers and its action plan.

Dana directs operations and Omar owns the loan classifier (signed, budget authority);
Ada approves changes and is the classifier's AI-ops member, so she may assess it too;
Vic only views and Charlie has no role. The classifier is at stage 2 and reads two
sources: the core CRM (integration tests at 0.5% errors, a new unannounced field,
inputs drifting a little) and a ledger with no schema that was never checked. Its
quality metric varied by 2.5% over two days, its latency metric never reported, it
breached thresholds twice in the last 15 days and once before, and no test alert was
acknowledged. Its model version has 50,000 training rows, 30% labelled.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import ApplicationError
from governance import assessment, services
from governance.models import ActionItem, AssessmentAnswer, AuditEvent
from governance.selectors import assessment_evidence, system_assessment
from governance.services import escalations
from registry.models import AISystem, SourceCheck
from registry.services import data_source_create
from registry.validation import ValidPoint
from registry.writer import store_points
from tests.registry.factories import AISystemFactory, MetricSpecFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
INTEGRATION_ANSWERS = dict.fromkeys(
    ["int_sources_mapped", "int_schemas_stable", "int_tests", "int_errors_handled"], 2
)
OWNERSHIP_ANSWERS = dict.fromkeys(["o_owner", "o_ops", "o_handover", "o_escalation"], 2)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def source_check(source, kind, status, value):
    SourceCheck.objects.update_or_create(
        source=source,
        kind=kind,
        defaults={"status": status, "value": value, "since": T0, "evaluated_at": T0},
    )


def push(spec, at, value):
    store_points(
        system_id=spec.system_id,
        version_id=None,
        points=[ValidPoint(metric_id=spec.pk, at=at, value=value)],
        received_at=at,
    )


def breach(system, key, at):
    escalations.escalation_raise(
        system=system,
        source="threshold_breach",
        severity="warning",
        title=f"{key} breached",
        dedup_key=f"threshold:{key}",
        now=at,
    )


@pytest.fixture
def system(clock, director, owner, approver):
    system = AISystemFactory(
        slug="loan-classifier", name="Loan classifier", stage="evaluation_infrastructure"
    )
    services.ownership_assign(system=system, by=director, owner=owner, budget_authority="HKD 2m")
    services.accountability_sign(system=system, by=owner)
    services.ai_ops_member_add(system=system, by=director, user=approver)
    return system


@pytest.fixture
def crm(system, director):
    crm = data_source_create(
        by=director,
        slug="core-crm",
        systems=[system],
        name="Core CRM",
        kind="crm",
        expected_schema={"amount": "float"},
    )
    source_check(crm, "integration", "ok", 0.005)
    source_check(crm, "schema", "warn", 1.0)
    source_check(crm, "drift", "warn", 0.15)
    return crm


@pytest.fixture
def ledger(system, director):
    return data_source_create(
        by=director, slug="ledger", systems=[system], name="Ledger", kind="database"
    )


@pytest.fixture
def classifier(system, crm, ledger):
    """The whole story of the module docstring."""
    quality = MetricSpecFactory(system=system, key="output_quality")
    MetricSpecFactory(
        system=system,
        key="latency_ms",
        kind="latency",
        direction="lower_is_better",
        warning=800,
        critical=1500,
        aggregation="p95",
    )
    push(quality, datetime(2026, 11, 23, 12, tzinfo=UTC), 0.78)
    push(quality, datetime(2026, 11, 24, 12, tzinfo=UTC), 0.82)
    breach(system, "a", T0 - 2 * DAY)
    breach(system, "b", T0 - 5 * DAY)
    breach(system, "c", T0 - 20 * DAY)
    ModelVersionFactory(system=system, training_rows=50_000, training_labelled_share=0.3)
    return system


def scored(system):
    return {score.cause: score for score in system_assessment(system, now=T0)["scores"]}


# --- Scores from the database ----------------------------------------------------------------


def test_each_cause_is_scored_from_the_evidence_in_the_database(classifier, director):
    services.assessment_answers_save(
        system=classifier, by=director, answers=INTEGRATION_ANSWERS | OWNERSHIP_ANSWERS
    )
    scores = scored(classifier)
    assert {cause: s.score for cause, s in scores.items()} == {
        "integration": 50,
        "output_quality": 52,
        "monitoring": 65,
        "ownership": 25,
        "training_data": 50,
    }
    assert {cause: (s.questionnaire, s.evidence) for cause, s in scores.items()} == {
        "integration": (50, 50),
        "output_quality": (None, 52),
        "monitoring": (None, 65),
        "ownership": (50, 0),
        "training_data": (None, 50),
    }
    assert scores["integration"].reasons == [
        "worst integration error rate 0.50%",
        "1 source(s) with an unannounced new field",
        "1 of 2 sources without a schema",
        "questionnaire: risk 50 from 4 answers",
    ]
    assert scores["output_quality"].reasons == [
        "daily quality varies by 2.5% (coefficient of variation)",
        "3 threshold breach(es) in 30 days",
        "breaches rising: 2 in the last 15 days, 1 in the 15 before",
        "questionnaire not answered: the evidence alone",
    ]
    assert scores["monitoring"].reasons == [
        "1 of 2 required metrics reported in 24 h",
        "no test alert acknowledged in the last 30 days",
        "1 source(s) never checked",
        "questionnaire not answered: the evidence alone",
    ]
    assert scores["ownership"].reasons == ["questionnaire: risk 50 from 4 answers"]
    assert scores["training_data"].reasons == [
        "50,000 training rows",
        "30% of the training data is labelled",
        "production inputs drift a little (PSI 0.15)",
        "questionnaire not answered: the evidence alone",
    ]
    assert (scores["integration"].answered, scores["integration"].questions) == (4, 4)


def test_a_system_with_nothing_recorded_scores_from_missing_evidence(clock, director):
    system = AISystemFactory(slug="bare")
    scores = scored(system)
    assert {cause: s.score for cause, s in scores.items()} == {
        "integration": 60,
        "output_quality": 60,
        "monitoring": 80,
        "ownership": 70,
        "training_data": 50,
    }
    assert scores["ownership"].reasons[:3] == [
        "no owner is named",
        "no budget authority recorded",
        "no AI-operations member",
    ]


def test_a_new_failing_integration_check_raises_cause_one_by_itself(classifier, ledger):
    before = scored(classifier)
    source_check(ledger, "integration", "fail", 0.02)
    after = scored(classifier)
    # 60 (2% is past 1%) + 10 (a new field) + 10 (half the sources without a schema).
    assert (before["integration"].score, after["integration"].score) == (50, 80)
    assert after["integration"].reasons[0] == "worst integration error rate 2.00%"
    # The ledger is now checked, so monitoring no longer counts it as never checked.
    assert (before["monitoring"].score, after["monitoring"].score) == (65, 55)


def test_an_acknowledged_test_alert_lowers_the_monitoring_risk(classifier, owner):
    alert = escalations.escalation_raise(
        system=classifier,
        source="manual",
        severity="warning",
        title="Test alert",
        dedup_key="test:alert",
        is_test=True,
    )
    assert scored(classifier)["monitoring"].score == 65
    escalations.escalation_acknowledge(escalation=alert, by=owner)
    assert scored(classifier)["monitoring"].score == 35


def test_a_lapsed_signature_flags_ownership(classifier, clock):
    clock.move_to(T0 + timedelta(days=400))
    now = T0 + timedelta(days=400)
    ownership = {s.cause: s for s in system_assessment(classifier, now=now)["scores"]}["ownership"]
    assert ownership.evidence == 60
    assert ownership.reasons[:2] == [
        "the owner has not signed the accountability statement",
        "flagged orphaned (inactive owner or lapsed signature)",
    ]


def test_breaches_older_than_30_days_do_not_count(classifier):
    breach(classifier, "old", T0 - 40 * DAY)
    assert scored(classifier)["output_quality"].reasons[1] == "3 threshold breach(es) in 30 days"


def _many_systems(count, director, owner):
    for index in range(count):
        system = AISystemFactory(slug=f"fleet-{index}")
        services.ownership_assign(system=system, by=director, owner=owner, budget_authority="x")
        services.accountability_sign(system=system, by=owner)
        services.ai_ops_member_add(system=system, by=director, user=owner)
        source = data_source_create(
            by=director, slug=f"fleet-source-{index}", systems=[system], name="S", kind="api"
        )
        source_check(source, "integration", "ok", 0.001)
        spec = MetricSpecFactory(system=system)
        push(spec, T0 - DAY / 2, 0.9)
        breach(system, "q", T0 - DAY)
        version = ModelVersionFactory(system=system, training_rows=1000)
        system.deployed_version = version
        system.save(update_fields=["deployed_version"])
    return list(AISystem.objects.filter(slug__startswith="fleet-").order_by("slug"))


def _queries(systems) -> int:
    with CaptureQueriesContext(connection) as queries:
        evidence = assessment_evidence(systems, now=T0)
    assert len(evidence) == len(systems)
    return len(queries)


def test_the_evidence_of_2_and_20_systems_takes_the_same_queries(clock, director, owner):
    # Systems as a caller loads them (system_assessment's get_object_or_404, a queryset),
    # with deployed versions: the promised fixed number of queries must not need
    # select_related("deployed_version") from the caller.
    systems = _many_systems(20, director, owner)
    assert _queries(systems[:2]) == _queries(systems)


def test_the_evidence_of_systems_loaded_with_their_deployed_version_takes_fixed_queries(
    clock, director, owner
):
    _many_systems(20, director, owner)
    systems = list(
        AISystem.objects.filter(slug__startswith="fleet-")
        .select_related("deployed_version")
        .order_by("slug")
    )
    assert _queries(systems[:2]) == _queries(systems)


def test_the_evidence_reads_the_deployed_versions_training_data(clock, director, owner):
    (system,) = _many_systems(1, director, owner)
    ModelVersionFactory(system=system, training_rows=900_000)  # newer, not deployed
    evidence = assessment_evidence([AISystem.objects.get(pk=system.pk)], now=T0)[system.pk]
    assert evidence.training_rows == 1000


# --- Answers ---------------------------------------------------------------------------------


def test_answers_are_saved_and_audited_once(system, owner):
    changed = services.assessment_answers_save(
        system=system, by=owner, answers={"o_owner": 4, "o_ops": 1}
    )
    assert changed == {"o_owner": 4, "o_ops": 1}
    assert dict(AssessmentAnswer.objects.values_list("question", "value")) == changed
    event = AuditEvent.objects.get(action="assessment.answer")
    assert (event.before, event.after) == ({"o_owner": None, "o_ops": None}, changed)


def test_unchanged_answers_write_no_audit_event(system, owner):
    services.assessment_answers_save(system=system, by=owner, answers={"o_owner": 4, "o_ops": 1})
    assert services.assessment_answers_save(system=system, by=owner, answers={"o_owner": 4}) == {}
    assert AuditEvent.objects.filter(action="assessment.answer").count() == 1
    changed = services.assessment_answers_save(
        system=system, by=owner, answers={"o_owner": 4, "o_ops": 2}
    )
    assert changed == {"o_ops": 2}
    event = AuditEvent.objects.filter(action="assessment.answer").latest("id")
    assert (event.before, event.after) == ({"o_ops": 1}, {"o_ops": 2})


def test_an_ai_ops_member_may_answer(system, approver):
    assert services.may_assess(system, approver)
    services.assessment_answers_save(system=system, by=approver, answers={"t_volume": 3})
    assert AssessmentAnswer.objects.get().answered_by == approver


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_viewers_and_outsiders_may_not_answer(request, system, persona):
    person = request.getfixturevalue(persona)
    assert not services.may_assess(system, person)
    with pytest.raises(ApplicationError) as error:
        services.assessment_answers_save(system=system, by=person, answers={"o_owner": 4})
    assert error.value.status == 403
    assert not AssessmentAnswer.objects.exists()


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"o_owner": 4, "o_nonsense": 2}, "answers"),
        ({"o_owner": 4, "o_ops": 5}, "o_ops"),
        ({"o_owner": 4, "o_ops": -1}, "o_ops"),
        ({"o_owner": 4, "o_ops": True}, "o_ops"),
        ({"o_owner": 4, "o_ops": "2"}, "o_ops"),
        ({"o_owner": 4, "o_ops": 2.0}, "o_ops"),
    ],
)
def test_bad_keys_and_values_are_refused_and_nothing_is_written(system, owner, answers, field):
    events = AuditEvent.objects.count()
    with pytest.raises(ApplicationError) as error:
        services.assessment_answers_save(system=system, by=owner, answers=answers)
    assert (error.value.status, error.value.field) == (400, field)
    assert not AssessmentAnswer.objects.exists()
    assert AuditEvent.objects.count() == events


# --- The action plan -------------------------------------------------------------------------


def test_the_plan_follows_the_scores_worst_first_owned_by_the_systems_owner(
    classifier, director, owner
):
    created = services.action_plan_generate(system=classifier, by=director)
    expected = assessment.action_plan(
        system_assessment(classifier, now=T0)["scores"], stage=classifier.stage, today=T0.date()
    )
    assert [(i.key, i.cause, i.title, i.priority, i.due_date) for i in created] == [
        (a.key, a.cause, str(a.title), a.priority, a.due) for a in expected
    ]
    # Monitoring (65, high: two actions in 14 days), quality (52), then the two at 50 in
    # DOMAIN.md's order, neither being what stage 2 is about.
    assert [(i.key, i.priority, i.due_date) for i in created] == [
        ("m-metrics", 1, date(2026, 12, 9)),
        ("m-alert", 2, date(2026, 12, 9)),
        ("q-prod", 3, date(2026, 12, 25)),
        ("int-map", 4, date(2026, 12, 25)),
        ("t-label", 5, date(2026, 12, 25)),
    ]
    assert {item.owner for item in created} == {owner}
    assert all(item.status == ActionItem.Status.OPEN for item in created)
    event = AuditEvent.objects.get(action="action_plan.generate")
    assert event.after == {"items": ["m-metrics", "m-alert", "q-prod", "int-map", "t-label"]}


def test_the_plan_is_generated_once(classifier, director):
    services.action_plan_generate(system=classifier, by=director)
    events = AuditEvent.objects.count()
    assert services.action_plan_generate(system=classifier, by=director) == []
    assert ActionItem.objects.count() == 5
    assert AuditEvent.objects.count() == events


def test_a_dropped_action_is_not_proposed_again(classifier, director):
    services.action_plan_generate(system=classifier, by=director)
    item = ActionItem.objects.get(key="m-metrics")
    services.action_item_close(item=item, by=director, status="dropped", note="Done elsewhere")
    assert services.action_plan_generate(system=classifier, by=director) == []
    assert ActionItem.objects.filter(key="m-metrics").count() == 1


def test_a_cause_turning_high_adds_only_its_new_action(classifier, director, ledger):
    services.action_plan_generate(system=classifier, by=director)
    source_check(ledger, "integration", "fail", 0.02)  # integration 50 -> 80: two actions
    created = services.action_plan_generate(system=classifier, by=director)
    assert [item.key for item in created] == ["int-tests"]


def test_a_system_without_an_owner_gets_unowned_actions(clock, director):
    system = AISystemFactory(slug="bare")
    created = services.action_plan_generate(system=system, by=director)
    assert created and all(item.owner is None for item in created)


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_viewers_and_outsiders_may_not_generate_the_plan(request, classifier, persona):
    with pytest.raises(ApplicationError) as error:
        services.action_plan_generate(system=classifier, by=request.getfixturevalue(persona))
    assert error.value.status == 403
    assert not ActionItem.objects.exists()


# --- Items -------------------------------------------------------------------------------------


@pytest.fixture
def item(classifier, director):
    services.action_plan_generate(system=classifier, by=director)
    return ActionItem.objects.get(key="m-metrics")


def test_an_open_action_is_changed_and_audited(item, director, viewer):
    services.action_item_update(
        item=item, by=director, owner=viewer, due_date=date(2027, 1, 15), priority=7, title="New"
    )
    item.refresh_from_db()
    assert (item.owner, item.due_date, item.priority, item.title) == (
        viewer,
        date(2027, 1, 15),
        7,
        "New",
    )
    event = AuditEvent.objects.get(action="action_item.update")
    assert event.after["due_date"] == "2027-01-15"
    assert event.before["priority"] == "1"


def test_an_action_refuses_fields_it_does_not_have_and_an_empty_title(item, director):
    with pytest.raises(ApplicationError):
        services.action_item_update(item=item, by=director, status="done")
    with pytest.raises(ApplicationError) as error:
        services.action_item_update(item=item, by=director, title="  ")
    assert error.value.field == "title"
    item.refresh_from_db()
    assert (item.status, item.title) == ("open", str(assessment.ACTIONS["monitoring"][0][1]))


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_viewers_and_outsiders_may_not_change_an_action(request, item, persona):
    with pytest.raises(ApplicationError) as error:
        services.action_item_update(item=item, by=request.getfixturevalue(persona), priority=9)
    assert error.value.status == 403
    item.refresh_from_db()
    assert item.priority == 1


def test_a_closed_action_cannot_change_or_close_again(item, director):
    services.action_item_close(item=item, by=director, status="done")
    with pytest.raises(ApplicationError) as error:
        services.action_item_update(item=item, by=director, priority=9)
    assert error.value.status == 409
    with pytest.raises(ApplicationError) as error:
        services.action_item_close(item=item, by=director, status="dropped", note="x")
    assert error.value.status == 409
    item.refresh_from_db()
    assert (item.status, item.priority) == ("done", 1)


def test_the_actions_owner_may_close_their_own_and_only_their_own(item, director, viewer):
    services.action_item_update(item=item, by=director, owner=viewer)
    other = ActionItem.objects.get(key="q-prod")
    with pytest.raises(ApplicationError) as error:
        services.action_item_close(item=other, by=viewer, status="done")
    assert error.value.status == 403
    with pytest.raises(ApplicationError) as error:
        services.action_item_update(item=item, by=viewer, priority=3)
    assert error.value.status == 403
    closed = services.action_item_close(item=item, by=viewer, status="done", note="Instrumented")
    assert (closed.status, closed.closed_by, closed.closed_at, closed.note) == (
        "done",
        viewer,
        T0,
        "Instrumented",
    )


def test_closing_is_audited(item, owner):
    services.action_item_close(item=item, by=owner, status="done", note="All metrics report")
    event = AuditEvent.objects.get(action="action_item.done")
    assert (event.actor_label, event.system_slug, event.reason) == (
        owner.username,
        "loan-classifier",
        "All metrics report",
    )
    assert (event.before, event.after) == ({"status": "open"}, {"status": "done"})


def test_dropping_needs_a_note_and_a_close_needs_a_final_status(item, director):
    with pytest.raises(ApplicationError) as error:
        services.action_item_close(item=item, by=director, status="dropped", note=" ")
    assert (error.value.status, error.value.field) == (400, "note")
    with pytest.raises(ApplicationError) as error:
        services.action_item_close(item=item, by=director, status="open")
    assert error.value.field == "status"
    item.refresh_from_db()
    assert item.status == "open"
    assert not AuditEvent.objects.filter(action__startswith="action_item.").exists()


# --- The demo ------------------------------------------------------------------------------------


def test_the_demo_assessment_loads_once(settings):
    from portal.demo import demo_load
    from portal.demo_assessment import DEMO_ANSWERS, demo_assessment_load

    settings.DEBUG = True
    demo_load()
    demo_assessment_load()
    items = ActionItem.objects.count()
    events = AuditEvent.objects.count()
    demo_assessment_load()
    assert (ActionItem.objects.count(), AuditEvent.objects.count()) == (items, events)
    assert AssessmentAnswer.objects.filter(system__slug__in=DEMO_ANSWERS).count() == sum(
        len(answers) for _user, answers in DEMO_ANSWERS.values()
    )
    assert set(ActionItem.objects.values_list("system__slug", flat=True)) <= set(DEMO_ANSWERS)
    done = ActionItem.objects.get(status="done")
    assert (done.system.slug, done.closed_by.username) == ("customer-service-assistant", "owner")


def test_a_new_owner_must_be_an_active_person_with_a_role(item, director, outsider):
    with pytest.raises(ApplicationError, match="active person with a role"):
        services.action_item_update(item=item, by=director, owner=outsider)
    item.refresh_from_db()
    assert item.owner != outsider
