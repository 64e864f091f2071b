"""POST /api/v1/systems/{slug}/metrics/: the ingestion contract end to end.

Every bad input also proves that nothing was written.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache

from registry.models import MetricPoint, MetricRollup
from registry.services import api_token_create, api_token_revoke
from tests.registry.factories import AISystemFactory, loan_classifier

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def fresh_rate_counters():
    cache.clear()


@pytest.fixture
def system():
    system = loan_classifier()
    return system


@pytest.fixture
def token(system):
    return api_token_create(by=None, name="nightly", system=system)[1]


def push(client, slug, body, token=None, raw=None, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else json.dumps(body)
    return client.post(
        f"/api/v1/systems/{slug}/metrics/",
        data,
        content_type="application/json",
        **headers,
        **extra,
    )


def point(metric="output_quality", value=0.93, at="2026-11-25T10:00:00Z"):
    return {"metric": metric, "value": value, "at": at}


def nothing_written():
    return MetricPoint.objects.count() == 0 and MetricRollup.objects.count() == 0


def test_a_pipeline_pushes_a_batch_and_gets_the_counts(client, system, token):
    body = {"model_version": "2.1.0", "points": [point(), point(at="2026-11-25T10:01:00Z")]}
    response = push(client, system.slug, body, token)
    assert response.status_code == 201, response.content
    assert response.json() == {"accepted": 2, "duplicates": 0}
    stored = MetricPoint.objects.get(at=datetime(2026, 11, 25, 10, 1, tzinfo=UTC))
    assert stored.model_version.version == "2.1.0"
    assert stored.received_at == NOW


def test_a_resent_batch_is_all_duplicates_and_changes_no_rollup(client, system, token):
    body = {"points": [point(value=0.9), point(value=0.8, at="2026-11-25T10:30:00Z")]}
    push(client, system.slug, body, token)
    before = list(MetricRollup.objects.values_list("count", "sum").order_by("id"))
    response = push(client, system.slug, body, token)
    assert response.json() == {"accepted": 0, "duplicates": 2}
    assert MetricPoint.objects.count() == 2
    assert list(MetricRollup.objects.values_list("count", "sum").order_by("id")) == before


def test_a_point_without_version_and_one_with_are_different_points(client, system, token):
    push(client, system.slug, {"points": [point()]}, token)
    response = push(client, system.slug, {"model_version": "2.1.0", "points": [point()]}, token)
    assert response.json() == {"accepted": 1, "duplicates": 0}
    again = push(client, system.slug, {"points": [point(value=0.5)]}, token)
    assert again.json() == {"accepted": 0, "duplicates": 1}


def test_rollups_hold_count_sum_min_max_and_last_per_hour_and_day(client, system, token):
    points = [
        point(value=0.9, at="2026-11-25T10:00:00Z"),
        point(value=0.7, at="2026-11-25T10:59:59Z"),
        point(value=0.8, at="2026-11-25T10:30:00Z"),
        point(value=0.6, at="2026-11-25T11:00:00Z"),
    ]
    push(client, system.slug, {"points": points}, token)
    hour = MetricRollup.objects.get(
        granularity="hour", bucket_start=datetime(2026, 11, 25, 10, tzinfo=UTC)
    )
    assert (hour.count, round(hour.sum, 9), hour.min, hour.max) == (3, 2.4, 0.7, 0.9)
    assert (hour.last_at.minute, hour.last_value) == (59, 0.7)
    day = MetricRollup.objects.get(granularity="day")
    assert (day.count, round(day.mean, 9), day.min, day.max, day.last_value) == (
        4,
        0.75,
        0.6,
        0.9,
        0.6,
    )


def test_a_later_batch_with_an_earlier_point_keeps_the_latest_as_last(client, system, token):
    push(client, system.slug, {"points": [point(value=0.9, at="2026-11-25T10:50:00Z")]}, token)
    push(client, system.slug, {"points": [point(value=0.1, at="2026-11-25T10:10:00Z")]}, token)
    hour = MetricRollup.objects.get(granularity="hour")
    assert (hour.count, hour.last_value, hour.min) == (2, 0.9, 0.1)


def test_a_p95_metric_keeps_a_sketch_in_its_rollups(client, system, token):
    values = list(range(1, 101))
    points = [
        point("latency_ms", v, (NOW - timedelta(hours=1, seconds=v)).isoformat()) for v in values
    ]
    push(client, system.slug, {"points": points}, token)
    from registry.rollups import sketch_quantile

    day = MetricRollup.objects.get(granularity="day", metric__key="latency_ms")
    assert sum(day.sketch.values()) == 100
    assert abs(sketch_quantile(day.sketch, 0.95) - 95) <= 0.95


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"points": [point(metric="accuracy")]}, "metric"),
        ({"points": [point(value="high")]}, "value"),
        ({"points": [point(value=None)]}, "value"),
        ({"points": [point(value=True)]}, "value"),
        ({"points": [point(at="2026-11-25T10:00:00")]}, "at"),
        ({"points": [point(at="2026-11-25T12:06:00Z")]}, "at"),
        ({"points": [point(at="2025-01-01T00:00:00Z")]}, "at"),
        ({"points": [{"metric": "output_quality", "value": 1}]}, "at"),
        ({"points": [point() | {"extra": 1}]}, "extra"),
        ({"model_version": "9.9.9", "points": [point()]}, "model_version"),
    ],
)
def test_a_bad_batch_is_refused_whole_and_nothing_is_written(client, system, token, body, field):
    body["points"] = [point(value=0.5, at="2026-11-25T09:00:00Z"), *body["points"]]
    response = push(client, system.slug, body, token)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in {error["field"] for error in errors}
    assert nothing_written()


@pytest.mark.parametrize(
    "raw",
    [
        "NaN",
        "[1, 2]",
        '"text"',
        "{not json",
        "",
        '{"points": [{"metric": "output_quality", "value": NaN, "at": "2026-11-25T10:00Z"}]}',
        '{"points": [{"metric": "output_quality", "value": Infinity, "at": "2026-11-25T10:00Z"}]}',
    ],
)
def test_a_body_that_is_not_a_valid_object_is_refused(client, system, token, raw):
    response = push(client, system.slug, None, token, raw=raw)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"]
    assert nothing_written()


def test_an_empty_batch_is_refused(client, system, token):
    response = push(client, system.slug, {"points": []}, token)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "points"


def test_an_undeclared_metric_error_lists_the_declared_keys(client, system, token):
    response = push(client, system.slug, {"points": [point(metric="accuracy")]}, token)
    assert "latency_ms, output_quality" in response.json()["errors"][0]["message"]


def test_at_most_one_hundred_errors_are_listed(client, system, token):
    response = push(client, system.slug, {"points": [point(value="x")] * 300}, token)
    assert len(response.json()["errors"]) == 100
    assert nothing_written()


def test_more_than_ten_thousand_points_is_413(client, system, token):
    points = [point(at=(NOW - timedelta(seconds=i)).isoformat()) for i in range(10_001)]
    response = push(client, system.slug, {"points": points}, token)
    assert response.status_code == 413
    assert nothing_written()


def test_a_body_over_five_mebibytes_is_413_without_being_parsed(client, system, token):
    raw = json.dumps({"points": [point()], "pad": "x" * (5 * 1024 * 1024)})
    response = push(client, system.slug, None, token, raw=raw)
    assert response.status_code == 413
    assert nothing_written()


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer a b", "Bearer agp_unknown", "Basic dXNlcjpwYXNz", "Bearer é"],
)
def test_a_missing_malformed_or_unknown_token_is_401(client, system, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = push(client, system.slug, {"points": [point()]}, **extra)
    assert response.status_code == 401, (header, response.status_code)
    assert response.json()["errors"][0]["message"]
    assert nothing_written()


def test_a_revoked_token_is_401(client, system):
    row, secret = api_token_create(by=None, name="old", system=system)
    api_token_revoke(token=row, by=None)
    response = push(client, system.slug, {"points": [point()]}, secret)
    assert response.status_code == 401
    assert "revoked" in response.json()["errors"][0]["message"]
    assert nothing_written()


def test_another_systems_token_is_403(client, system):
    other = AISystemFactory(slug="eta-predictor")
    secret = api_token_create(by=None, name="other", system=other)[1]
    response = push(client, system.slug, {"points": [point()]}, secret)
    assert response.status_code == 403
    assert nothing_written()


def test_a_person_without_the_right_is_403_and_an_owner_may_push(client, system, viewer, owner):
    viewer_token = api_token_create(by=viewer, name="mine", user=viewer)[1]
    assert push(client, system.slug, {"points": [point()]}, viewer_token).status_code == 403
    assert nothing_written()
    owner_token = api_token_create(by=owner, name="mine", user=owner)[1]
    assert push(client, system.slug, {"points": [point()]}, owner_token).status_code == 201


def test_an_unknown_system_is_404(client, token):
    assert push(client, "nope", {"points": [point()]}, token).status_code == 404


def test_a_token_over_its_rate_gets_429(client, system):
    row, secret = api_token_create(by=None, name="busy", system=system)
    row.rate_limit_per_minute = 2
    row.save()
    codes = [
        push(
            client, system.slug, {"points": [point(at=f"2026-11-25T10:0{i}:00Z")]}, secret
        ).status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]
    assert MetricPoint.objects.count() == 2


def test_the_browser_session_of_an_editor_may_push_with_csrf(client, system, director):
    client.force_login(director)
    assert push(client, system.slug, {"points": [point()]}).status_code == 201


def test_last_used_time_is_recorded(client, system):
    row, secret = api_token_create(by=None, name="n", system=system)
    push(client, system.slug, {"points": [point()]}, secret)
    row.refresh_from_db()
    assert row.last_used_at == NOW
