"""The evidence pack of one AI system: every section with the right figures, and who gets it.

Dana directs operations, Omar owns the loan classifier, Ada approves changes,
Abe approves too, Bo leads the business unit, Vic views (an auditor) and
Charlie has no role. The system is seeded through the real services: it
stepped back to Stage 3 and advanced to Stage 4 again, Ada approved release
2.0.0 and Abe rejected a parameter change, and 2.0.0 rolled out through 10%,
25% (which failed its checkpoint, paused, and resumed on output quality), 50%
(paused by hand over a freeze) and 100%. Packs are built by the Celery task,
eagerly, after the request's commit. The clock is frozen.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from kombu.exceptions import OperationalError

from core.errors import ApplicationError
from governance.audit import HASH_MISMATCH
from governance.models import AccountabilitySignature, Approval, AuditEvent, Escalation
from governance.services import change_request_open, change_request_reject, change_request_submit
from governance.services.escalations import escalation_acknowledge, escalation_resolve
from registry.models import AISystem
from registry.services import api_token_create
from rollout import evidence_services
from rollout.evidence import SECTIONS, bundle_json, evidence_bundle, evidence_html
from rollout.evidence_services import evidence_pack_build, evidence_pack_request
from rollout.models import CohortApproval, EvidencePack, Rollout
from rollout.selectors import system_gates
from rollout.services import (
    alert_test_send,
    cohort_approve,
    gates_evaluate,
    rollout_pause,
    rollout_resume,
    rollout_roll_back,
    rollout_start,
    stage_advance,
    stage_step_back,
)
from rollout.tasks import build_evidence_pack
from tests.registry.factories import AISystemFactory
from tests.rollout.test_rollouts import (
    HOUR,
    approved_version,
    awaiting,
    current,
    drill_version,
    paused_by_breach,
    plan,
    stage_4_system,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
END = NOW + timedelta(hours=4, minutes=10)  # the seeded history's last moment: four cohorts


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def system(director, owner, lead):
    return stage_4_system("loan-classifier", "medium", director, owner, lead)


def seed(system, clock, *, director, owner, approver, abe):
    """The history of the module docstring, through the services; returns the rollout."""
    from governance.services.escalations import routing_for

    # The escalation path needs a level-3 person before Stage 3 can be left again.
    routing = routing_for(system)
    routing.level3_user = director
    routing.save()
    stage_step_back(system=system, by=director, reason="Re-check the escalation path")
    stage_advance(system=system, by=director)
    candidate = approved_version(system, owner, [approver])
    change = change_request_open(
        system=system,
        by=owner,
        kind="parameter_change",
        title="Lower the decision threshold",
        description="0.7 to 0.65",
        rationale="More approvals of thin-file applicants",
        parameters={"threshold": 0.65},
    )
    change_request_submit(change=change, by=owner)
    change_request_reject(change=change, by=abe, reason="Not without a fairness review")

    rollout = rollout_start(rollout=plan(system, candidate, director), by=director)
    cohort_approve(step=awaiting(rollout, clock), by=director)  # 10%
    paused_by_breach(rollout)  # 25% fails, pauses, escalates
    breach = Escalation.objects.get(dedup_key=f"rollout:{rollout.pk}:checkpoint")
    escalation_resolve(
        escalation=breach, by=director, note="Bad feature join fixed", root_cause="output_quality"
    )
    clock.shift(600)  # past the bad points: the cohort observes anew from the resume
    rollout_resume(rollout=rollout, by=director, root_cause="output_quality", note="Join fixed")
    cohort_approve(step=awaiting(rollout, clock), by=director)  # 25%
    rollout_pause(rollout=rollout, by=director, reason="Month-end freeze")
    rollout_resume(rollout=rollout, by=director, root_cause="other", note="Freeze over")
    cohort_approve(step=awaiting(rollout, clock), by=director)  # 50%
    cohort_approve(step=awaiting(rollout, clock), by=director)  # 100%: completed
    gates_evaluate()
    rollout.refresh_from_db()
    return rollout


@pytest.fixture
def seeded(system, clock, director, owner, approver, abe):
    return seed(system, clock, director=director, owner=owner, approver=approver, abe=abe)


def build(system, by, django_capture_on_commit_callbacks) -> EvidencePack:
    with django_capture_on_commit_callbacks(execute=True):
        pack = evidence_pack_request(system=system, by=by)
    pack.refresh_from_db()
    return pack


@pytest.fixture
def pack(seeded, system, viewer, django_capture_on_commit_callbacks) -> EvidencePack:
    return build(system, viewer, django_capture_on_commit_callbacks)


def iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at else None


# --- The bundle: every section, with the right figures ------------------------------------------


def test_the_pack_is_built_with_every_section(pack, system):
    assert pack.status == "ready", pack.error
    assert (pack.error, pack.finished_at) == ("", END)
    assert set(SECTIONS) <= set(pack.bundle)
    assert pack.bundle["generated_at"] == iso(END)


def test_the_system_section_names_the_deployed_version(pack, seeded):
    assert pack.bundle["system"] == {
        "slug": "loan-classifier",
        "name": "Loan classifier",
        "business_unit": seeded.system.business_unit,
        "tier": "medium",
        "stage": "staged_rollout",
        "created_at": iso(seeded.system.created_at),
        "deployed_version": {"version": "2.0.0", "content_hash": seeded.candidate.content_hash},
    }


def test_the_stage_history_lists_the_transitions_in_order(pack, system):
    events = AuditEvent.objects.filter(system_id=system.pk, action="system.stage").order_by("id")
    transitions = pack.bundle["stage_history"]["transitions"]
    assert [(t["from"], t["to"], t["actor"]) for t in transitions] == [
        ("staged_rollout", "ownership_governance", "dana"),
        ("ownership_governance", "staged_rollout", "dana"),
    ]
    assert [t["event_id"] for t in transitions] == [event.pk for event in events]
    assert transitions[0]["reason"] == "Re-check the escalation path"
    assert transitions[1]["reason"].startswith("exit criteria met: ")
    assert transitions[0]["at"] == iso(NOW)
    [day] = pack.bundle["stage_history"]["daily"]
    assert (day["day"], day["stage"], day["verdict"]) == (
        "2026-11-25",
        "staged_rollout",
        "conditional",
    )
    assert (day["indicators_met"], day["unmet"]) == (6, ["rollback"])


def test_the_readiness_section_has_each_indicator_with_its_evidence(pack, system):
    readiness = pack.bundle["readiness"]
    gates = system_gates(system, now=END)
    assert (readiness["verdict"], readiness["indicators_met"], readiness["unmet"]) == (
        "conditional",
        6,
        ["rollback"],
    )
    assert [i["number"] for i in readiness["indicators"]] == [1, 2, 3, 4, 5, 6, 7]
    assert [
        (i["key"], i["met"], i["value"], i["threshold"], i["window"], i["evidence"])
        for i in readiness["indicators"]
    ] == [
        (i.key, i.met, i.value, i.threshold, i.window, list(i.evidence))
        for i in gates["indicators"]
    ]
    uptime = readiness["indicators"][0]
    assert uptime["label"] == "Data pipeline uptime above 99.5% over 30 days"
    assert uptime["threshold"] == "every pipeline above 99.5%"
    assert uptime["window"] == "30 days"
    assert uptime["evidence"] and uptime["evidence"][0].endswith("(100.00%)")
    [waiver] = readiness["waivers"]
    assert (waiver["unmet"], waiver["justification"], waiver["granted_by"]["username"]) == (
        ["rollback"],
        "Drill on Monday",
        "dana",
    )
    assert readiness["exit_criteria"]["stage"] == "staged_rollout"
    assert readiness["exit_criteria"]["met"] is True


def test_the_ownership_section_holds_the_owners_signature(pack):
    ownership = pack.bundle["ownership"]
    signature = AccountabilitySignature.objects.get(voided_at__isnull=True)
    assert ownership["owner"] == {"username": "omar", "name": "Omar Owner"}
    assert (ownership["budget_authority"], ownership["signed"]) == ("EUR 250k", True)
    signed = ownership["signature"]
    assert signed["statement_hash"] == signature.statement_hash
    assert signed["statement_hash"] == hashlib.sha256(signature.statement_text.encode()).hexdigest()
    assert signed["statement_hash_matches_text"] is True
    assert signed["statement_text"] == signature.statement_text
    assert (signed["signed_at"], signed["expires_at"]) == (
        iso(signature.signed_at),
        iso(signature.expires_at),
    )
    assert ownership["statement_hash"] == signature.statement_hash
    assert [m["person"]["username"] for m in ownership["ai_ops"]] == ["omar"]
    [bo] = ownership["leads"]
    assert (bo["person"]["username"], bo["business_unit"]) == ("bo", "Retail")
    assert bo["briefing_attested_at"] == iso(NOW)
    assert len(ownership["signature_history"]) == 1


def test_the_change_requests_carry_their_approvals_and_evidence(pack, seeded):
    release, threshold = pack.bundle["change_requests"]
    assert (release["title"], release["kind"], release["state"]) == (
        "Release 2.0.0",
        "model_update",
        "deployed",
    )
    assert release["bound_hash"] == seeded.candidate.content_hash
    assert (release["approvals_needed"], release["approvals_live"]) == (1, 1)
    [approval] = release["approvals"]
    stored = Approval.objects.get(change_request_id=release["id"])
    assert approval["approver"]["username"] == "ada"
    assert approval["at"] == iso(stored.decided_at)
    assert approval["bound_hash"] == seeded.candidate.content_hash
    assert approval["matches_bound_hash"] is True
    assert approval["snapshot"] == stored.metric_snapshot
    assert [m["metric"] for m in approval["snapshot"]] == ["output_quality"]
    assert (threshold["kind"], threshold["state"], threshold["approvals"]) == (
        "parameter_change",
        "rejected",
        [],
    )
    assert threshold["closing_reason"] == "Not without a fairness review"
    assert threshold["parameters"] == {"threshold": 0.65}
    assert sum(len(c["approvals"]) for c in pack.bundle["change_requests"]) == 1


def test_the_escalations_are_listed_with_their_outcome(pack, seeded, system):
    escalations = pack.bundle["escalations"]
    assert len(escalations) == Escalation.objects.filter(system=system).count() == 2
    test_alert, breach = escalations
    assert (test_alert["is_test"], test_alert["state"]) == (True, "acknowledged")
    assert test_alert["acknowledged_by"]["username"] == "omar"
    assert (breach["source"], breach["severity"], breach["state"], breach["level"]) == (
        "rollout_checkpoint",
        "critical",
        "resolved",
        1,
    )
    assert (breach["root_cause"], breach["resolution_note"]) == (
        "output_quality",
        "Bad feature join fixed",
    )
    assert breach["dedup_key"] == f"rollout:{seeded.pk}:checkpoint"


def test_the_rollout_has_each_cohorts_verdict_approvals_and_pauses(pack, seeded):
    [rollout] = pack.bundle["rollouts"]
    assert (rollout["id"], rollout["state"], rollout["is_rehearsal"]) == (
        seeded.pk,
        "completed",
        False,
    )
    assert rollout["candidate"]["version"] == "2.0.0"
    assert rollout["previous_version"] == "1.0.0"
    assert rollout["change_request_id"] == pack.bundle["change_requests"][0]["id"]
    assert (rollout["cohorts"], rollout["observation_seconds"], rollout["min_points"]) == (
        [10, 25, 50, 100],
        HOUR,
        5,
    )
    assert rollout["checkpoint_metrics"] == [{"metric": "output_quality", "threshold": 0.8}]
    steps = rollout["steps"]
    assert [(s["percent"], s["state"], s["verdict"]) for s in steps] == [
        (10, "approved", "pass"),
        (25, "approved", "pass"),
        (50, "approved", "pass"),
        (100, "approved", "pass"),
    ]
    for step in steps:
        [metric] = step["metrics"]
        assert (metric["metric"], metric["status"], metric["value"], metric["threshold"]) == (
            "output_quality",
            "pass",
            0.95,
            0.8,
        )
        assert metric["points"] == 5
        [approval] = step["approvals"]
        stored = CohortApproval.objects.get(step__rollout=seeded, step__index=step["index"])
        assert approval["approver"]["username"] == "dana"
        assert approval["at"] == iso(stored.at)
        assert approval["snapshot"] == stored.snapshot
        assert approval["snapshot"]["metrics"][0]["value"] == 0.95
    automatic, manual = rollout["pauses"]
    assert (automatic["cohort_percent"], automatic["automatic"]) == (25, True)
    assert (automatic["root_cause"], automatic["root_cause_note"]) == (
        "output_quality",
        "Join fixed",
    )
    assert automatic["escalation_id"] == pack.bundle["escalations"][1]["id"]
    assert (manual["cohort_percent"], manual["automatic"], manual["reason"]) == (
        50,
        False,
        "Month-end freeze",
    )
    assert (manual["root_cause"], manual["paused_by"]["username"]) == ("other", "dana")


def test_the_audit_chain_verifies_and_counts_every_event(pack, system):
    chain = pack.bundle["audit_chain"]
    # The build's own event (with the pack's hash) comes after what it verified.
    built = AuditEvent.objects.order_by("id").last()
    assert (built.action, built.after["sha256"]) == ("evidence.build", pack.sha256)
    assert chain["verified"] is True
    assert chain["first_broken"] is None
    assert chain["events"] == chain["verified_events"] == AuditEvent.objects.count() - 1
    assert chain["head_hash"] == built.prev_hash == built.after["audit_head_hash"]
    assert chain["system_events"] == (
        AuditEvent.objects.filter(system_id=system.pk, id__lt=built.pk).count()
    )


def tamper(sql: str, params: list) -> None:
    """Run SQL on the audit table as an intruder with the owner's rights would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE governance_auditevent DISABLE TRIGGER USER")
        try:
            cursor.execute(sql, params)
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE governance_auditevent ENABLE TRIGGER USER")


def test_a_tampered_audit_event_shows_as_a_broken_chain(
    seeded, system, viewer, django_capture_on_commit_callbacks
):
    edited = AuditEvent.objects.filter(action="rollout.approve").order_by("id").first()
    tamper(
        "UPDATE governance_auditevent SET actor_label = %s WHERE id = %s", ["mallory", edited.pk]
    )

    pack = build(system, viewer, django_capture_on_commit_callbacks)

    chain = pack.bundle["audit_chain"]
    assert pack.status == "ready"
    assert chain["verified"] is False
    assert chain["first_broken"] == {
        "event_id": edited.pk,
        "action": "rollout.approve",
        "at": iso(edited.at),
        "reason": HASH_MISMATCH,
    }
    assert chain["verified_events"] == AuditEvent.objects.filter(id__lt=edited.pk).count()
    assert chain["events"] == AuditEvent.objects.count() - 1
    assert chain["head_hash"] == AuditEvent.objects.filter(id__lt=edited.pk).last().hash
    assert "BROKEN" in pack.html
    assert f"#{edited.pk}" in pack.html


def test_a_system_with_no_history_has_an_empty_state_in_each_section(
    viewer, django_capture_on_commit_callbacks
):
    quiet = AISystemFactory(slug="quiet", name="Quiet system")

    pack = build(quiet, viewer, django_capture_on_commit_callbacks)

    bundle = pack.bundle
    assert bundle["stage_history"] == {"transitions": [], "daily": []}
    assert (bundle["change_requests"], bundle["escalations"], bundle["rollouts"]) == ([], [], [])
    assert bundle["ownership"]["owner"] is None and bundle["ownership"]["signature"] is None
    assert bundle["system"]["deployed_version"] is None
    assert bundle["readiness"]["verdict"] == "defer"
    for empty in (
        "No stage transition recorded",
        "No daily record yet",
        "No waiver granted.",
        "Not signed: no signature in force.",
        "No AI-operations member.",
        "No business-unit lead named.",
        "No change request.",
        "No escalation.",
        "No rollout.",
        "No version deployed",
    ):
        assert empty in pack.html, empty


# --- The report --------------------------------------------------------------------------------


def test_the_report_is_self_contained_and_prints_cleanly(pack):
    html = pack.html
    assert html.startswith("<!DOCTYPE html>")
    assert "<style>" in html and "@media print" in html and "@page" in html
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert 'src="http' not in html and "url(" not in html and "@import" not in html
    for heading in (
        "The system",
        "Stage history",
        "Readiness",
        "Ownership and accountability",
        "Change requests",
        "Escalations",
        "Rollouts",
        "Audit chain",
    ):
        assert f">{heading}</h2>" in html, heading


def test_the_report_shows_the_figures_of_the_bundle(pack, seeded):
    html = pack.html
    signature = AccountabilitySignature.objects.get(voided_at__isnull=True)
    assert signature.statement_hash in html
    assert seeded.candidate.content_hash in html
    assert pack.sha256 in html
    assert pack.bundle["audit_chain"]["head_hash"] in html
    assert "Cohort 25%: Approved · checkpoint Pass" in html
    assert "0.95" in html and "0.8" in html
    assert "Month-end freeze" in html and "Inconsistent output quality at volume" in html
    assert "Re-check the escalation path" in html
    assert "2026-11-25 12:00" in html  # times in UTC, to the minute or second


def test_the_report_escapes_what_people_wrote(system, director, viewer):
    stage_step_back(system=system, by=director, reason='<img src="http://x/y.png">')

    html = evidence_html(evidence_bundle(system, now=NOW))

    assert "<img" not in html
    assert "&lt;img src=&quot;http://x/y.png&quot;&gt;" in html


def test_the_bundle_takes_the_same_queries_however_long_the_history(
    seeded, system, director, owner, approver
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            evidence_bundle(system, now=END)
        return len(captured)

    before = queries()
    for version in ("2.1.0", "2.2.0", "2.3.0"):
        approved_version(system, owner, [approver], version=version)
    rehearsal = rollout_start(
        rollout=plan(system, drill_version(system), director, is_rehearsal=True), by=director
    )
    rollout_pause(rollout=rehearsal, by=director, reason="Drill: hold")
    rollout_roll_back(rollout=rehearsal, by=director, reason="Drill", drill=True)
    escalation_acknowledge(escalation=alert_test_send(system=system, by=owner), by=owner)

    assert queries() == before


@pytest.mark.parametrize(
    ("asked", "language"), [("zh-hant", "zh-hant"), ("fr", "en"), (None, "en")]
)
def test_the_report_is_written_in_the_requesters_language(
    system, viewer, asked, language, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        pack = evidence_pack_request(system=system, by=viewer, language=asked)
    pack.refresh_from_db()

    assert pack.language == language
    assert f'<html lang="{language}">' in pack.html


def test_a_page_request_takes_the_language_of_the_page(
    client, system, viewer, django_capture_on_commit_callbacks
):
    client.force_login(viewer)
    client.cookies["django_language"] = "zh-hant"

    with django_capture_on_commit_callbacks(execute=True):
        client.post(list_url(system))

    assert EvidencePack.objects.get().language == "zh-hant"


def test_the_bundle_file_hashes_to_the_stored_sha256(pack):
    assert hashlib.sha256(bundle_json(pack.bundle)).hexdigest() == pack.sha256
    assert json.loads(bundle_json(pack.bundle)) == pack.bundle


# --- Building: idempotent, failures recorded ---------------------------------------------------


def test_the_request_is_audited_with_the_pack(system, viewer, django_capture_on_commit_callbacks):
    pack = build(system, viewer, django_capture_on_commit_callbacks)

    requested = AuditEvent.objects.get(action="evidence.request")
    assert (requested.actor_label, requested.object_type, requested.object_id) == (
        "vic",
        "rollout.evidencepack",
        str(pack.pk),
    )
    assert requested.system_slug == "loan-classifier"
    assert (pack.requested_by, pack.requested_at) == (viewer, NOW)


def test_the_task_is_queued_only_after_the_commit(
    system, viewer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pack = evidence_pack_request(system=system, by=viewer)
    assert len(callbacks) == 1
    pack.refresh_from_db()
    assert pack.status == "pending"


def test_building_twice_changes_nothing(pack):
    finished, sha = pack.finished_at, pack.sha256
    events = AuditEvent.objects.count()

    assert build_evidence_pack(pack.pk) == "ready"

    pack.refresh_from_db()
    assert (pack.finished_at, pack.sha256, AuditEvent.objects.count()) == (finished, sha, events)


def test_a_pack_that_is_gone_is_ignored():
    assert evidence_pack_build(pack_id=987654) == "gone"


def test_a_failure_is_recorded_on_the_pack(
    system, viewer, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(system, *, now):
        raise RuntimeError("the selector fell over")

    monkeypatch.setattr(evidence_services, "evidence_bundle", broken)

    pack = build(system, viewer, django_capture_on_commit_callbacks)

    assert (pack.status, pack.error) == ("failed", "RuntimeError: the selector fell over")
    assert (pack.bundle, pack.html, pack.sha256) == (None, "", "")
    assert pack.finished_at == NOW
    failed = AuditEvent.objects.get(action="evidence.fail")
    assert failed.after == {"status": "failed", "error": "RuntimeError: the selector fell over"}
    # A failed pack stays failed: a new request builds a new one.
    assert build_evidence_pack(pack.pk) == "failed"


def test_a_database_error_while_building_is_recorded_too(
    system, viewer, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(system, *, now):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(evidence_services, "evidence_bundle", broken)

    pack = build(system, viewer, django_capture_on_commit_callbacks)

    assert pack.status == "failed"
    assert "no_such_table" in pack.error


def test_a_broker_outage_fails_the_pack_instead_of_leaving_it_pending(
    system, viewer, monkeypatch, django_capture_on_commit_callbacks
):
    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(build_evidence_pack, "apply_async", down)

    pack = build(system, viewer, django_capture_on_commit_callbacks)

    assert pack.status == "failed"
    assert "could not be queued" in pack.error


def test_the_build_is_sent_to_the_default_queue_not_the_gates(
    system, viewer, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(build_evidence_pack, "apply_async", lambda *a, **kw: sent.append((a, kw)))

    with django_capture_on_commit_callbacks(execute=True):
        pack = evidence_pack_request(system=system, by=viewer)

    assert sent == [(((pack.pk,),), {"queue": "default"})]


@pytest.mark.parametrize("who", ["director", "owner", "viewer"])
def test_directors_owners_and_viewers_may_request(
    request, system, who, django_capture_on_commit_callbacks
):
    pack = build(system, request.getfixturevalue(who), django_capture_on_commit_callbacks)
    assert pack.status == "ready"


@pytest.mark.parametrize("who", ["approver", "outsider"])
def test_others_may_not_request_and_nothing_is_written(request, system, who):
    events = AuditEvent.objects.count()
    with pytest.raises(ApplicationError) as error:
        evidence_pack_request(system=system, by=request.getfixturevalue(who))
    assert error.value.status == 403
    assert EvidencePack.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_a_pipeline_may_not_request(system):
    from registry.auth import PipelineUser

    token, _secret = api_token_create(by=None, name="ci", system=system)
    with pytest.raises(ApplicationError) as error:
        evidence_pack_request(system=system, by=PipelineUser(token))
    assert error.value.status == 403
    assert EvidencePack.objects.count() == 0


# --- Pages ---------------------------------------------------------------------------------------


def list_url(system) -> str:
    return reverse("evidence:list", args=[system.slug])


def test_the_page_lists_packs_newest_first_with_their_downloads(
    client, system, viewer, django_capture_on_commit_callbacks
):
    first = build(system, viewer, django_capture_on_commit_callbacks)
    pending = EvidencePack.objects.create(system=system, requested_by=viewer, requested_at=NOW)
    client.force_login(viewer)

    response = client.get(list_url(system))

    assert response.status_code == 200
    rows = [pack.pk for pack in response.context["page"].object_list]
    assert rows == [pending.pk, first.pk]
    body = response.content.decode()
    assert reverse("evidence:report", args=[first.pk]) in body
    assert reverse("evidence:bundle", args=[first.pk]) in body
    assert reverse("evidence:report", args=[pending.pk]) not in body
    assert "Build an evidence pack" in body
    assert 'hx-trigger="every 5s"' in body  # a pack being built: the table refreshes itself


def test_the_page_pages_by_25(client, system, viewer):
    EvidencePack.objects.bulk_create(
        EvidencePack(system=system, requested_by=viewer, requested_at=NOW - timedelta(minutes=n))
        for n in range(30)
    )
    client.force_login(viewer)

    response = client.get(list_url(system), {"page": 2})

    assert len(response.context["page"].object_list) == 5


def test_a_viewer_builds_a_pack_from_the_page_and_downloads_both_files(
    client, system, viewer, django_capture_on_commit_callbacks
):
    client.force_login(viewer)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(list_url(system))

    assert response.status_code == 302 and response.url == list_url(system)
    pack = EvidencePack.objects.get()
    assert pack.status == "ready"
    report = client.get(reverse("evidence:report", args=[pack.pk]))
    assert report.status_code == 200
    assert report["Content-Type"] == "text/html; charset=utf-8"
    assert report["Content-Disposition"] == (
        f'attachment; filename="evidence-loan-classifier-{pack.pk}-20261125-120000.html"'
    )
    assert report["Content-Security-Policy"].startswith("default-src 'none'")
    assert report.content.decode() == pack.html
    bundle = client.get(reverse("evidence:bundle", args=[pack.pk]))
    assert bundle.status_code == 200
    assert bundle["Content-Type"] == "application/json"
    assert bundle["Content-Disposition"].endswith('.json"')
    assert hashlib.sha256(bundle.content).hexdigest() == pack.sha256
    assert json.loads(bundle.content) == pack.bundle


def test_an_approver_reads_and_downloads_but_cannot_build(
    client, system, approver, viewer, django_capture_on_commit_callbacks
):
    pack = build(system, viewer, django_capture_on_commit_callbacks)
    client.force_login(approver)

    page = client.get(list_url(system))
    assert page.status_code == 200
    assert 'action="' + list_url(system) not in page.content.decode()
    assert client.post(list_url(system)).status_code == 403
    assert EvidencePack.objects.count() == 1
    assert client.get(reverse("evidence:report", args=[pack.pk])).status_code == 200


def test_an_outsider_gets_403_everywhere(
    client, system, outsider, viewer, django_capture_on_commit_callbacks
):
    pack = build(system, viewer, django_capture_on_commit_callbacks)
    client.force_login(outsider)

    assert client.get(list_url(system)).status_code == 403
    assert client.post(list_url(system)).status_code == 403
    assert client.get(reverse("evidence:report", args=[pack.pk])).status_code == 403
    assert client.get(reverse("evidence:bundle", args=[pack.pk])).status_code == 403
    assert EvidencePack.objects.count() == 1


def test_anonymous_people_are_sent_to_log_in(
    client, system, viewer, django_capture_on_commit_callbacks
):
    pack = build(system, viewer, django_capture_on_commit_callbacks)
    for url in (
        list_url(system),
        reverse("evidence:report", args=[pack.pk]),
        reverse("evidence:bundle", args=[pack.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/"), url
    assert client.post(list_url(system)).status_code == 302
    assert EvidencePack.objects.count() == 1


def test_a_pack_not_ready_has_no_download(client, system, viewer):
    pending = EvidencePack.objects.create(system=system, requested_by=viewer, requested_at=NOW)
    client.force_login(viewer)

    assert client.get(reverse("evidence:report", args=[pending.pk])).status_code == 404
    assert client.get(reverse("evidence:bundle", args=[pending.pk])).status_code == 404
    assert client.get(reverse("evidence:report", args=[987654])).status_code == 404


def test_an_unknown_system_is_404(client, viewer):
    client.force_login(viewer)
    assert client.get("/systems/nope/evidence/").status_code == 404


# --- API ------------------------------------------------------------------------------------------


def api(slug: str, pk: int | None = None) -> str:
    base = f"/api/v1/systems/{slug}/evidence-packs/"
    return f"{base}{pk}/" if pk is not None else base


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_the_api_accepts_a_request_and_serves_the_bundle_when_ready(
    client, system, viewer, django_capture_on_commit_callbacks
):
    secret = api_token_create(by=viewer, name="audit script", user=viewer)[1]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            api(system.slug), "{}", content_type="application/json", **bearer(secret)
        )

    assert response.status_code == 202
    body = response.json()
    pack = EvidencePack.objects.get()
    assert (body["id"], body["status"], body["requested_by"], body["system"]) == (
        pack.pk,
        "pending",  # as it was when the request answered; built after the commit
        "vic",
        "loan-classifier",
    )
    detail = client.get(api(system.slug, pack.pk), **bearer(secret)).json()
    pack.refresh_from_db()
    assert (detail["status"], detail["sha256"]) == ("ready", pack.sha256)
    assert detail["bundle"] == pack.bundle
    assert detail["bundle_url"].endswith(reverse("evidence:bundle", args=[pack.pk]))
    assert detail["report_url"].endswith(reverse("evidence:report", args=[pack.pk]))


def test_the_api_lists_packs_newest_first_without_bundles(
    client, system, viewer, director, django_capture_on_commit_callbacks
):
    older = build(system, viewer, django_capture_on_commit_callbacks)
    newer = EvidencePack.objects.create(
        system=system, requested_by=director, requested_at=NOW + timedelta(minutes=1)
    )
    client.force_login(viewer)

    body = client.get(api(system.slug)).json()

    assert body["count"] == 2
    assert [(p["id"], p["status"]) for p in body["results"]] == [
        (newer.pk, "pending"),
        (older.pk, "ready"),
    ]
    assert [p["bundle"] for p in body["results"]] == [None, None]
    assert body["results"][0]["report_url"] is None


def test_a_pack_of_another_system_is_404_under_this_one(
    client, system, viewer, django_capture_on_commit_callbacks
):
    other = AISystemFactory(slug="fraud-screen")
    pack = build(other, viewer, django_capture_on_commit_callbacks)
    client.force_login(viewer)

    response = client.get(api(system.slug, pack.pk))

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_a_pipeline_token_may_neither_request_nor_read(
    client, system, viewer, django_capture_on_commit_callbacks
):
    pack = build(system, viewer, django_capture_on_commit_callbacks)
    secret = api_token_create(by=None, name="ci", system=system)[1]

    refused = client.post(api(system.slug), **bearer(secret))

    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "permission_denied"
    assert EvidencePack.objects.count() == 1
    assert client.get(api(system.slug), **bearer(secret)).status_code == 403
    assert client.get(api(system.slug, pack.pk), **bearer(secret)).status_code == 403


def test_an_approver_may_read_but_not_request_through_the_api(client, system, approver):
    client.force_login(approver)

    refused = client.post(api(system.slug))

    assert refused.status_code == 403
    assert "viewers build evidence packs" in refused.json()["errors"][0]["message"]
    assert EvidencePack.objects.count() == 0
    assert client.get(api(system.slug)).status_code == 200


def test_the_api_refuses_outsiders_and_anonymous_callers(client, system, outsider):
    assert client.post(api(system.slug)).status_code == 401
    assert client.get(api(system.slug)).status_code == 401
    client.force_login(outsider)
    assert client.post(api(system.slug)).status_code == 403
    assert client.get(api(system.slug)).status_code == 403
    assert EvidencePack.objects.count() == 0


def test_an_unknown_system_is_404_in_the_api(client, viewer):
    client.force_login(viewer)
    assert client.post(api("nope")).status_code == 404
    assert EvidencePack.objects.count() == 0


def test_rollouts_and_systems_are_untouched_by_a_build(pack, seeded):
    # A pack reads; it changes nothing but its own row (and the audit trail).
    assert Rollout.objects.get().state == "completed"
    assert AISystem.objects.get(slug="loan-classifier").stage == "staged_rollout"
    assert current(seeded).percent == 100
