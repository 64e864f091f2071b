"""The audit page, its CSV export and the admin.

Personas (tests/conftest.py): Dana directs operations, Vic only views, and
Charlie has no role at all.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from governance.audit import audit_record
from governance.models import AuditEvent
from registry.models import AISystem
from tests.registry.factories import AISystemFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("governance:audit_list")
EXPORT_URL = reverse("governance:audit_export")


def record(actor, action: str, obj, *, at: datetime | None = None, **values) -> AuditEvent:
    return audit_record(actor=actor, action=action, obj=obj, at=at, **values)


def listed_actions(response) -> list[str]:
    return [event.action for event in response.context["page"].object_list]


def export_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def claims() -> AISystem:
    return AISystemFactory(slug="claims-triage", name="Claims triage")


@pytest.fixture
def fraud() -> AISystem:
    return AISystemFactory(slug="fraud-screen", name="Fraud screen")


@pytest.fixture
def trail(director, viewer, claims, fraud) -> list[AuditEvent]:
    """Dana changes claims in January, a worker raises on fraud in February."""
    return [
        record(
            director,
            "system.update",
            claims,
            at=datetime(2025, 1, 10, 9, tzinfo=UTC),
            before={"risk_tier": "low"},
            after={"risk_tier": "high"},
            reason="new regulation",
        ),
        record(director, "metric_spec.create", claims, at=datetime(2025, 1, 20, 9, tzinfo=UTC)),
        record(None, "escalation.raise", fraud, at=datetime(2025, 2, 3, 23, 59, tzinfo=UTC)),
    ]


# --- Permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [LIST_URL, EXPORT_URL])
def test_anonymous_people_are_sent_to_sign_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("url", [LIST_URL, EXPORT_URL])
def test_a_person_without_a_role_is_refused(client, outsider, url):
    client.force_login(outsider)

    response = client.get(url)

    assert response.status_code == 403
    assert b"You need a role" in response.content


@pytest.mark.parametrize("url", [LIST_URL, EXPORT_URL])
def test_the_pages_are_read_only(client, viewer, url):
    client.force_login(viewer)

    assert client.post(url).status_code == 405


# --- The page -----------------------------------------------------------------------------------


def test_a_viewer_sees_the_trail_newest_first(client, viewer, trail):
    client.force_login(viewer)

    response = client.get(LIST_URL)

    assert response.status_code == 200
    assert listed_actions(response) == ["escalation.raise", "metric_spec.create", "system.update"]
    page = response.content.decode()
    assert "new regulation" in page
    assert "<caption>" in page
    assert 'scope="col"' in page
    assert "&quot;low&quot;" in page and "&quot;high&quot;" in page
    assert f'href="{LIST_URL}"' in page  # the navigation link


def test_the_page_shows_an_empty_state(client, viewer):
    client.force_login(viewer)

    response = client.get(LIST_URL)

    assert response.context["page"].paginator.count == 0
    assert "Nothing has been recorded yet" in response.content.decode()


def test_it_filters_by_system(client, viewer, trail):
    client.force_login(viewer)

    response = client.get(LIST_URL, {"system": "fraud-screen"})

    assert listed_actions(response) == ["escalation.raise"]


def test_a_deleted_systems_events_stay_in_the_trail(client, viewer, trail, fraud):
    client.force_login(viewer)
    fraud.delete()

    page = client.get(LIST_URL)
    rows = export_rows(client.get(EXPORT_URL, {"action": "escalation.raise"}))

    assert "escalation.raise" in listed_actions(page)
    assert [row["system_slug"] for row in rows] == ["fraud-screen"]


def test_it_filters_by_part_of_the_actors_name(client, viewer, trail):
    client.force_login(viewer)

    response = client.get(LIST_URL, {"actor": "DAN"})

    assert listed_actions(response) == ["metric_spec.create", "system.update"]


def test_it_filters_by_action(client, viewer, trail):
    client.force_login(viewer)

    response = client.get(LIST_URL, {"action": "system.update"})

    assert listed_actions(response) == ["system.update"]
    choices = [value for value, _ in response.context["form"].fields["action"].choices]
    assert choices == ["", "escalation.raise", "metric_spec.create", "system.update"]


def test_it_filters_by_days_both_included(client, viewer, trail):
    client.force_login(viewer)

    response = client.get(LIST_URL, {"date_from": "2025-01-20", "date_to": "2025-02-03"})

    assert listed_actions(response) == ["escalation.raise", "metric_spec.create"]


def test_filters_combine(client, viewer, trail):
    client.force_login(viewer)

    response = client.get(LIST_URL, {"system": "claims-triage", "date_to": "2025-01-15"})

    assert listed_actions(response) == ["system.update"]


def test_no_match_says_so(client, viewer, trail):
    client.force_login(viewer)

    response = client.get(LIST_URL, {"actor": "nobody"})

    assert "No event matches these filters" in response.content.decode()


def test_bad_filters_are_explained_and_nothing_is_listed(client, viewer, trail):
    client.force_login(viewer)

    response = client.get(LIST_URL, {"date_from": "2025-02-01", "date_to": "2025-01-01"})

    assert response.status_code == 200
    assert response.context["page"] is None
    assert "The end date is before the start date." in response.content.decode()


def test_an_unknown_action_is_refused(client, viewer, trail):
    client.force_login(viewer)

    response = client.get(LIST_URL, {"action": "system.explode"})

    assert response.context["page"] is None
    assert 'aria-invalid="true"' in response.content.decode()


def test_it_shows_50_events_a_page_and_keeps_the_filters(
    client, viewer, director, claims, django_assert_max_num_queries
):
    for n in range(51):
        record(director, "system.update", claims, after={"n": n})
    client.force_login(viewer)

    with django_assert_max_num_queries(10):
        first = client.get(LIST_URL, {"system": "claims-triage"})
    second = client.get(LIST_URL, {"system": "claims-triage", "page": 2})

    assert len(first.context["page"].object_list) == 50
    assert [event.after for event in second.context["page"].object_list] == [{"n": 0}]
    assert "?system=claims-triage&amp;page=2" in first.content.decode()


def test_the_filters_and_pager_swap_the_list_alone_with_htmx(client, viewer, trail):
    client.force_login(viewer)

    swap = client.get(LIST_URL, {"system": "claims-triage"}, headers={"HX-Request": "true"})
    assert "HX-Request" in swap["Vary"]
    fragment = swap.content.decode()
    assert "<html" not in fragment and "<h1>" not in fragment
    assert listed_actions(swap) == ["metric_spec.create", "system.update"]
    # The filter card is in the fragment, so its values and errors follow the swap.
    assert 'hx-get="/audit/" hx-target="#audit-results" hx-push-url="true"' in fragment

    page = client.get(LIST_URL, {"system": "claims-triage"}).content.decode()
    assert page.startswith("<!DOCTYPE html>") and "<h1>Audit trail</h1>" in page
    assert '<div id="audit-results" class="list-results">' in page


def test_a_bad_filter_is_shown_under_its_field_in_a_swap(client, viewer, trail):
    client.force_login(viewer)
    swap = client.get(LIST_URL, {"action": "system.explode"}, headers={"HX-Request": "true"})
    fragment = swap.content.decode()
    assert swap.context["page"] is None
    assert 'aria-invalid="true" aria-describedby="id_action_error"' in fragment
    assert '<ul class="form-error" id="id_action_error">' in fragment


# --- CSV export ---------------------------------------------------------------------------------


def test_the_export_is_csv_in_chain_order_with_the_hashes(client, viewer, trail):
    client.force_login(viewer)

    response = client.get(EXPORT_URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = export_rows(response)
    assert [row["id"] for row in rows] == [str(event.pk) for event in trail]
    first = rows[0]
    assert list(first) == [
        "id",
        "at",
        "actor_kind",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "system_slug",
        "before",
        "after",
        "reason",
        "prev_hash",
        "hash",
    ]
    assert first["at"] == "2025-01-10T09:00:00+00:00"
    assert (first["actor_kind"], first["actor_label"]) == ("user", "dana")
    assert first["before"] == '{"risk_tier": "low"}'
    assert first["hash"] == trail[0].hash
    assert rows[1]["prev_hash"] == trail[0].hash


def test_the_export_applies_the_filters(client, viewer, trail):
    client.force_login(viewer)

    rows = export_rows(client.get(EXPORT_URL, {"system": "claims-triage", "actor": "dana"}))

    assert [row["action"] for row in rows] == ["system.update", "metric_spec.create"]


def test_the_export_refuses_bad_filters(client, viewer, trail):
    client.force_login(viewer)

    response = client.get(EXPORT_URL, {"date_from": "not a day"})

    assert response.status_code == 400


def test_the_export_defuses_spreadsheet_formulas(client, viewer, director, claims):
    record(director, "system.update", claims, reason='=HYPERLINK("http://x")')
    client.force_login(viewer)

    (row,) = export_rows(client.get(EXPORT_URL))

    assert row["reason"] == '\'=HYPERLINK("http://x")'


def test_the_page_links_to_the_export_with_its_filters(client, viewer, trail):
    client.force_login(viewer)

    response = client.get(LIST_URL, {"action": "system.update"})

    assert f"{EXPORT_URL}?action=system.update" in response.content.decode()


# --- The admin ----------------------------------------------------------------------------------


def test_the_admin_shows_events(admin_client, trail):
    response = admin_client.get(reverse("admin:governance_auditevent_changelist"))

    assert response.status_code == 200
    assert "escalation.raise" in response.content.decode()
    assert "delete_selected" not in response.content.decode()


def test_the_admin_cannot_add_change_or_delete(admin_client, trail):
    event = trail[0]

    add = admin_client.get(reverse("admin:governance_auditevent_add"))
    delete = admin_client.post(
        reverse("admin:governance_auditevent_delete", args=[event.pk]), {"post": "yes"}
    )
    change = admin_client.post(
        reverse("admin:governance_auditevent_change", args=[event.pk]),
        {"reason": "edited", "actor_label": "someone"},
    )

    assert (add.status_code, delete.status_code, change.status_code) == (403, 403, 403)
    event.refresh_from_db()
    assert (event.reason, event.actor_label) == ("new regulation", "dana")


def test_the_model_admin_grants_no_write_permission(admin_user):
    model_admin = admin.site._registry[AuditEvent]
    request = RequestFactory().get("/")
    request.user = admin_user

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
