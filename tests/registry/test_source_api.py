"""The data-source API end to end: permissions on every endpoint, the push contract, levels.

Dana directs operations, Omar owns systems, Ada approves, Vic views, Charlie has
no role, and Sofia (a viewer) owns the core-banking CRM feed. The CRM feeds the
loan classifier; the branch ERP feeds nothing. One token belongs to the CRM's
pipeline, another to the loan classifier's. Every bad input also proves that
nothing was written.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.cache import cache

from core.roles import Role
from governance.models import AuditEvent
from registry.models import (
    ApiToken,
    DataSource,
    FieldProfile,
    IntegrationRun,
    ReferenceProfile,
    SourceDelivery,
)
from registry.services import api_token_create, data_source_evaluate
from tests.registry.factories import AISystemFactory, DataSourceFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FIVE_MIB = 5 * 1024 * 1024
PUSHES = ["deliveries", "profiles", "integration-runs"]


@pytest.fixture(autouse=True)
def frozen_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def sofia(django_user_model):
    user = django_user_model.objects.create_user(
        username="sofia", password="pw", first_name="Sofia", last_name="Source"
    )
    user.groups.add(Group.objects.get_or_create(name=Role.VIEWER.value)[0])
    return user


@pytest.fixture
def system():
    return AISystemFactory(slug="loan-classifier", name="Loan classifier")


@pytest.fixture
def source(system, sofia):
    source = DataSourceFactory(slug="core-crm", name="Core-banking CRM", owner=sofia)
    source.systems.add(system)
    return source


@pytest.fixture
def other_source():
    return DataSourceFactory(slug="branch-erp", name="Branch ERP", kind="erp")


@pytest.fixture
def source_token(source):
    return api_token_create(by=None, name="crm-etl", data_source=source)[1]


@pytest.fixture
def system_token(system):
    return api_token_create(by=None, name="loan-ci", system=system)[1]


def call(client, method, path, body=None, token=None, raw=None, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    if method == "get":
        data = None  # a GET has no body; its data would become the query string
    return getattr(client, method)(
        f"/api/v1/{path}", data, content_type="application/json", **headers, **extra
    )


def written():
    """How many rows of each kind the pushes and references have stored."""
    return {
        "deliveries": SourceDelivery.objects.count(),
        "profiles": FieldProfile.objects.count(),
        "runs": IntegrationRun.objects.count(),
        "references": ReferenceProfile.objects.count(),
    }


NOTHING = {"deliveries": 0, "profiles": 0, "runs": 0, "references": 0}


def nothing_written():
    return written() == NOTHING


def amount(**extra):
    return {
        "name": "amount",
        "type": "float",
        "missing_share": 0.01,
        "histogram": {"edges": [0, 10, 20], "counts": [60, 40]},
    } | extra


def channel(**extra):
    return {
        "name": "channel",
        "type": "string",
        "missing_share": 0.0,
        "categories": {"online": 70, "branch": 30},
    } | extra


GOOD = {
    "deliveries": {"at": "2026-11-25T11:00:00Z", "rows": 100},
    "profiles": {"at": "2026-11-25T11:00:00Z", "rows": 100, "fields": [amount(), channel()]},
    "integration-runs": {"at": "2026-11-25T11:00:00Z", "passed": 412, "failed": 3},
    "reference": {"fields": [amount(), channel()]},
}

NEW_SOURCE = {
    "slug": "card-ledger",
    "name": "Card ledger",
    "kind": "database",
    "owner": "sofia",
    "expected_interval_seconds": 900,
    "expected_schema": {"amount": "float"},
    "systems": ["loan-classifier"],
}


def errors_of(response):
    body = response.json()
    assert set(body) == {"errors"}, body
    assert body["errors"], body
    for error in body["errors"]:
        assert {"field", "message", "code"} <= set(error), error
        assert error["message"]
    return body["errors"]


# --- Who may do what --------------------------------------------------------------------------


ENDPOINTS = [
    ("get", "sources/"),
    ("post", "sources/"),
    ("get", "sources/core-crm/"),
    ("put", "sources/core-crm/"),
    ("patch", "sources/core-crm/"),
    ("post", "sources/core-crm/deliveries/"),
    ("post", "sources/core-crm/profiles/"),
    ("post", "sources/core-crm/integration-runs/"),
    ("post", "sources/core-crm/reference/"),
    ("get", "sources/core-crm/tokens/"),
    ("post", "sources/core-crm/tokens/"),
    ("delete", "sources/core-crm/tokens/{token}/"),
]


def token_row(source):
    return api_token_create(by=None, name="existing", data_source=source)[0]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_an_anonymous_caller_gets_401_everywhere(client, source, method, path):
    path = path.format(token=token_row(source).pk)
    response = call(client, method, path, {"name": "x"})
    assert response.status_code == 401, response.content
    assert errors_of(response)[0]["message"]
    assert nothing_written()
    assert DataSource.objects.count() == 1


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_charlie_without_a_role_gets_403_everywhere(client, source, outsider, method, path):
    path = path.format(token=token_row(source).pk)
    client.force_login(outsider)
    response = call(client, method, path, {"name": "x"})
    assert response.status_code == 403, response.content
    assert "role" in errors_of(response)[0]["message"]
    assert nothing_written()
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 1


def test_vic_reads_every_source_and_its_detail(client, source, other_source, viewer):
    client.force_login(viewer)
    listed = call(client, "get", "sources/")
    assert listed.status_code == 200
    assert [s["slug"] for s in listed.json()["results"]] == ["branch-erp", "core-crm"]
    detail = call(client, "get", "sources/core-crm/").json()
    assert (detail["owner"], detail["systems"], detail["kind"]) == (
        "sofia",
        ["loan-classifier"],
        "crm",
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "sources/", NEW_SOURCE),
        ("patch", "sources/core-crm/", {"psi_warn": 0.2}),
        ("post", "sources/core-crm/deliveries/", GOOD["deliveries"]),
        ("post", "sources/core-crm/profiles/", GOOD["profiles"]),
        ("post", "sources/core-crm/integration-runs/", GOOD["integration-runs"]),
        ("post", "sources/core-crm/reference/", GOOD["reference"]),
        ("get", "sources/core-crm/tokens/", None),
        ("post", "sources/core-crm/tokens/", {"name": "mine"}),
    ],
)
def test_vic_cannot_create_edit_push_or_manage_tokens(client, source, viewer, method, path, body):
    client.force_login(viewer)
    response = call(client, method, path, body)
    assert response.status_code == 403, response.content
    errors_of(response)
    assert nothing_written()
    assert list(DataSource.objects.values_list("slug", "psi_warn")) == [("core-crm", 0.1)]
    assert not ApiToken.objects.exists()


def test_dana_registers_a_source_feeding_a_system_and_it_is_audited(
    client, system, director, sofia
):
    client.force_login(director)
    response = call(client, "post", "sources/", NEW_SOURCE)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "card-ledger"
    assert (body["owner"], body["systems"], body["checks"], body["custom_levels"]) == (
        "sofia",
        ["loan-classifier"],
        {},
        {},
    )
    created = DataSource.objects.get(slug="card-ledger")
    assert (created.owner, created.expected_interval_seconds) == (sofia, 900)
    assert list(created.systems.all()) == [system]
    event = AuditEvent.objects.get(action="data_source.create")
    assert (event.actor_label, event.object_id) == ("dana", str(created.pk))
    assert event.after["systems"] == ["loan-classifier"]
    assert event.after["owner"] == "sofia"


def test_omar_as_a_system_owner_may_register_a_source_too(client, system, owner, sofia):
    client.force_login(owner)
    assert call(client, "post", "sources/", NEW_SOURCE).status_code == 201
    assert DataSource.objects.filter(slug="card-ledger").exists()


@pytest.mark.parametrize("persona", ["approver", "sofia"])
def test_only_directors_and_system_owners_register_sources(client, system, sofia, request, persona):
    client.force_login(request.getfixturevalue(persona))
    response = call(client, "post", "sources/", NEW_SOURCE)
    assert response.status_code == 403
    assert "register" in errors_of(response)[0]["message"]
    assert not DataSource.objects.exists()


@pytest.mark.parametrize("persona", ["director", "owner", "sofia"])
def test_directors_system_owners_and_the_sources_owner_edit_it(client, source, request, persona):
    client.force_login(request.getfixturevalue(persona))
    response = call(client, "patch", "sources/core-crm/", {"description": "Nightly extract"})
    assert response.status_code == 200, response.content
    assert response.json()["description"] == "Nightly extract"
    source.refresh_from_db()
    assert source.description == "Nightly extract"


def test_sofia_owns_only_her_source(client, source, other_source, sofia):
    client.force_login(sofia)
    response = call(client, "patch", "sources/branch-erp/", {"description": "mine now"})
    assert response.status_code == 403
    other_source.refresh_from_db()
    assert other_source.description == ""


def test_the_sources_owner_without_a_role_edits_nothing(client, source, outsider):
    source.owner = outsider
    source.save()
    client.force_login(outsider)
    assert call(client, "patch", "sources/core-crm/", {"description": "x"}).status_code == 403
    source.refresh_from_db()
    assert source.description == ""


@pytest.mark.parametrize("endpoint", PUSHES)
def test_a_source_token_pushes_to_its_source(client, source, source_token, endpoint):
    response = call(client, "post", f"sources/core-crm/{endpoint}/", GOOD[endpoint], source_token)
    assert response.status_code == 201, response.content
    accepted = 2 if endpoint == "profiles" else 1
    assert response.json() == {"accepted": accepted, "duplicates": 0}


@pytest.mark.parametrize("endpoint", PUSHES)
def test_a_source_token_gets_403_on_another_source(
    client, source, other_source, source_token, endpoint
):
    response = call(client, "post", f"sources/branch-erp/{endpoint}/", GOOD[endpoint], source_token)
    assert response.status_code == 403
    assert "may not use this data source" in errors_of(response)[0]["message"]
    assert nothing_written()


@pytest.mark.parametrize("endpoint", PUSHES)
def test_a_system_token_pushes_to_a_source_feeding_its_system(
    client, source, system_token, endpoint
):
    response = call(client, "post", f"sources/core-crm/{endpoint}/", GOOD[endpoint], system_token)
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("endpoint", PUSHES)
def test_a_system_token_gets_403_on_a_source_not_feeding_its_system(
    client, source, other_source, system_token, endpoint
):
    # The branch ERP feeds another system, not the loan classifier.
    other_source.systems.add(AISystemFactory(slug="eta-predictor"))
    response = call(client, "post", f"sources/branch-erp/{endpoint}/", GOOD[endpoint], system_token)
    assert response.status_code == 403
    assert nothing_written()


def test_a_token_of_a_source_no_longer_fed_loses_access(client, source, system, system_token):
    source.systems.remove(system)
    response = call(client, "post", "sources/core-crm/deliveries/", {}, system_token)
    assert response.status_code == 403
    assert nothing_written()


@pytest.mark.parametrize("token_kind", ["source_token", "system_token"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "sources/core-crm/", {"psi_warn": 0.9, "psi_fail": 1.0}),
        ("put", "sources/core-crm/", {"slug": "core-crm", "name": "CRM", "kind": "crm"}),
        ("post", "sources/core-crm/reference/", GOOD["reference"]),
        ("get", "sources/core-crm/tokens/", None),
        ("post", "sources/core-crm/tokens/", {"name": "another"}),
        ("post", "sources/", NEW_SOURCE),
    ],
)
def test_a_pipeline_never_changes_what_it_is_judged_against(
    client, source, request, token_kind, method, path, body
):
    token = request.getfixturevalue(token_kind)
    response = call(client, method, path, body, token)
    assert response.status_code == 403, response.content
    source.refresh_from_db()
    assert (source.name, source.psi_warn, source.psi_fail) == ("Core-banking CRM", 0.1, 0.25)
    assert ApiToken.objects.count() == 1
    assert DataSource.objects.count() == 1
    assert not ReferenceProfile.objects.exists()


@pytest.mark.parametrize("token_kind", ["source_token", "system_token"])
def test_a_pipeline_cannot_revoke_a_token(client, source, request, token_kind):
    token = request.getfixturevalue(token_kind)
    row = token_row(source)
    assert call(
        client, "delete", f"sources/core-crm/tokens/{row.pk}/", token=token
    ).status_code == (403)
    row.refresh_from_db()
    assert row.revoked_at is None


def test_a_source_token_lists_and_reads_only_its_source(client, source, other_source, source_token):
    listed = call(client, "get", "sources/", token=source_token).json()["results"]
    assert [s["slug"] for s in listed] == ["core-crm"]
    assert call(client, "get", "sources/core-crm/", token=source_token).status_code == 200
    assert call(client, "get", "sources/branch-erp/", token=source_token).status_code == 404


def test_a_system_token_lists_the_sources_feeding_its_system(
    client, system, source, other_source, system_token
):
    ledger = DataSourceFactory(slug="card-ledger", name="Card ledger")
    ledger.systems.add(system)
    listed = call(client, "get", "sources/", token=system_token).json()["results"]
    assert [s["slug"] for s in listed] == ["card-ledger", "core-crm"]
    assert call(client, "get", "sources/branch-erp/", token=system_token).status_code == 404


def test_a_system_token_of_a_system_fed_by_nothing_lists_nothing(client, source):
    lonely = AISystemFactory(slug="lonely")
    secret = api_token_create(by=None, name="p", system=lonely)[1]
    assert call(client, "get", "sources/", token=secret).json()["results"] == []
    assert call(client, "get", "sources/core-crm/", token=secret).status_code == 404


def test_the_list_filters_by_kind_system_and_status(client, source, other_source, viewer):
    data_source_evaluate(source_id=source.pk, now=NOW)  # never delivered: freshness fails
    client.force_login(viewer)

    def slugs(query):
        return [s["slug"] for s in call(client, "get", f"sources/?{query}").json()["results"]]

    assert slugs("kind=erp") == ["branch-erp"]
    assert slugs("system=loan-classifier") == ["core-crm"]
    assert slugs("status=fail") == ["core-crm"]


def test_an_unknown_source_is_404(client, viewer, source_token):
    client.force_login(viewer)
    assert call(client, "get", "sources/nope/").status_code == 404
    client.logout()
    assert call(client, "post", "sources/nope/deliveries/", {}, source_token).status_code == 404


# --- Pushes -----------------------------------------------------------------------------------


def test_a_delivery_is_stored_with_its_time_and_row_count(client, source, source_token):
    call(client, "post", "sources/core-crm/deliveries/", GOOD["deliveries"], source_token)
    delivery = SourceDelivery.objects.get()
    assert (delivery.source, delivery.at, delivery.rows, delivery.received_at) == (
        source,
        datetime(2026, 11, 25, 11, 0, tzinfo=UTC),
        100,
        NOW,
    )


def test_a_heartbeat_without_a_body_is_a_delivery_now(client, source, source_token):
    response = call(client, "post", "sources/core-crm/deliveries/", {}, source_token)
    assert response.json() == {"accepted": 1, "duplicates": 0}
    assert list(SourceDelivery.objects.values_list("at", "rows")) == [(NOW, None)]


def test_a_profile_batch_stores_each_field_under_its_delivery(client, source, source_token):
    call(client, "post", "sources/core-crm/profiles/", GOOD["profiles"], source_token)
    delivery = SourceDelivery.objects.get()
    profiles = {p.field: p for p in delivery.fields.all()}
    assert set(profiles) == {"amount", "channel"}
    assert (profiles["amount"].edges, profiles["amount"].counts) == ([0, 10, 20], [60, 40])
    assert profiles["amount"].rows == 100  # the delivery's rows, as the field gave none
    assert profiles["channel"].categories == {"online": 70, "branch": 30}
    assert (profiles["channel"].observed_type, profiles["channel"].missing_share) == ("string", 0)


def test_a_resent_delivery_is_a_duplicate_and_keeps_its_row_count(client, source, source_token):
    body = GOOD["deliveries"]
    call(client, "post", "sources/core-crm/deliveries/", body, source_token)
    response = call(
        client, "post", "sources/core-crm/deliveries/", body | {"rows": 999}, source_token
    )
    assert response.status_code == 201
    assert response.json() == {"accepted": 0, "duplicates": 1}
    assert list(SourceDelivery.objects.values_list("rows", flat=True)) == [100]


def test_a_row_count_fills_in_a_heartbeat_that_had_none(client, source, source_token):
    at = {"at": "2026-11-25T11:00:00Z"}
    call(client, "post", "sources/core-crm/deliveries/", at, source_token)
    response = call(client, "post", "sources/core-crm/deliveries/", at | {"rows": 7}, source_token)
    assert response.json() == {"accepted": 0, "duplicates": 1}
    assert list(SourceDelivery.objects.values_list("rows", flat=True)) == [7]


def test_a_resent_profile_batch_is_all_duplicates_and_keeps_the_first_values(
    client, source, source_token
):
    call(client, "post", "sources/core-crm/profiles/", GOOD["profiles"], source_token)
    before = list(FieldProfile.objects.order_by("field").values())
    changed = GOOD["profiles"] | {"fields": [amount(missing_share=0.9), channel()]}
    response = call(client, "post", "sources/core-crm/profiles/", changed, source_token)
    assert response.json() == {"accepted": 0, "duplicates": 2}
    assert list(FieldProfile.objects.order_by("field").values()) == before
    assert SourceDelivery.objects.count() == 1


def test_a_profile_batch_may_add_a_field_to_a_delivery(client, source, source_token):
    first = GOOD["profiles"] | {"fields": [amount()]}
    call(client, "post", "sources/core-crm/profiles/", first, source_token)
    response = call(client, "post", "sources/core-crm/profiles/", GOOD["profiles"], source_token)
    assert response.json() == {"accepted": 1, "duplicates": 1}
    assert FieldProfile.objects.count() == 2


def test_a_resent_integration_run_is_a_duplicate_and_keeps_its_counts(client, source, source_token):
    body = GOOD["integration-runs"]
    call(client, "post", "sources/core-crm/integration-runs/", body, source_token)
    response = call(
        client, "post", "sources/core-crm/integration-runs/", body | {"failed": 300}, source_token
    )
    assert response.json() == {"accepted": 0, "duplicates": 1}
    assert list(IntegrationRun.objects.values_list("passed", "failed")) == [(412, 3)]


def test_an_editor_may_push_from_a_script(client, source, sofia):
    client.force_login(sofia)
    response = call(client, "post", "sources/core-crm/deliveries/", GOOD["deliveries"])
    assert response.status_code == 201


# --- Bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"rows": -1}, {"rows"}),
        ({"rows": True}, {"rows"}),
        ({"rows": "many"}, {"rows"}),
        ({"at": "2026-11-25T12:05:01Z"}, {"at"}),
        ({"at": "2025-10-20T00:00:00Z"}, {"at"}),
        ({"at": "2026-11-25T10:00:00"}, {"at"}),
        ({"at": 1764064800}, {"at"}),
        ({"source": "core-crm", "rows": 3}, {"source"}),
        ({"at": "yesterday", "rows": -1, "extra": 1}, {"at", "rows", "extra"}),
    ],
)
def test_a_bad_delivery_is_400_listing_every_problem_and_writes_nothing(
    client, source, source_token, body, fields
):
    response = call(client, "post", "sources/core-crm/deliveries/", body, source_token)
    assert response.status_code == 400, response.content
    assert {error["field"] for error in errors_of(response)} == fields
    assert nothing_written()


def hist(edges, counts):
    return {"edges": edges, "counts": counts}


@pytest.mark.parametrize(
    ("bad_field", "where"),
    [
        (amount(colour="red"), "fields[1].colour"),
        (amount(histogram=hist([0, 10, 20], [5, -1])), "fields[1].histogram.counts"),
        (amount(histogram=hist([0, 10, 10], [5, 1])), "fields[1].histogram.edges"),
        (amount(histogram=hist([0, 10, 20], [5])), "fields[1].histogram.counts"),
        (amount(histogram=hist([0, 10, 20], [0, 0])), "fields[1].histogram"),
        (amount(histogram=hist([0, 10, 20], [True, 2])), "fields[1].histogram.counts"),
        (amount(categories={"a": 1}), "fields[1].histogram"),
        (amount(missing_share=1.5), "fields[1].missing_share"),
        (amount(missing_share=-0.01), "fields[1].missing_share"),
        (amount(rows=-3), "fields[1].rows"),
        (amount(name="channel"), "fields[1].name"),  # a duplicate name
        ({"type": "float"}, "fields[1].name"),
        ("amount", "fields[1]"),
    ],
)
def test_a_profile_batch_with_one_bad_field_is_refused_whole(
    client, source, source_token, bad_field, where
):
    body = {"at": "2026-11-25T11:00:00Z", "rows": 100, "fields": [channel(), bad_field]}
    response = call(client, "post", "sources/core-crm/profiles/", body, source_token)
    assert response.status_code == 400, response.content
    errors = errors_of(response)
    assert [(e["index"], e["field"]) for e in errors] == [(1, where)]
    assert nothing_written()  # not even the delivery


def test_a_profile_batch_lists_every_problem_of_every_field(client, source, source_token):
    body = {
        "at": "2026-11-26T00:00:00Z",
        "fields": [amount(missing_share=2), channel(categories={"x": -1}), {"name": ""}],
    }
    response = call(client, "post", "sources/core-crm/profiles/", body, source_token)
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in errors_of(response)] == [
        (None, "at"),
        (0, "fields[0].missing_share"),
        (1, "fields[1].categories"),
        (2, "fields[2].name"),
    ]
    assert nothing_written()


@pytest.mark.parametrize("fields", [[], None, {"name": "amount"}])
def test_a_profile_batch_needs_a_list_of_fields(client, source, source_token, fields):
    body = {"rows": 3} | ({"fields": fields} if fields is not None else {})
    response = call(client, "post", "sources/core-crm/profiles/", body, source_token)
    assert response.status_code == 400
    assert [e["field"] for e in errors_of(response)] == ["fields"]
    assert nothing_written()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"passed": 0, "failed": 0}, {"passed"}),
        ({"failed": 1}, {"passed"}),
        ({"passed": -1, "failed": 2}, {"passed"}),
        ({"passed": 3, "failed": False}, {"failed"}),
        ({"passed": 3, "failed": 0, "at": "2026-11-25T13:00:00Z"}, {"at"}),
        ({"passed": 3, "failed": 0, "suite": "nightly"}, {"suite"}),
    ],
)
def test_a_bad_integration_run_is_400_and_writes_nothing(
    client, source, source_token, body, fields
):
    response = call(client, "post", "sources/core-crm/integration-runs/", body, source_token)
    assert response.status_code == 400, response.content
    assert {error["field"] for error in errors_of(response)} == fields
    assert nothing_written()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"fields": [amount(), channel(categories=None)]}, {"fields[1].histogram"}),
        ({"fields": [amount(histogram=hist([0, 1], [0]))]}, {"fields[0].histogram"}),
        ({"fields": []}, {"fields"}),
        ({}, {"fields"}),
        (
            {"window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T00:00:00Z"}},
            {"window.start"},
        ),
        (
            {"window": {"start": "2026-11-26T00:00:00Z", "end": "2026-11-27T00:00:00Z"}},
            {"window.start"},
        ),
        ({"window": {"start": "2026-11-20T00:00:00Z"}}, {"window.end"}),
        ({"window": "last week"}, {"window"}),
        ({"fields": [amount()], "version": 3}, {"version"}),
    ],
)
def test_a_bad_reference_is_400_and_writes_nothing(client, source, sofia, body, fields):
    client.force_login(sofia)
    response = call(client, "post", "sources/core-crm/reference/", body)
    assert response.status_code == 400, response.content
    assert {error["field"] for error in errors_of(response)} == fields
    assert nothing_written()
    assert not AuditEvent.objects.filter(action="data_source.reference").exists()


def test_a_reference_from_a_window_without_profiles_is_400_and_writes_nothing(
    client, source, sofia
):
    client.force_login(sofia)
    body = {"window": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z"}}
    response = call(client, "post", "sources/core-crm/reference/", body)
    assert response.status_code == 400
    assert "No delivery in that window" in errors_of(response)[0]["message"]
    assert nothing_written()


RAW_BODIES = [
    "{not json",
    "",
    "[1, 2]",
    '"text"',
    "NaN",
    "null",
    '{"rows": NaN}',
    '{"rows": Infinity}',
    '{"passed": 1e400, "failed": 0}',
    '{"fields": [{"name": "amount", "missing_share": NaN}]}',
    '{"fields": [{"name": "a", "histogram": {"edges": [0, Infinity], "counts": [1]}}]}',
    '{"fields": [{"name": "a", "categories": {"x": 1.5}}]}',
    "[" * 100_000,
    '{"at": "\\ud800"}',
]


@pytest.mark.parametrize("endpoint", [*PUSHES, "reference"])
@pytest.mark.parametrize("raw", RAW_BODIES)
def test_a_body_that_is_not_valid_is_400_never_500(client, source, sofia, endpoint, raw):
    client.force_login(sofia)
    response = call(client, "post", f"sources/core-crm/{endpoint}/", raw=raw)
    assert response.status_code == 400, (raw[:40], response.content[:300])
    errors_of(response)
    assert nothing_written()


@pytest.mark.parametrize("endpoint", [*PUSHES, "reference"])
def test_a_body_over_five_mebibytes_is_413_without_being_read(client, source, sofia, endpoint):
    client.force_login(sofia)
    response = call(
        client,
        "post",
        f"sources/core-crm/{endpoint}/",
        GOOD[endpoint],
        CONTENT_LENGTH=str(FIVE_MIB + 1),
    )
    assert response.status_code == 413, response.content
    assert errors_of(response)[0]["code"] == "too_large"
    assert nothing_written()


def test_a_real_body_over_five_mebibytes_is_413(client, source, source_token):
    raw = json.dumps(GOOD["profiles"] | {"pad": "x" * FIVE_MIB})
    response = call(client, "post", "sources/core-crm/profiles/", raw=raw, token=source_token)
    assert response.status_code == 413
    assert nothing_written()


def test_a_body_of_exactly_five_mebibytes_is_read(client, source, source_token):
    raw = json.dumps(GOOD["deliveries"])
    raw = raw[:-1] + " " * (FIVE_MIB - len(raw)) + "}"
    assert len(raw) == FIVE_MIB
    response = call(client, "post", "sources/core-crm/deliveries/", raw=raw, token=source_token)
    assert response.status_code == 201, response.content[:300]


@pytest.mark.parametrize("endpoint", ["profiles", "reference"])
def test_more_than_500_fields_is_413_and_writes_nothing(client, source, sofia, endpoint):
    client.force_login(sofia)
    fields = [amount(name=f"f{i}") for i in range(501)]
    response = call(client, "post", f"sources/core-crm/{endpoint}/", {"fields": fields})
    assert response.status_code == 413, response.content[:300]
    errors = errors_of(response)
    assert [(e["field"], e["code"]) for e in errors] == [("fields", "too_large")]
    assert "at most 500 fields; this one has 501" in errors[0]["message"]
    assert nothing_written()


def test_500_fields_are_accepted(client, source, source_token):
    fields = [{"name": f"f{i}", "missing_share": 0.0} for i in range(500)]
    response = call(client, "post", "sources/core-crm/profiles/", {"fields": fields}, source_token)
    assert response.json() == {"accepted": 500, "duplicates": 0}


# --- Registration and levels ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "spreadsheet"}, "kind"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"name": ""}, "name"),
        ({"expected_interval_seconds": 59}, "expected_interval_seconds"),
        ({"expected_schema": {"amount": ["float"]}}, "expected_schema"),
        ({"expected_schema": {"amount": "t" * 41}}, "expected_schema"),
        ({"expected_schema": {"amount": 3}}, "expected_schema"),
        ({"expected_schema": ["amount"]}, "expected_schema"),
        ({"owner": "nobody"}, "owner"),
        ({"systems": ["no-such-system"]}, "systems"),
        ({"completeness_fail": 1.5}, "completeness_fail"),
        ({"completeness_warn": 0.3}, "completeness_fail"),  # past the default fail of 0.2
        ({"psi_warn": 0.3}, "psi_fail"),  # past the default fail of 0.25
        ({"drift_min_rows": 0}, "drift_min_rows"),
        ({"wasserstein_warn": -0.1}, "wasserstein_warn"),
    ],
)
def test_a_bad_source_is_refused_and_nothing_is_written(
    client, system, director, sofia, change, field
):
    client.force_login(director)
    response = call(client, "post", "sources/", NEW_SOURCE | change)
    assert response.status_code == 400, response.content
    assert field in [error["field"] for error in errors_of(response)]
    assert not DataSource.objects.exists()
    assert not AuditEvent.objects.filter(action="data_source.create").exists()


def test_a_duplicate_slug_is_refused(client, source, director):
    client.force_login(director)
    response = call(client, "post", "sources/", NEW_SOURCE | {"slug": "core-crm"})
    assert response.status_code == 400
    assert errors_of(response)[0]["field"] == "slug"
    assert DataSource.objects.get().name == "Core-banking CRM"


def test_a_sources_slug_cannot_change(client, source, director):
    client.force_login(director)
    response = call(client, "patch", "sources/core-crm/", {"slug": "crm-2"})
    assert response.status_code == 400
    assert errors_of(response)[0]["field"] == "slug"
    assert DataSource.objects.get().slug == "core-crm"


def test_the_detail_lists_every_check_and_the_references_with_their_edges(
    client, source, sofia, viewer
):
    client.force_login(sofia)
    assert call(client, "post", "sources/core-crm/reference/", GOOD["reference"]).status_code == (
        201
    )
    call(client, "post", "sources/core-crm/profiles/", GOOD["profiles"])
    data_source_evaluate(source_id=source.pk, now=NOW)
    client.force_login(viewer)
    body = call(client, "get", "sources/core-crm/").json()
    assert set(body["checks"]) == {
        "freshness",
        "volume",
        "completeness",
        "schema",
        "drift",
        "integration",
        "uptime",
    }
    freshness = body["checks"]["freshness"]
    assert (freshness["status"], freshness["value"]) == ("ok", 3600.0)
    assert freshness["since"] == freshness["evaluated_at"] == "2026-11-25T12:00:00Z"
    assert body["checks"]["drift"]["status"] == "ok"  # the current is the reference itself
    assert [row["field"] for row in body["checks"]["drift"]["fields"]] == ["amount", "channel"]
    references = body["references"]
    assert set(references) == {"amount", "channel"}
    assert references["amount"] | {"created_at": None} == {
        "version": 1,
        "rows": 100,
        "origin": "pushed",
        "edges": [0, 10, 20],
        "categories": None,
        "created_at": None,
    }
    assert (references["channel"]["edges"], references["channel"]["categories"]) == (
        None,
        ["branch", "online"],
    )
    # The list leaves the references out: they are for pipelines that bin.
    listed = call(client, "get", "sources/").json()["results"][0]
    assert "references" not in listed
    assert listed["checks"]["freshness"]["status"] == "ok"


def test_a_pushed_reference_answers_with_its_versions(client, source, sofia):
    client.force_login(sofia)
    first = call(client, "post", "sources/core-crm/reference/", GOOD["reference"])
    assert first.status_code == 201
    assert first.json() == {
        "references": [
            {"field": "amount", "version": 1, "rows": 100, "origin": "pushed"},
            {"field": "channel", "version": 1, "rows": 100, "origin": "pushed"},
        ]
    }
    again = call(client, "post", "sources/core-crm/reference/", {"fields": [amount()]})
    assert again.json()["references"] == [
        {"field": "amount", "version": 2, "rows": 100, "origin": "pushed"}
    ]
    event = AuditEvent.objects.filter(action="data_source.reference").last()
    assert (event.actor_label, event.after) == ("sofia", {"amount": {"version": 2, "rows": 100}})


def test_custom_levels_show_only_the_levels_changed_from_the_defaults(client, source, viewer):
    source.psi_warn, source.drift_min_rows = 0.2, 500
    source.save()
    client.force_login(viewer)
    body = call(client, "get", "sources/core-crm/").json()
    assert body["custom_levels"] == {
        "psi_warn": {"default": 0.1, "value": 0.2},
        "drift_min_rows": {"default": 100, "value": 500},
    }
    assert (body["psi_warn"], body["psi_fail"]) == (0.2, 0.25)


def test_a_level_change_is_audited_with_before_and_after(client, source, owner):
    client.force_login(owner)
    response = call(
        client, "patch", "sources/core-crm/", {"completeness_warn": 0.01, "psi_fail": 0.4}
    )
    assert response.status_code == 200, response.content
    assert response.json()["custom_levels"] == {
        "completeness_warn": {"default": 0.05, "value": 0.01},
        "psi_fail": {"default": 0.25, "value": 0.4},
    }
    event = AuditEvent.objects.get(action="data_source.update")
    assert event.actor_label == "omar"
    assert event.object_id == str(source.pk)
    assert event.before == {"completeness_warn": 0.05, "psi_fail": 0.25}
    assert event.after == {"completeness_warn": 0.01, "psi_fail": 0.4}


def test_a_change_of_the_systems_fed_is_audited(client, source, system, director):
    AISystemFactory(slug="eta-predictor")
    client.force_login(director)
    response = call(client, "patch", "sources/core-crm/", {"systems": ["eta-predictor"]})
    assert response.json()["systems"] == ["eta-predictor"]
    event = AuditEvent.objects.get(action="data_source.update")
    assert (event.before["systems"], event.after["systems"]) == (
        ["loan-classifier"],
        ["eta-predictor"],
    )


def test_a_full_update_replaces_the_settings(client, source, director):
    client.force_login(director)
    body = {
        "slug": "core-crm",
        "name": "CRM (nightly)",
        "kind": "database",
        "expected_interval_seconds": 86400,
        "expected_schema": {"id": "int"},
    }
    response = call(client, "put", "sources/core-crm/", body)
    assert response.status_code == 200, response.content
    source.refresh_from_db()
    assert (source.name, source.kind, source.expected_interval_seconds) == (
        "CRM (nightly)",
        "database",
        86400,
    )
    assert source.expected_schema == {"id": "int"}
    assert [s.slug for s in source.systems.all()] == ["loan-classifier"]  # left as it was


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"completeness_warn": 0.3}, "completeness_fail"),
        ({"completeness_warn": 0.1, "completeness_fail": 0.05}, "completeness_fail"),
        ({"psi_warn": 0.3}, "psi_fail"),
        ({"psi_warn": 0.2, "psi_fail": 0.15}, "psi_fail"),
        ({"completeness_fail": 1.01}, "completeness_fail"),
        ({"psi_fail": -1}, "psi_fail"),
        ({"drift_min_rows": 0}, "drift_min_rows"),
        ({"expected_interval_seconds": 30}, "expected_interval_seconds"),
    ],
)
def test_levels_out_of_order_are_400_and_nothing_changes(client, source, owner, change, field):
    client.force_login(owner)
    response = call(client, "patch", "sources/core-crm/", change)
    assert response.status_code == 400, response.content
    assert errors_of(response)[0]["field"] == field
    source.refresh_from_db()
    assert (
        source.completeness_warn,
        source.completeness_fail,
        source.psi_warn,
        source.psi_fail,
        source.drift_min_rows,
        source.expected_interval_seconds,
    ) == (0.05, 0.2, 0.1, 0.25, 100, 3600)
    assert source.custom_levels == {}
    assert not AuditEvent.objects.filter(action="data_source.update").exists()


# --- Source tokens ----------------------------------------------------------------------------


def test_sofia_mints_a_source_token_that_pushes_and_then_revokes_it(client, source, sofia):
    client.force_login(sofia)
    created = call(client, "post", "sources/core-crm/tokens/", {"name": "crm-etl"})
    assert created.status_code == 201, created.content
    secret = created.json()["token"]
    row = ApiToken.objects.get()
    assert (row.kind, row.data_source, row.system, row.created_by) == (
        "source",
        source,
        None,
        sofia,
    )
    listed = call(client, "get", "sources/core-crm/tokens/").json()["results"]
    assert [(t["name"], t["kind"], t["created_by"]) for t in listed] == [
        ("crm-etl", "source", "sofia")
    ]
    assert "token" not in listed[0]
    client.logout()
    assert call(client, "post", "sources/core-crm/deliveries/", {}, secret).status_code == 201
    client.force_login(sofia)
    assert call(client, "delete", f"sources/core-crm/tokens/{row.pk}/").status_code == 204
    assert call(client, "delete", f"sources/core-crm/tokens/{row.pk}/").status_code == 409
    client.logout()
    assert call(client, "post", "sources/core-crm/deliveries/", {}, secret).status_code == 401
    assert SourceDelivery.objects.count() == 1


def test_the_token_list_of_a_source_holds_only_its_own_tokens(
    client, source, other_source, system, director
):
    api_token_create(by=None, name="erp-etl", data_source=other_source)
    api_token_create(by=None, name="loan-ci", system=system)
    mine = api_token_create(by=None, name="crm-etl", data_source=source)[0]
    client.force_login(director)
    listed = call(client, "get", "sources/core-crm/tokens/").json()["results"]
    assert [t["id"] for t in listed] == [mine.pk]


def test_a_token_of_another_source_cannot_be_revoked_through_this_one(
    client, source, other_source, sofia
):
    theirs = api_token_create(by=None, name="erp-etl", data_source=other_source)[0]
    client.force_login(sofia)
    assert call(client, "delete", f"sources/core-crm/tokens/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_source_token_needs_a_name(client, source, sofia):
    client.force_login(sofia)
    response = call(client, "post", "sources/core-crm/tokens/", {"name": ""})
    assert response.status_code == 400
    assert errors_of(response)[0]["field"] == "name"
    assert not ApiToken.objects.exists()


def test_vic_cannot_see_the_tokens_of_a_source_he_does_not_own(client, source, viewer):
    api_token_create(by=None, name="crm-etl", data_source=source)
    client.force_login(viewer)
    response = call(client, "get", "sources/core-crm/tokens/")
    assert response.status_code == 403
    assert "manage its tokens" in errors_of(response)[0]["message"]


def test_the_token_revoked_by_its_owner_is_written_down_with_a_time(client, source, sofia):
    row = api_token_create(by=sofia, name="crm-etl", data_source=source)[0]
    client.force_login(sofia)
    call(client, "delete", f"sources/core-crm/tokens/{row.pk}/")
    row.refresh_from_db()
    assert row.revoked_at == NOW
    assert AuditEvent.objects.filter(action="token.revoke", actor_label="sofia").count() == 1


def test_push_times_are_judged_on_the_portals_clock(client, source, source_token):
    # Five minutes ahead is tolerated, a second more is refused, whatever the pipeline's clock.
    for offset, code in [(timedelta(minutes=5), 201), (timedelta(minutes=5, seconds=1), 400)]:
        body = {"at": (NOW + offset).isoformat()}
        response = call(client, "post", "sources/core-crm/deliveries/", body, source_token)
        assert response.status_code == code, response.content
    assert list(SourceDelivery.objects.values_list("at", flat=True)) == [NOW + timedelta(minutes=5)]


def test_vic_is_refused_before_his_bad_input_is_read(client, source, viewer):
    client.force_login(viewer)
    created = call(client, "post", "sources/", {"slug": "Not A Slug"})
    changed = call(client, "patch", "sources/core-crm/", {"psi_warn": -1})
    assert (created.status_code, changed.status_code) == (403, 403)
    assert DataSource.objects.count() == 1
    assert DataSource.objects.get().psi_warn == 0.1
