"""A data-quality check that turns "fail" escalates to the systems its source feeds.

Omar owns the loan classifier (level 1); Sofia, a viewer, owns the core-banking CRM
that feeds it, so she is on the path too; Dana directs (level 2); Vic only views.
Checks are made to fail with real pushes and evaluated on a frozen clock.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group

from core.errors import ApplicationError
from core.roles import Role
from governance import services
from governance.models import AuditEvent, Escalation, Notification
from governance.services import escalations
from registry.models import SourceCheck
from registry.services import (
    data_source_evaluate,
    data_sources_sweep,
    delivery_record,
    profile_batch_record,
)
from tests.registry.factories import AISystemFactory, DataSourceFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def sofia(django_user_model):
    user = django_user_model.objects.create_user(
        username="sofia", password="pw", email="sofia@example.com"
    )
    user.groups.add(Group.objects.get_or_create(name=Role.VIEWER.value)[0])
    return user


@pytest.fixture
def system(director, owner, clock):
    system = AISystemFactory(slug="loan-classifier", name="Loan classifier")
    services.ownership_assign(system=system, by=director, owner=owner, budget_authority="HKD 1m")
    return system


@pytest.fixture
def source(system, sofia):
    source = DataSourceFactory(slug="core-crm", name="Core-banking CRM", owner=sofia)
    source.systems.add(system)
    return source


def iso(at):
    return at.isoformat().replace("+00:00", "Z")


def push_profile(source, *, missing=0.0, channel_type="string", at=None):
    """A profiled delivery; `missing` of channel past 20% fails completeness."""
    at = at or T0 - 10 * MINUTE
    body = {
        "at": iso(at),
        "fields": [
            {"name": "amount", "type": "float", "missing_share": 0.0},
            {"name": "channel", "type": channel_type, "missing_share": missing},
        ],
    }
    profile_batch_record(source=source, body=body, by=None)


def evaluate(source, now=T0):
    return data_source_evaluate(source_id=source.pk, now=now)


def data_quality_escalations():
    return Escalation.objects.filter(source="data_quality").order_by("system__slug", "dedup_key")


# --- Opening ------------------------------------------------------------------------------------


def test_a_check_turning_fail_opens_a_critical_escalation_for_the_system_it_feeds(
    system, source, clock
):
    push_profile(source, missing=0.5)
    assert evaluate(source)["completeness"] == "fail"
    escalation = Escalation.objects.get()
    assert (
        escalation.system,
        escalation.source,
        escalation.severity,
        escalation.dedup_key,
        escalation.data_source,
    ) == (system, "data_quality", "critical", "data_quality:core-crm:completeness", source)
    assert escalation.title == "Upstream data issue: Core-banking CRM, completeness"
    assert (escalation.state, escalation.level, escalation.first_seen) == ("open", 1, T0)
    assert escalation.details["data_source"] == "core-crm"
    assert escalation.details["check"] == "completeness"
    assert escalation.details["value"] == 0.5
    assert escalation.details["summary"] == SourceCheck.objects.get(kind="completeness").detail
    assert AuditEvent.objects.filter(
        action="escalation.open", object_id=str(escalation.pk)
    ).exists()


def test_each_failing_check_opens_its_own_escalation(system, source):
    push_profile(source, missing=0.5, channel_type="int")  # completeness and schema fail
    evaluate(source)
    assert [e.dedup_key for e in data_quality_escalations()] == [
        "data_quality:core-crm:completeness",
        "data_quality:core-crm:schema",
    ]


def test_a_source_feeding_two_systems_opens_one_escalation_in_each(system, source, director):
    eta = AISystemFactory(slug="eta-predictor", name="ETA predictor")
    source.systems.add(eta)
    push_profile(source, missing=0.5)
    evaluate(source)
    assert [(e.system.slug, e.dedup_key) for e in data_quality_escalations()] == [
        ("eta-predictor", "data_quality:core-crm:completeness"),
        ("loan-classifier", "data_quality:core-crm:completeness"),
    ]


def test_a_source_feeding_no_system_escalates_nothing(system, source):
    source.systems.clear()
    push_profile(source, missing=0.5)
    assert evaluate(source)["completeness"] == "fail"  # still red on the dashboard
    assert not Escalation.objects.exists()


def test_a_source_that_never_delivered_fails_freshness_without_escalating(system, source):
    assert evaluate(source)["freshness"] == "fail"
    assert SourceCheck.objects.get(kind="freshness").value is None
    assert not Escalation.objects.exists()


def test_a_source_that_stopped_delivering_escalates_its_freshness(system, source):
    delivery_record(source=source, body={"at": iso(T0 - 2 * HOUR - MINUTE)}, by=None)
    assert evaluate(source)["freshness"] == "fail"
    assert [e.dedup_key for e in data_quality_escalations()] == ["data_quality:core-crm:freshness"]


def test_a_first_delivery_that_is_already_stale_escalates_its_freshness(system, source):
    # "Never delivered" is a fail that raised nothing; going from it to "stale" escalates.
    assert evaluate(source)["freshness"] == "fail"
    delivery_record(source=source, body={"at": iso(T0 - 3 * HOUR)}, by=None)
    assert evaluate(source, now=T0 + MINUTE)["freshness"] == "fail"
    assert SourceCheck.objects.get(kind="freshness").value == 3 * 3600 + 60
    assert [e.dedup_key for e in data_quality_escalations()] == ["data_quality:core-crm:freshness"]


def test_the_minute_sweep_escalates_a_source_that_went_silent(system, source):
    delivery_record(source=source, body={"at": iso(T0)}, by=None)
    evaluate(source)
    escalations_after = []
    for now in (T0 + HOUR + MINUTE, T0 + 2 * HOUR + MINUTE, T0 + 2 * HOUR + 2 * MINUTE):
        data_sources_sweep(now=now)
        escalations_after.append(Escalation.objects.count())
    assert escalations_after == [0, 1, 1]  # warn does not escalate; fail does, once
    assert Escalation.objects.get().first_seen == T0 + 2 * HOUR + MINUTE


def test_uptime_never_escalates(system, source):
    # Delivered on time for the last hour only: 1 of 720 hours up, every grid check unfailed.
    delivery_record(source=source, body={"at": iso(T0 - 30 * MINUTE)}, by=None)
    result = evaluate(source)
    assert result["uptime"] == "fail"
    assert "fail" not in {status for kind, status in result.items() if kind != "uptime"}
    assert not Escalation.objects.exists()


# --- Deduplication ------------------------------------------------------------------------------


def test_a_check_that_stays_failing_does_not_raise_again(system, source, clock):
    push_profile(source, missing=0.5)
    evaluate(source)
    for minutes in (1, 2, 60):
        evaluate(source, now=T0 + minutes * MINUTE)
    escalation = Escalation.objects.get()
    assert (escalation.occurrences, escalation.last_seen) == (1, T0)


def test_a_check_failing_again_while_open_counts_a_repeat(system, source):
    push_profile(source, missing=0.5, at=T0 - 30 * MINUTE)
    evaluate(source)
    push_profile(source, missing=0.0, at=T0 - 20 * MINUTE)
    assert evaluate(source, now=T0 + MINUTE)["completeness"] == "ok"
    push_profile(source, missing=0.6, at=T0 - 10 * MINUTE)
    assert evaluate(source, now=T0 + 2 * MINUTE)["completeness"] == "fail"
    escalation = Escalation.objects.get()
    assert (escalation.occurrences, escalation.last_seen) == (2, T0 + 2 * MINUTE)
    assert escalation.details["value"] == 0.6


def test_after_resolution_a_new_failure_opens_a_new_escalation(system, source, owner):
    push_profile(source, missing=0.5, at=T0 - 30 * MINUTE)
    evaluate(source)
    first = Escalation.objects.get()
    escalations.escalation_resolve(
        escalation=first, by=owner, note="CRM export fixed", root_cause="integration"
    )
    push_profile(source, missing=0.0, at=T0 - 20 * MINUTE)
    evaluate(source, now=T0 + MINUTE)
    push_profile(source, missing=0.5, at=T0 - 10 * MINUTE)
    evaluate(source, now=T0 + 2 * MINUTE)
    assert Escalation.objects.count() == 2
    assert Escalation.objects.exclude(pk=first.pk).get().state == "open"


def test_a_silence_on_the_key_mutes_the_escalation_but_not_the_check(system, source, owner):
    escalations.silence_create(
        system=system,
        by=owner,
        matcher="data_quality:core-crm:",
        reason="CRM migration this weekend",
        ends_at=T0 + 2 * HOUR,
    )
    push_profile(source, missing=0.5)
    assert evaluate(source)["completeness"] == "fail"
    assert not Escalation.objects.exists()


# --- Routing and handling ------------------------------------------------------------------------


def test_level_one_is_the_systems_owner_and_the_sources_owner(
    system, source, owner, sofia, django_capture_on_commit_callbacks
):
    push_profile(source, missing=0.5)
    with django_capture_on_commit_callbacks(execute=True):
        evaluate(source)
    escalation = Escalation.objects.get()
    assert escalations.recipients(system, 1, data_source=source) == [owner, sofia]
    assert escalation.assignee is None  # two people at level 1: neither is singled out
    assert sorted(Notification.objects.values_list("user__username", flat=True)) == [
        "omar",
        "sofia",
    ]


def test_the_sources_owner_alone_is_the_assignee_of_an_unowned_system(source, sofia, director):
    unowned = AISystemFactory(slug="unowned")
    source.systems.set([unowned])
    push_profile(source, missing=0.5)
    evaluate(source)
    assert Escalation.objects.get().assignee == sofia


def test_one_person_owning_both_is_the_assignee(system, source, owner):
    source.owner = owner
    source.save()
    push_profile(source, missing=0.5)
    evaluate(source)
    assert Escalation.objects.get().assignee == owner


def test_the_sources_owner_may_acknowledge_and_an_unrelated_viewer_may_not(
    system, source, sofia, viewer, clock
):
    push_profile(source, missing=0.5)
    evaluate(source)
    escalation = Escalation.objects.get()
    assert escalations.may_handle(escalation, sofia) is True
    assert escalations.may_handle(escalation, viewer) is False
    with pytest.raises(ApplicationError) as error:
        escalations.escalation_acknowledge(escalation=escalation, by=viewer)
    assert error.value.status == 403
    escalation.refresh_from_db()
    assert escalation.state == "open"
    clock.shift(5 * MINUTE)
    acknowledged = escalations.escalation_acknowledge(escalation=escalation, by=sofia)
    assert (acknowledged.state, acknowledged.acknowledged_by, acknowledged.acknowledged_at) == (
        "acknowledged",
        sofia,
        T0 + 5 * MINUTE,
    )
    assert acknowledged.assignee == sofia  # nobody was assigned: the one who took it


def test_the_owner_of_another_source_may_not_handle_this_one(
    system, source, sofia, django_user_model
):
    other_owner = django_user_model.objects.create_user(username="otto", password="pw")
    other_owner.groups.add(Group.objects.get_or_create(name=Role.VIEWER.value)[0])
    DataSourceFactory(slug="branch-erp", owner=other_owner).systems.add(system)
    push_profile(source, missing=0.5)
    evaluate(source)
    with pytest.raises(ApplicationError) as error:
        escalations.escalation_acknowledge(escalation=Escalation.objects.get(), by=other_owner)
    assert error.value.status == 403


def test_an_unacknowledged_data_quality_escalation_rises_to_the_directors(
    system, source, director, clock
):
    push_profile(source, missing=0.5)
    evaluate(source)
    clock.shift(timedelta(hours=4))  # the medium tier's timeout
    assert escalations.escalations_escalate_due() == 1
    escalation = Escalation.objects.get()
    assert (escalation.level, escalation.assignee) == (2, director)
