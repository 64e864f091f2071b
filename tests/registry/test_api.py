"""Systems, versions, metric specs, series and tokens over the API, with permissions.

Dana directs operations, Omar owns systems, Ada approves, Vic views,
Charlie has no role; a pipeline token belongs to one system.
"""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import CommandError, call_command

from registry.models import AISystem, ApiToken, MetricSpec, ModelVersion, content_hash
from registry.services import api_token_create, api_token_revoke
from registry.validation import ValidPoint
from registry.writer import store_points
from tests.registry.factories import (
    AISystemFactory,
    DataSourceFactory,
    MetricSpecFactory,
    ModelVersionFactory,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


def call(client, method, path, body=None, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return getattr(client, method)(
        f"/api/v1/{path}",
        json.dumps(body) if body is not None else None,
        content_type="application/json",
        **headers,
    )


SYSTEM = {
    "slug": "contract-reviewer",
    "name": "Contract reviewer",
    "purpose": "Flags risky clauses",
    "business_unit": "Legal",
    "risk_tier": "high",
}


# --- Systems -----------------------------------------------------------------------------


def test_dana_registers_a_system_and_everyone_with_a_role_reads_it(client, director, viewer):
    client.force_login(director)
    response = call(client, "post", "systems/", SYSTEM)
    assert response.status_code == 201, response.content
    assert response.json()["stage"] == "operational_architecture"
    assert response.json()["deployed_version"] is None
    client.force_login(viewer)
    listed = call(client, "get", "systems/").json()
    assert [s["slug"] for s in listed["results"]] == ["contract-reviewer"]


@pytest.mark.parametrize("persona", ["owner", "approver", "viewer"])
def test_only_a_director_may_register_a_system(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert call(client, "post", "systems/", SYSTEM).status_code == 403
    assert not AISystem.objects.exists()


def test_charlie_without_a_role_reads_nothing(client, outsider):
    AISystemFactory()
    client.force_login(outsider)
    response = call(client, "get", "systems/")
    assert response.status_code == 403
    assert "role" in response.json()["errors"][0]["message"]


def test_anonymous_callers_get_401(client):
    assert call(client, "get", "systems/").status_code in (401, 403)
    assert call(client, "get", "systems/", token="agp_nope").status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"risk_tier": "extreme"}, "risk_tier"),
        ({"slug": "Bad Slug!"}, "slug"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_system_is_refused_and_nothing_is_written(client, director, change, field):
    client.force_login(director)
    response = call(client, "post", "systems/", SYSTEM | change)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert not AISystem.objects.exists()


def test_a_duplicate_slug_is_refused(client, director):
    client.force_login(director)
    call(client, "post", "systems/", SYSTEM)
    response = call(client, "post", "systems/", SYSTEM)
    assert response.status_code == 400
    assert AISystem.objects.count() == 1


def test_the_stage_is_read_only_and_filters_work(client, director):
    client.force_login(director)
    call(client, "post", "systems/", SYSTEM)
    response = call(client, "patch", "systems/contract-reviewer/", {"stage": "production"})
    assert response.status_code == 200
    assert response.json()["stage"] == "operational_architecture"
    AISystemFactory(slug="low-one", risk_tier="low")
    high = call(client, "get", "systems/?risk_tier=high").json()["results"]
    assert [s["slug"] for s in high] == ["contract-reviewer"]


def test_a_patched_system_still_says_it_has_no_deployed_version(client, director):
    # DRF leaves a field with a default out of a partial update's response (found by fuzzing).
    AISystemFactory(slug="s")
    client.force_login(director)
    response = call(client, "patch", "systems/s/", {"name": "Renamed"})
    assert response.status_code == 200
    assert response.json()["deployed_version"] is None


def test_a_pipeline_sees_only_its_own_system(client):
    mine, _other = AISystemFactory(slug="mine"), AISystemFactory(slug="other")
    secret = api_token_create(by=None, name="p", system=mine)[1]
    listed = call(client, "get", "systems/", token=secret).json()["results"]
    assert [s["slug"] for s in listed] == ["mine"]
    assert call(client, "get", "systems/other/", token=secret).status_code == 404
    assert call(client, "get", "systems/other/versions/", token=secret).status_code == 403


# --- Versions ----------------------------------------------------------------------------


VERSION = {
    "version": "2.1.0",
    "artifact_uri": "s3://models/contract-reviewer/2.1.0",
    "parameters": {"temperature": 0.2},
    "training_data": {"source": "clauses-2026Q3", "rows": 120000, "labelled_share": 0.35},
}


def test_a_pipeline_registers_a_version_with_its_content_hash(client):
    system = AISystemFactory(slug="contract-reviewer")
    secret = api_token_create(by=None, name="ci", system=system)[1]
    response = call(client, "post", "systems/contract-reviewer/versions/", VERSION, token=secret)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "candidate"
    assert body["content_hash"] == content_hash(
        version="2.1.0", artifact_uri=VERSION["artifact_uri"], parameters={"temperature": 0.2}
    )
    assert body["training_data"] == VERSION["training_data"]
    fetched = call(client, "get", "systems/contract-reviewer/versions/2.1.0/", token=secret)
    assert fetched.json()["version"] == "2.1.0"


def test_changing_parameters_changes_the_hash(client, owner):
    version = ModelVersionFactory(system__slug="s", version="1.0.0")
    client.force_login(owner)
    response = call(client, "patch", "systems/s/versions/1.0.0/", {"parameters": {"k": 5}})
    assert response.status_code == 200
    assert response.json()["content_hash"] != version.content_hash
    notes = call(client, "patch", "systems/s/versions/1.0.0/", {"notes": "why"}).json()
    assert notes["content_hash"] == response.json()["content_hash"]


@pytest.mark.parametrize(
    "bad",
    [
        {"training_data": {"labelled_share": 1.5}},
        {"training_data": {"rows": -1}},
        {"parameters": [1, 2]},
        {"artifact_uri": ""},
    ],
)
def test_a_bad_version_is_refused_and_nothing_is_written(client, owner, bad):
    AISystemFactory(slug="s")
    client.force_login(owner)
    response = call(client, "post", "systems/s/versions/", VERSION | bad)
    assert response.status_code == 400, response.content
    assert not ModelVersion.objects.exists()


def test_a_version_string_is_unique_per_system(client, owner):
    AISystemFactory(slug="s")
    client.force_login(owner)
    call(client, "post", "systems/s/versions/", VERSION)
    response = call(client, "post", "systems/s/versions/", VERSION)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "version"


def test_a_retired_version_cannot_change_and_the_schema_says_409(client, owner):
    ModelVersionFactory(system__slug="s", version="1.0.0", status="retired")
    client.force_login(owner)
    response = call(client, "patch", "systems/s/versions/1.0.0/", {"notes": "late"})
    assert response.status_code == 409
    assert ModelVersion.objects.get().notes == ""
    paths = client.get("/api/schema/?format=json").json()["paths"]
    assert "409" in paths["/api/v1/systems/{slug}/versions/{version}/"]["patch"]["responses"]


def test_a_viewer_cannot_register_a_version(client, viewer):
    AISystemFactory(slug="s")
    client.force_login(viewer)
    assert call(client, "post", "systems/s/versions/", VERSION).status_code == 403
    assert not ModelVersion.objects.exists()


# --- Metric specs ------------------------------------------------------------------------


SPEC = {
    "key": "output_quality",
    "name": "Output quality",
    "kind": "quality",
    "unit": "",
    "direction": "higher_is_better",
    "warning": 0.9,
    "critical": 0.85,
    "aggregation": "mean",
    "required": True,
    "expected_interval_seconds": 3600,
    "pending_seconds": 900,
}


def test_omar_declares_a_metric_and_a_pipeline_reads_it(client, owner):
    system = AISystemFactory(slug="s")
    client.force_login(owner)
    response = call(client, "post", "systems/s/metric-specs/", SPEC)
    assert response.status_code == 201, response.content
    secret = api_token_create(by=None, name="p", system=system)[1]
    client.logout()
    specs = call(client, "get", "systems/s/metric-specs/", token=secret).json()["results"]
    assert specs == [SPEC]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"critical": 0.95}, "critical"),
        ({"direction": "lower_is_better", "critical": 0.5}, "critical"),
        ({"kind": "vibes"}, "kind"),
        ({"aggregation": "median"}, "aggregation"),
        ({"expected_interval_seconds": 0}, "expected_interval_seconds"),
        ({"key": "has space"}, "key"),
    ],
)
def test_a_bad_metric_spec_is_refused_and_nothing_is_written(client, owner, bad, field):
    AISystemFactory(slug="s")
    client.force_login(owner)
    response = call(client, "post", "systems/s/metric-specs/", SPEC | bad)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field
    assert not MetricSpec.objects.exists()


def test_thresholds_can_change_but_not_the_key(client, owner):
    MetricSpecFactory(system__slug="s", key="output_quality")
    client.force_login(owner)
    ok = call(client, "patch", "systems/s/metric-specs/output_quality/", {"warning": 0.95})
    assert ok.status_code == 200 and ok.json()["warning"] == 0.95
    bad = call(client, "patch", "systems/s/metric-specs/output_quality/", {"key": "q2"})
    assert bad.status_code == 400
    worse = call(client, "patch", "systems/s/metric-specs/output_quality/", {"critical": 0.99})
    assert worse.status_code == 400
    assert MetricSpec.objects.get().critical == 0.8


def test_from_stage_3_thresholds_need_a_change_request(client, owner):
    MetricSpecFactory(system__slug="s", system__stage="staged_rollout", key="output_quality")
    client.force_login(owner)
    response = call(client, "patch", "systems/s/metric-specs/output_quality/", {"warning": 0.95})
    assert response.status_code == 409
    assert "change request" in response.json()["errors"][0]["message"]
    assert MetricSpec.objects.get().warning == 0.9


def test_a_pipeline_cannot_change_thresholds(client):
    spec = MetricSpecFactory(system__slug="s")
    secret = api_token_create(by=None, name="p", system=spec.system)[1]
    response = call(
        client, "patch", f"systems/s/metric-specs/{spec.key}/", {"warning": 0.1}, secret
    )
    assert response.status_code == 403


# --- Series ------------------------------------------------------------------------------


@pytest.fixture
def series_spec():
    version = ModelVersionFactory(system__slug="s", version="1.0.0")
    spec = MetricSpecFactory(system=version.system)
    # One point an hour for 40 days, value = hour of day / 24; the last 3 days on 1.0.0.
    points = [
        ValidPoint(metric_id=spec.pk, at=NOW - timedelta(hours=h), value=((NOW.hour - h) % 24) / 24)
        for h in range(1, 40 * 24)
    ]
    store_points(system_id=spec.system_id, version_id=None, points=points[72:], received_at=NOW)
    store_points(
        system_id=spec.system_id, version_id=version.pk, points=points[:72], received_at=NOW
    )
    return spec


def test_the_series_has_at_most_n_buckets_from_the_rollups(client, viewer, series_spec):
    client.force_login(viewer)
    body = call(client, "get", "systems/s/metrics/output_quality/series/?buckets=10").json()
    assert body["metric"] == "output_quality"
    assert body["resolution"] == "day"
    # Whole days: the first bucket starts on the day that holds the window's start
    # (30 days ago, noon); 30.5 days in at most 10 buckets -> 4-day buckets.
    assert len(body["buckets"]) == 8
    assert body["buckets"][0]["start"] == "2026-10-26T00:00:00Z"
    assert body["buckets"][1]["start"] == "2026-10-30T00:00:00Z"
    assert sum(bucket["count"] for bucket in body["buckets"]) == 30 * 24 + 12
    full = body["buckets"][1]
    assert full["count"] == 96
    assert (full["min"], full["max"]) == (0.0, 23 / 24)
    assert abs(full["mean"] - 11.5 / 24) < 1e-9


def test_the_series_defaults_to_thirty_days_at_hourly_resolution(client, viewer, series_spec):
    client.force_login(viewer)
    body = call(client, "get", "systems/s/metrics/output_quality/series/").json()
    assert body["resolution"] == "hour"
    assert len(body["buckets"]) == 360  # 2-hour buckets: 1.44 h rounded up to whole hours
    assert sum(bucket["count"] for bucket in body["buckets"]) == 30 * 24


def test_the_series_filters_by_version_and_leaves_empty_buckets_out(client, viewer, series_spec):
    client.force_login(viewer)
    body = call(
        client, "get", "systems/s/metrics/output_quality/series/?version=1.0.0&buckets=40"
    ).json()
    assert sum(bucket["count"] for bucket in body["buckets"]) == 72
    assert len(body["buckets"]) < 40


def test_a_short_window_is_served_from_raw_points(client, viewer, series_spec):
    client.force_login(viewer)
    start = (NOW - timedelta(hours=5)).isoformat().replace("+00:00", "Z")
    body = call(
        client, "get", f"systems/s/metrics/output_quality/series/?start={start}&buckets=100"
    ).json()
    assert body["resolution"] == "raw"
    assert [bucket["count"] for bucket in body["buckets"]] == [1, 1, 1, 1, 1]


@pytest.mark.parametrize(
    "query",
    [
        "buckets=0",
        "buckets=5001",
        "buckets=x",
        "start=yesterday",
        "version=9.9",
        "start=2026-11-25T12:00:00Z&end=2026-11-01T00:00:00Z",
    ],
)
def test_bad_series_parameters_are_400(client, viewer, series_spec, query):
    client.force_login(viewer)
    response = call(client, "get", f"systems/s/metrics/output_quality/series/?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["message"]


def test_an_unknown_metric_is_404(client, viewer, series_spec):
    client.force_login(viewer)
    assert call(client, "get", "systems/s/metrics/nope/series/").status_code == 404


# --- Tokens ------------------------------------------------------------------------------


def test_omar_creates_a_pipeline_token_shown_once_and_stored_hashed(client, owner):
    AISystemFactory(slug="s")
    client.force_login(owner)
    response = call(client, "post", "systems/s/tokens/", {"name": "nightly"})
    assert response.status_code == 201
    secret = response.json()["token"]
    assert secret.startswith("agp_") and len(secret) > 40
    row = ApiToken.objects.get()
    assert secret not in json.dumps(list(ApiToken.objects.values()), default=str)
    assert row.prefix == secret[:12]
    listed = call(client, "get", "systems/s/tokens/").json()["results"]
    assert "token" not in listed[0]
    assert listed[0]["created_by"] == "omar"


def test_a_token_made_on_the_command_line_lists_with_no_creator(client, owner):
    # The schema said created_by is always a username (found by fuzzing).
    api_token_create(by=None, name="cron", system=AISystemFactory(slug="s"))
    client.force_login(owner)
    listed = call(client, "get", "systems/s/tokens/").json()["results"]
    assert listed[0]["created_by"] is None
    schema = client.get("/api/schema/?format=json").json()
    assert schema["components"]["schemas"]["Token"]["properties"]["created_by"]["nullable"]


def test_a_revoked_token_stops_working_and_cannot_be_revoked_twice(client, owner):
    system = AISystemFactory(slug="s")
    row, secret = api_token_create(by=owner, name="p", system=system)
    client.force_login(owner)
    assert call(client, "delete", f"systems/s/tokens/{row.pk}/").status_code == 204
    assert call(client, "delete", f"systems/s/tokens/{row.pk}/").status_code == 409
    client.logout()
    assert call(client, "get", "systems/s/", token=secret).status_code == 401


@pytest.mark.parametrize("persona", ["viewer", "approver", "outsider"])
def test_only_editors_manage_pipeline_tokens(client, request, persona):
    AISystemFactory(slug="s")
    client.force_login(request.getfixturevalue(persona))
    assert call(client, "post", "systems/s/tokens/", {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_a_pipeline_cannot_mint_tokens(client):
    system = AISystemFactory(slug="s")
    secret = api_token_create(by=None, name="p", system=system)[1]
    assert call(client, "post", "systems/s/tokens/", {"name": "x"}, secret).status_code == 403
    assert call(client, "get", "tokens/", token=secret).status_code == 403
    assert ApiToken.objects.count() == 1


def test_a_token_needs_a_name(client, owner):
    AISystemFactory(slug="s")
    client.force_login(owner)
    assert call(client, "post", "systems/s/tokens/", {"name": ""}).status_code == 400
    assert not ApiToken.objects.exists()


def test_vic_scripts_with_a_personal_token_that_has_his_rights(client, viewer):
    AISystemFactory(slug="s")
    client.force_login(viewer)
    secret = call(client, "post", "tokens/", {"name": "laptop"}).json()["token"]
    client.logout()
    assert call(client, "get", "systems/s/", token=secret).status_code == 200
    assert call(client, "post", "systems/", SYSTEM, token=secret).status_code == 403
    viewer.is_active = False
    viewer.save()
    assert call(client, "get", "systems/s/", token=secret).status_code == 401


def test_people_see_and_revoke_only_their_own_personal_tokens(client, viewer, owner):
    theirs, _ = api_token_create(by=owner, name="omar's", user=owner)
    client.force_login(viewer)
    assert call(client, "get", "tokens/").json()["results"] == []
    assert call(client, "delete", f"tokens/{theirs.pk}/").status_code == 404


def test_the_command_prints_a_working_token(client, owner):
    AISystemFactory(slug="s")
    out = StringIO()
    call_command("create_token", "--system", "s", "--name", "cron", stdout=out)
    secret = out.getvalue().strip()
    assert call(client, "get", "systems/s/", token=secret).status_code == 200
    out = StringIO()
    call_command("create_token", "--user", "omar", stdout=out)
    assert call(client, "get", "systems/s/", token=out.getvalue().strip()).status_code == 200


def test_the_command_prints_a_token_that_reaches_only_its_source(client):
    DataSourceFactory(slug="crm")
    DataSourceFactory(slug="erp")
    out = StringIO()
    call_command("create_token", "--source", "crm", "--name", "crm-etl", stdout=out)
    secret = out.getvalue().strip()
    assert call(client, "get", "sources/crm/", token=secret).status_code == 200
    assert call(client, "get", "sources/erp/", token=secret).status_code == 404
    assert ApiToken.objects.get().kind == "source"


def test_the_command_refuses_an_unknown_system_or_user():
    with pytest.raises(CommandError, match="No AI system"):
        call_command("create_token", "--system", "nope")
    with pytest.raises(CommandError, match="No user"):
        call_command("create_token", "--user", "nobody")
    with pytest.raises(CommandError, match="No data source"):
        call_command("create_token", "--source", "nope")
    assert not ApiToken.objects.exists()


def test_the_schema_documents_every_endpoint_with_its_errors_and_examples(client):
    schema = client.get("/api/schema/?format=json").json()
    ingest = schema["paths"]["/api/v1/systems/{slug}/metrics/"]["post"]
    assert {"201", "400", "401", "403", "404", "413", "429"} <= set(ingest["responses"])
    assert "bearerToken" in schema["components"]["securitySchemes"]
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert any(code.startswith("2") for code in codes), (method, path)
            assert {"401", "403", "429"} <= codes, (method, path)
            if method == "post":
                assert "400" in codes, (method, path)
                body = operation["requestBody"]["content"]["application/json"]
                assert body.get("examples"), f"no example for POST {path}"


def test_a_cached_pipeline_token_stops_working_the_moment_it_is_revoked(
    client, django_capture_on_commit_callbacks
):
    from registry.services.systems import REVOKED, _token_cache_key

    cache.clear()
    AISystemFactory(slug="s")
    token, secret = api_token_create(by=None, name="cron", system=AISystem.objects.get())
    assert call(client, "get", "systems/s/", token=secret).status_code == 200
    assert cache.get(_token_cache_key(token.token_hash)) is not None  # the row is cached
    with django_capture_on_commit_callbacks(execute=True):
        api_token_revoke(token=token, by=None)
    # A request that read the row before the commit cannot put it back.
    assert cache.add(_token_cache_key(token.token_hash), token) is False
    assert cache.get(_token_cache_key(token.token_hash)) == REVOKED
    assert call(client, "get", "systems/s/", token=secret).status_code == 401


def test_a_personal_token_is_never_cached(client, owner):
    from registry.services.systems import _token_cache_key

    AISystemFactory(slug="s")
    token, secret = api_token_create(by=owner, name="script", user=owner)
    assert call(client, "get", "systems/s/", token=secret).status_code == 200
    assert cache.get(_token_cache_key(token.token_hash)) is None
    owner.is_active = False
    owner.save()
    assert call(client, "get", "systems/s/", token=secret).status_code == 401
