"""The demo loader: one login per role, idempotent, refused in production."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from core.roles import Role, has_role
from governance.models import (
    AccountabilitySignature,
    ActionItem,
    AssessmentAnswer,
    AuditEvent,
    BusinessUnitLead,
    ChangeRequest,
    Escalation,
)
from governance.selectors import ownership_status
from portal.demo import DEMO_METRICS, DEMO_SYSTEMS, DEMO_USERS
from registry.models import (
    AISystem,
    DataSource,
    FieldProfile,
    MetricPoint,
    MetricRollup,
    MetricSpec,
    ModelVersion,
    ReferenceProfile,
    SourceCheck,
    SourceDelivery,
)
from rollout.models import EvidencePack, Rollout
from rollout.selectors import deployment_status, system_gates

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def debug_on(settings):
    # pytest-django turns DEBUG off; `make run` loads the demo with DEBUG on.
    settings.DEBUG = True


def snapshot():
    user_model = get_user_model()
    memberships = user_model.groups.through.objects.values_list("user__username", "group__name")
    rollups = MetricRollup.objects.order_by("id").values_list("count", "sum", "last_value")
    return (
        user_model.objects.count(),
        sorted(memberships),
        AISystem.objects.count(),
        ModelVersion.objects.count(),
        MetricSpec.objects.count(),
        MetricPoint.objects.count(),
        list(rollups),
        AuditEvent.objects.count(),
        AccountabilitySignature.objects.count(),
        BusinessUnitLead.objects.filter(briefing_attested_at__isnull=False).count(),
        list(ChangeRequest.objects.values_list("state", flat=True)),
        list(Escalation.objects.values_list("occurrences", flat=True)),
    )


def test_it_creates_one_login_per_role_with_the_printed_password(capsys):
    call_command("load_demo")
    printed = capsys.readouterr().out
    roles = set()
    for demo in DEMO_USERS:
        assert f"{demo.username}" in printed and demo.password in printed
        user = authenticate(username=demo.username, password=demo.password)
        assert user is not None, demo.username
        if demo.role:
            assert has_role(user, demo.role)
            roles.add(demo.role)
    assert roles == set(Role)


@time_machine.travel(datetime(2026, 11, 25, 12, 30, tzinfo=UTC), tick=False)
def test_loading_twice_changes_nothing():
    call_command("load_demo")
    first = snapshot()
    call_command("load_demo")
    assert snapshot() == first


def test_an_hour_later_only_the_new_hour_is_added():
    with time_machine.travel(datetime(2026, 11, 25, 12, 30, tzinfo=UTC), tick=False):
        call_command("load_demo")
    before = MetricPoint.objects.count()
    with time_machine.travel(datetime(2026, 11, 25, 13, 30, tzinfo=UTC), tick=False):
        call_command("load_demo")
    # One new hour for every metric of every version with history.
    per_hour = sum(len(s["versions"]) for s in DEMO_SYSTEMS) * len(DEMO_METRICS)
    assert MetricPoint.objects.count() == before + per_hour


def test_the_demo_shows_systems_in_several_stages_with_history():
    call_command("load_demo")
    assert AISystem.objects.values("stage").distinct().count() >= 4
    assert AISystem.objects.values("risk_tier").distinct().count() >= 3
    assert AISystem.objects.exclude(deployed_version=None).count() >= 2
    # Sixty days of hourly history for the deployed customer-service model.
    version = ModelVersion.objects.get(version="3.0.0")
    days = MetricRollup.objects.filter(model_version=version, granularity="day")
    assert days.values("bucket_start").distinct().count() >= 60


def test_it_refuses_to_publish_demo_passwords_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("load_demo")
    assert get_user_model().objects.count() == 0


def test_the_demo_has_a_signed_owner_and_work_waiting_for_the_owner_and_the_lead():
    call_command("load_demo")
    signed = ownership_status(AISystem.objects.get(slug="customer-service-assistant"))
    assert signed.signed and signed.ai_ops and signed.leads_attested == 1
    waiting = ownership_status(AISystem.objects.get(slug="loan-document-classifier"))
    assert waiting.ownership.owner.username == "owner"
    assert not waiting.signed
    assert waiting.leads_attested == 0 and len(waiting.leads) == 1


def test_the_demo_has_a_change_request_to_review_and_an_open_escalation():
    call_command("load_demo")
    assert ChangeRequest.objects.get(system__slug="customer-service-assistant").state == "submitted"
    escalation = Escalation.objects.get(source="pipeline_report")
    assert (escalation.state, escalation.assignee.username) == ("open", "owner")


def test_the_demo_sources_show_healthy_drifting_warning_and_stale_sources():
    call_command("load_demo")
    status = {
        (check.source.slug, check.kind): check.status
        for check in SourceCheck.objects.select_related("source")
    }
    assert status["core-banking-crm", "drift"] == "ok"
    assert status["core-banking-crm", "uptime"] == "ok"
    assert status["loan-origination-erp", "integration"] == "ok"
    assert status["carrier-tracking-api", "drift"] == "fail"
    assert status["contract-repository", "schema"] == "warn"
    assert status["contract-repository", "completeness"] == "warn"
    assert status["branch-scanner-feed", "freshness"] == "fail"
    # Each failing source escalated to the systems it feeds, once.
    assert sorted(
        Escalation.objects.filter(source="data_quality").values_list("system__slug", "dedup_key")
    ) == [
        ("loan-document-classifier", "data_quality:branch-scanner-feed:freshness"),
        ("logistics-eta-predictor", "data_quality:carrier-tracking-api:drift"),
    ]


@time_machine.travel(datetime(2026, 11, 25, 12, 30, tzinfo=UTC), tick=False)
def test_loading_the_demo_sources_twice_adds_nothing():
    call_command("load_demo")
    counts = (SourceDelivery.objects.count(), FieldProfile.objects.count())
    references = ReferenceProfile.objects.count()
    call_command("load_demo")
    assert (SourceDelivery.objects.count(), FieldProfile.objects.count()) == counts
    assert ReferenceProfile.objects.count() == references
    assert DataSource.objects.count() == 5


def test_the_demo_has_every_stage_and_a_rollout_waiting_at_25_percent():
    call_command("load_demo")
    assert set(AISystem.objects.values_list("stage", flat=True)) == {
        "operational_architecture",
        "evaluation_infrastructure",
        "ownership_governance",
        "staged_rollout",
        "production",
    }
    screener = AISystem.objects.get(slug="card-fraud-screener")
    assert system_gates(screener)["verdict"] == "ready"
    rollout = Rollout.objects.get(system=screener, is_rehearsal=False)
    assert rollout.state == "running"
    assert [(s.percent, s.state) for s in rollout.steps.order_by("index")] == [
        (10, "approved"),
        (25, "awaiting_approval"),
        (50, "pending"),
        (100, "pending"),
    ]
    body, _etag = deployment_status(screener)
    assert (body["version"], body["previous_version"], body["cohort_percent"]) == (
        "2.4.0",
        "2.3.0",
        25,
    )
    # The loan classifier's readiness page shows a mix of met and unmet indicators.
    gates = system_gates(AISystem.objects.get(slug="loan-document-classifier"))
    met = [indicator.met for indicator in gates["indicators"]]
    assert any(met) and not all(met)


def test_the_demo_has_assessments_with_plans_and_a_completed_action():
    call_command("load_demo")
    assistant = AISystem.objects.get(slug="customer-service-assistant")
    assert AssessmentAnswer.objects.filter(system=assistant).exists()
    items = ActionItem.objects.filter(system=assistant)
    assert items.filter(status="open").exists()
    assert items.filter(status="done").count() == 1


def test_the_demo_has_a_ready_evidence_pack_of_the_screener():
    call_command("load_demo")
    pack = EvidencePack.objects.get(system__slug="card-fraud-screener")
    assert pack.status == "ready"
    assert pack.bundle["rollouts"] and pack.bundle["audit_chain"]["verified"] is True
