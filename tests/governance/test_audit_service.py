"""Recording the audit trail: who is recorded, the chain in the database, and its guards.

Personas (tests/conftest.py): Dana directs operations, Omar owns a system,
Charlie has no role. A pipeline acts through its token.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from core.errors import ApplicationError
from governance import audit
from governance.audit import GENESIS, audit_record, event_fields, event_hash
from governance.models import AuditEvent
from registry import services
from registry.auth import PipelineUser
from registry.models import AISystem
from registry.signals import audit_event

pytestmark = pytest.mark.django_db


def create_system(by, slug: str = "claims-triage") -> AISystem:
    return services.ai_system_create(
        by=by, slug=slug, name="Claims triage", business_unit="Claims", risk_tier="low", purpose=""
    )


def verify() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out, stderr=StringIO())
    return out.getvalue()


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


# --- Who and what is recorded -----------------------------------------------------------------


def test_a_person_creating_a_system_is_recorded(director):
    system = create_system(director)

    event = AuditEvent.objects.get()
    assert (event.actor_kind, event.actor_id, event.actor_label) == ("user", director.pk, "dana")
    assert event.action == "system.create"
    assert (event.object_type, event.object_id) == ("registry.aisystem", str(system.pk))
    assert event.object_repr == str(system)
    assert (event.system_id, event.system_slug) == (system.pk, "claims-triage")
    assert event.after["slug"] == "claims-triage"
    assert event.before == {}
    assert event.prev_hash == GENESIS
    assert event.hash == event_hash(GENESIS, event_fields(event))


def test_a_change_records_before_and_after(director):
    system = create_system(director)
    services.ai_system_update(system=system, by=director, risk_tier="high")

    event = AuditEvent.objects.order_by("id").last()
    assert event.action == "system.update"
    assert event.before == {"risk_tier": "low"}
    assert event.after == {"risk_tier": "high"}


def test_a_token_is_recorded_against_its_system(director):
    system = create_system(director)
    token, _secret = services.api_token_create(by=director, name="nightly eval", system=system)

    event = AuditEvent.objects.get(action="token.create")
    assert event.actor_kind == "user"
    assert (event.object_type, event.object_id) == ("registry.apitoken", str(token.pk))
    assert (event.system_id, event.system_slug) == (system.pk, system.slug)
    assert "token_hash" not in event.after


def test_a_personal_token_has_no_system(owner):
    services.api_token_create(by=owner, name="laptop", user=owner)

    event = AuditEvent.objects.get(action="token.create")
    assert (event.system_id, event.system_slug) == (None, "")


def test_a_pipeline_is_recorded_as_its_token(director):
    system = create_system(director)
    token, _secret = services.api_token_create(by=director, name="ci", system=system)

    version = services.model_version_register(
        system=system, by=PipelineUser(token), version="2.1.0", artifact_uri="s3://m/2.1.0"
    )

    event = AuditEvent.objects.get(action="version.register")
    assert (event.actor_kind, event.actor_id, event.actor_label) == (
        "token",
        token.pk,
        "pipeline:ci",
    )
    assert event.object_id == str(version.pk)
    assert event.system_slug == system.slug


def test_a_token_row_as_actor_is_recorded_like_its_pipeline(director):
    system = create_system(director)
    token, _secret = services.api_token_create(by=director, name="ci", system=system)

    event = audit_record(actor=token, action="token.use", obj=system)

    assert (event.actor_kind, event.actor_id, event.actor_label) == (
        "token",
        token.pk,
        "pipeline:ci",
    )


def test_a_worker_is_recorded_as_the_portal(director):
    system = create_system(director)

    event = audit_record(actor=None, action="escalation.raise", obj=system, reason="timeout")

    assert (event.actor_kind, event.actor_id, event.actor_label) == ("system", None, "portal")
    assert event.reason == "timeout"


def test_the_system_can_be_given_for_an_object_without_one(director, owner):
    system = create_system(director)

    unplaced = audit_record(actor=director, action="user.note", obj=owner)
    placed = audit_record(actor=director, action="ownership.assign", obj=owner, system=system)

    assert (placed.object_type, placed.object_id) == ("auth.user", str(owner.pk))
    assert (unplaced.system_id, unplaced.system_slug) == (None, "")
    assert (placed.system_id, placed.system_slug) == (system.pk, system.slug)


def test_an_anonymous_actor_is_refused_and_nothing_is_written(director):
    system = create_system(director)
    before = AuditEvent.objects.count()

    with pytest.raises(TypeError):
        audit_record(actor=AnonymousUser(), action="system.update", obj=system)

    assert AuditEvent.objects.count() == before


def test_values_that_json_cannot_hold_are_stored_as_text(director):
    system = create_system(director)
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

    event = audit_record(
        actor=director,
        action="metric_spec.update",
        obj=system,
        before={"warning": Decimal("0.90"), "at": when, "big": 1e20},
        after={"warning": 0.85, "whole": 2.0},
    )

    event.refresh_from_db()
    assert event.before == {"warning": "0.90", "at": str(when), "big": 10**20}
    assert event.after == {"warning": 0.85, "whole": 2}
    assert "intact: 2 events" in verify()


# --- The chain ----------------------------------------------------------------------------------


def test_each_event_links_to_the_one_before(director):
    system = create_system(director)
    services.ai_system_update(system=system, by=director, name="Claims triage v2")
    services.api_token_create(by=director, name="ci", system=system)

    events = list(AuditEvent.objects.order_by("id"))
    assert [event.prev_hash for event in events] == [GENESIS, events[0].hash, events[1].hash]


def test_a_failed_change_records_nothing(director):
    create_system(director)

    with pytest.raises(ApplicationError):
        create_system(director)

    assert AuditEvent.objects.count() == 1


def test_an_event_rolls_back_with_its_change(director):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        create_system(director)
        raise Abort

    assert not AISystem.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_change_fails_when_it_cannot_be_recorded(director, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(audit, "event_hash", broken)

    with pytest.raises(RuntimeError):
        create_system(director)

    assert not AISystem.objects.exists()


def test_recording_is_connected_to_the_registry_signal():
    assert audit_event.has_listeners()


# --- audit_verify -------------------------------------------------------------------------------


def test_audit_verify_passes_on_an_empty_trail():
    assert verify().startswith("audit chain intact: 0 events")


def test_audit_verify_passes_on_a_good_chain(director):
    system = create_system(director)
    services.ai_system_update(system=system, by=director, risk_tier="high")

    out = verify()

    assert out.startswith("audit chain intact: 2 events")
    assert f"head hash: {AuditEvent.objects.order_by('id').last().hash}" in out


def test_audit_verify_names_an_edited_event(director):
    system = create_system(director)
    services.ai_system_update(system=system, by=director, risk_tier="high")
    services.ai_system_update(system=system, by=director, risk_tier="medium")
    middle = AuditEvent.objects.order_by("id")[1]

    tamper("UPDATE governance_auditevent SET reason = %s WHERE id = %s", ["edited", middle.pk])

    with pytest.raises(CommandError, match=rf"event {middle.pk} \(system.update at .*edited\)"):
        verify()


def test_audit_verify_names_the_event_after_a_deleted_one(director):
    system = create_system(director)
    services.ai_system_update(system=system, by=director, risk_tier="high")
    services.ai_system_update(system=system, by=director, risk_tier="medium")
    first, middle, last = AuditEvent.objects.order_by("id")

    tamper("DELETE FROM governance_auditevent WHERE id = %s", [middle.pk])

    with pytest.raises(CommandError, match=rf"event {last.pk} .*deleted or reordered"):
        verify()
    assert first.pk < last.pk


def test_audit_verify_exits_with_status_1_when_broken(director):
    create_system(director)
    tamper("UPDATE governance_auditevent SET actor_label = %s", ["someone"])

    with pytest.raises(CommandError) as broken:
        verify()

    assert broken.value.returncode == 1


# --- PostgreSQL refuses edits -------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE governance_auditevent SET reason = 'edited'",
        "DELETE FROM governance_auditevent",
    ],
)
def test_postgresql_refuses_to_change_an_event(director, sql):
    create_system(director)

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)

    assert AuditEvent.objects.get().reason == ""
    assert "intact: 1 events" in verify()


@pytest.mark.postgres
def test_postgresql_refuses_the_orm_too(director):
    create_system(director)
    event = AuditEvent.objects.get()

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(reason="edited")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.delete()

    assert AuditEvent.objects.filter(pk=event.pk, reason="").exists()


@pytest.mark.postgres
def test_audit_verify_warns_when_the_trigger_is_disabled(director):
    create_system(director)
    err = StringIO()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE governance_auditevent DISABLE TRIGGER USER")
        try:
            call_command("audit_verify", stdout=StringIO(), stderr=err)
        finally:
            cursor.execute("ALTER TABLE governance_auditevent ENABLE TRIGGER USER")

    assert "missing or disabled" in err.getvalue()


# --- Concurrent writers -------------------------------------------------------------------------

APPENDS_PER_THREAD = 25


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_never_fork_the_chain(director, monkeypatch):
    system = create_system(director)
    read_last_hash = audit._last_hash

    def slow_last_hash() -> str:
        # Widen the window between reading the last hash and inserting: without
        # the lock, the two writers then fork the chain on almost every run.
        last = read_last_hash()
        time.sleep(0.002)
        return last

    monkeypatch.setattr(audit, "_last_hash", slow_last_hash)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def append(name: str) -> None:
        try:
            start.wait(timeout=10)
            for n in range(APPENDS_PER_THREAD):
                with transaction.atomic():
                    audit_record(actor=None, action=f"test.{name}", obj=system, after={"n": n})
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert AuditEvent.objects.count() == 1 + 2 * APPENDS_PER_THREAD
    assert verify().startswith(f"audit chain intact: {1 + 2 * APPENDS_PER_THREAD} events")
    # Times rise with ids: each writer takes its time under the lock.
    times = list(AuditEvent.objects.order_by("id").values_list("at", flat=True))
    assert times == sorted(times)
