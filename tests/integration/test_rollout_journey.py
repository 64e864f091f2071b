"""The whole journey, on PostgreSQL and Redis with a real Celery worker and real Celery beat.

A system moves from stage 1 to 4 as its criteria are met; readiness turns
ready as data accumulates; a rollout goes 10 -> 25 -> 50 -> 100 with
approvals; a bad batch at 25% pauses it within one evaluation cycle and opens
an escalation; resuming needs a root cause; a rollback returns the share to 0%.

The worker runs in this process (tests/integration/conftest.py); beat runs as
its own program against the test database, with the gate schedules set to one
second so the journey takes seconds, not minutes. Everything a pipeline does
goes through the REST API with its token; what people do goes through the
services the pages call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.errors import ApplicationError
from core.roles import Role
from governance import services as governance
from governance.models import Escalation, RoutingPolicy
from governance.services import escalations
from registry.models import AISystem, MetricSpec, ModelVersion
from registry.services import api_token_create, data_source_create
from rollout import services
from rollout.models import GateSnapshot, Rollout

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
GATE_TASKS = ["rollout.tasks.evaluate_checkpoints", "rollout.tasks.evaluate_gates"]


def wait_for(condition, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def beat(worker, tmp_path):
    """Celery beat as its own program, sending the gate tasks every second."""
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    for name in GATE_TASKS:
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": name, "interval": every, "queue": "gates", "enabled": True},
        )
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "DEBUG": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(tmp_path / "beat"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def person(django_user_model, username: str, role: Role):
    user = django_user_model.objects.create_user(username=username, password="pw")
    user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user


def api(client, method: str, path: str, token: str, body=None):
    response = getattr(client, method)(
        f"/api/v1/{path}",
        json.dumps(body) if body is not None else None,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def points(now: datetime, quality: float, count: int = 4) -> list[dict]:
    """A batch of the candidate's checkpoint metrics, a few milliseconds apart."""
    batch = []
    for i in range(count):
        moment = at(now + timedelta(milliseconds=10 * i))
        batch += [
            {"metric": "output_quality", "value": quality, "at": moment},
            {"metric": "error_rate", "value": 0.004, "at": moment},
            {"metric": "adoption", "value": 0.45, "at": moment},
        ]
    return batch


def latest_snapshot(system):
    GateSnapshot.objects.filter(system=system).delete()
    return wait_for(
        lambda: GateSnapshot.objects.filter(system=system).first(), "beat's gate snapshot"
    )


def test_a_system_goes_from_stage_1_to_a_completed_rollout(beat, client, django_user_model):
    dana = person(django_user_model, "dana", Role.OPERATIONS_DIRECTOR)
    omar = person(django_user_model, "omar", Role.SYSTEM_OWNER)
    ada = person(django_user_model, "ada", Role.APPROVER)
    bo = person(django_user_model, "bo", Role.BUSINESS_UNIT_LEAD)
    vic = person(django_user_model, "vic", Role.VIEWER)
    system = AISystem.objects.create(
        slug="fraud", name="Fraud screener", business_unit="Cards", risk_tier="medium"
    )
    for key, kind, direction, warning, critical, aggregation in [
        ("output_quality", "quality", "higher_is_better", 0.9, 0.85, "mean"),
        ("error_rate", "error_rate", "lower_is_better", 0.01, 0.02, "mean"),
        ("adoption", "adoption", "higher_is_better", 0.3, 0.15, "last"),
    ]:
        MetricSpec.objects.create(
            system=system,
            key=key,
            name=key,
            kind=kind,
            direction=direction,
            warning=warning,
            critical=critical,
            aggregation=aggregation,
        )
    deployed = ModelVersion.objects.create(
        system=system, version="1.0.0", artifact_uri="s3://m/1.0.0", status="deployed"
    )
    AISystem.objects.filter(pk=system.pk).update(deployed_version=deployed)
    pipeline = api_token_create(by=dana, name="fraud-ci", system=system)[1]
    now = datetime.now(UTC)

    # Stage 1: the data flow is documented and delivering (daily extracts, 30 of them).
    source = data_source_create(
        by=dana,
        slug="cards-ledger",
        name="Cards ledger",
        kind="database",
        owner=omar,
        expected_interval_seconds=86400,
        expected_schema={"amount": "float"},
        systems=[system],
    )
    feed = api_token_create(by=dana, name="ledger-etl", data_source=source)[1]
    for day in range(30, 0, -1):
        api(
            client,
            "post",
            "sources/cards-ledger/deliveries/",
            feed,
            {"at": at(now - timedelta(days=day) + timedelta(minutes=5)), "rows": 5000 + day},
        )
    api(
        client,
        "post",
        "sources/cards-ledger/profiles/",
        feed,
        {
            "rows": 5000,
            "fields": [{"name": "amount", "type": "float", "missing_share": 0.001}],
        },
    )
    api(
        client, "post", "sources/cards-ledger/integration-runs/", feed, {"passed": 400, "failed": 1}
    )
    snapshot = latest_snapshot(system)
    assert snapshot.stage == "operational_architecture"
    assert snapshot.criteria_met == snapshot.criteria_total == 3, snapshot.criteria
    system = services.stage_advance(system=system, by=dana)

    # Stage 2: metrics arrive (15 days of hourly history), and a test alert is acknowledged.
    history = [
        {"metric": key, "value": value, "at": at(now - timedelta(hours=hours))}
        for hours in range(15 * 24, 0, -1)
        for key, value in (("output_quality", 0.93), ("error_rate", 0.004), ("adoption", 0.45))
    ]
    api(
        client,
        "post",
        "systems/fraud/metrics/",
        pipeline,
        {"model_version": "1.0.0", "points": history},
    )
    with pytest.raises(ApplicationError, match="Not every exit criterion"):
        services.stage_advance(system=system, by=dana)
    alert = services.alert_test_send(system=system, by=dana)
    governance.ownership_assign(
        system=system, by=dana, owner=omar, budget_authority="HKD 2m", reason="launch"
    )
    escalations.escalation_acknowledge(escalation=alert, by=omar)
    system = services.stage_advance(system=system, by=dana)

    # Stage 3: ownership, staff, briefings, the escalation path; readiness turns ready.
    governance.accountability_sign(system=system, by=omar)
    governance.ai_ops_member_add(system=system, by=dana, user=vic)
    lead = governance.business_unit_lead_add(system=system, by=dana, user=bo, business_unit="Cards")
    governance.briefing_attest(lead=lead, by=bo)
    RoutingPolicy.objects.filter(system=system).update(level3_user=dana)
    assert ada.pk  # an approver exists: the change-management protocol can run
    snapshot = latest_snapshot(system)
    assert snapshot.verdict == "conditional"  # no rollback plan, no drill yet
    services.rollback_plan_save(system=system, by=omar, text="Router to 1.0.0; confirm; page.")
    candidate = ModelVersion.objects.create(system=system, version="2.0.0", artifact_uri="s3://m/2")
    rehearsal = services.rollout_plan(
        system=system,
        candidate=candidate,
        by=dana,
        observation_seconds=1,
        min_points=1,
        is_rehearsal=True,
    )
    services.rollout_start(rollout=rehearsal, by=dana)
    services.rollout_roll_back(rollout=rehearsal, by=dana, reason="drill", drill=True)
    snapshot = latest_snapshot(system)
    assert snapshot.verdict == "ready", snapshot.indicators
    system = services.stage_advance(system=system, by=dana)
    assert system.stage == "staged_rollout"

    # Stage 4: the candidate, approved through a change request, rolls out.
    change = governance.change_request_open(
        system=system,
        by=omar,
        kind="model_update",
        title="2.0.0",
        description="d",
        rationale="r",
        model_version=candidate,
    )
    governance.change_request_submit(change=change, by=omar)
    governance.change_request_approve(change=change, by=ada, comment="ok")
    rollout = services.rollout_plan(
        system=system, candidate=candidate, by=dana, observation_seconds=2, min_points=3
    )
    services.rollout_start(rollout=rollout, by=dana)

    def step_awaiting(percent: int):
        def check():
            rollout.refresh_from_db()
            step = rollout.steps.get(index=rollout.current_index)
            return step if (step.percent, step.state) == (percent, "awaiting_approval") else None

        return check

    def status():
        return api(client, "get", "systems/fraud/rollout/", pipeline)

    for percent in (10, 25, 50, 100):
        api(
            client,
            "post",
            "systems/fraud/metrics/",
            pipeline,
            {"model_version": "2.0.0", "points": points(datetime.now(UTC), 0.93)},
        )
        assert status()["cohort_percent"] == percent
        if percent == 25:
            # A bad batch: the worker's evaluation pauses the rollout and escalates.
            api(
                client,
                "post",
                "systems/fraud/metrics/",
                pipeline,
                {"model_version": "2.0.0", "points": points(datetime.now(UTC), 0.2, count=20)},
            )
            wait_for(
                lambda: Rollout.objects.filter(pk=rollout.pk, state="paused").exists(),
                "the breach to pause the rollout",
            )
            assert status()["state"] == "paused"
            escalation = Escalation.objects.get(system=system, source="rollout_checkpoint")
            assert escalation.state == "open" and escalation.assignee == omar
            with pytest.raises(ApplicationError, match="root cause"):
                services.rollout_resume(rollout=rollout, by=dana, root_cause="", note="fixed")
            services.rollout_resume(
                rollout=rollout, by=dana, root_cause="integration", note="Upstream feed replayed."
            )
            api(
                client,
                "post",
                "systems/fraud/metrics/",
                pipeline,
                {"model_version": "2.0.0", "points": points(datetime.now(UTC), 0.93)},
            )
        step = wait_for(step_awaiting(percent), f"the {percent}% checkpoint to pass", timeout=40)
        services.cohort_approve(step=step, by=dana)

    rollout.refresh_from_db()
    assert rollout.state == "completed"
    system.refresh_from_db()
    assert system.deployed_version == candidate
    assert status() | {"updated_at": None} == {
        "state": "completed",
        "version": "2.0.0",
        "previous_version": "1.0.0",
        "cohort_percent": 100,
        "updated_at": None,
    }

    # A rollback of the next candidate returns its share to 0% at once.
    third = ModelVersion.objects.create(system=system, version="3.0.0", artifact_uri="s3://m/3")
    change = governance.change_request_open(
        system=system,
        by=omar,
        kind="model_update",
        title="3.0.0",
        description="d",
        rationale="r",
        model_version=third,
    )
    governance.change_request_submit(change=change, by=omar)
    governance.change_request_approve(change=change, by=ada, comment="ok")
    next_rollout = services.rollout_plan(
        system=system, candidate=third, by=dana, observation_seconds=60, min_points=3
    )
    services.rollout_start(rollout=next_rollout, by=dana)
    assert status()["cohort_percent"] == 10
    services.rollout_roll_back(rollout=next_rollout, by=dana, reason="latency regression")
    assert (status()["state"], status()["cohort_percent"]) == ("rolled_back", 0)
