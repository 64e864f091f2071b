"""The ingestion contract's rules, on plain data (no database)."""

from datetime import UTC, datetime, timedelta

import pytest

from registry.validation import TooManyPoints, parse_time, validate_batch

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
METRICS = {"output_quality": 1, "latency_ms": 2}


def check(body):
    return validate_batch(body, metric_ids=METRICS, now=NOW, retention=timedelta(days=400))


def point(**overrides):
    return {"metric": "output_quality", "value": 0.93, "at": "2026-11-25T10:00:00Z", **overrides}


def only_error(body):
    points, _version, errors = check(body)
    assert points == [] or len(errors) == 1
    assert len(errors) == 1, errors
    return errors[0]


def test_a_good_batch_passes_with_its_version():
    points, version, errors = check({"model_version": "2.1.0", "points": [point()]})
    assert errors == []
    assert version == "2.1.0"
    assert points[0].metric_id == 1
    assert points[0].at == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert points[0].value == 0.93


def test_an_offset_is_accepted_and_kept_as_the_same_instant():
    points, _, errors = check({"points": [point(at="2026-11-25T18:00:00+08:00")]})
    assert errors == []
    assert points[0].at == datetime(2026, 11, 25, 10, tzinfo=UTC)


@pytest.mark.parametrize("body", [[], "x", 3, None, True])
def test_a_body_that_is_not_an_object_is_refused(body):
    assert only_error(body)["message"] == "the body must be a JSON object"


@pytest.mark.parametrize(
    ("points", "message"),
    [(None, "required"), ([], "at least one"), ({"a": 1}, "must be a list")],
)
def test_the_points_list_must_be_a_nonempty_list(points, message):
    body = {} if points is None else {"points": points}
    error = only_error(body)
    assert error["field"] == "points"
    assert message in error["message"]


def test_an_unknown_top_level_field_is_refused():
    _, _, errors = check({"points": [point()], "modelversion": "1"})
    assert errors[0]["field"] == "modelversion"


@pytest.mark.parametrize("missing", ["metric", "value", "at"])
def test_a_missing_point_field_is_named(missing):
    raw = point()
    del raw[missing]
    error = only_error({"points": [raw]})
    assert (error["index"], error["field"]) == (0, missing)


def test_an_unknown_point_field_is_named():
    error = only_error({"points": [point(unit="ms")]})
    assert (error["index"], error["field"]) == (0, "unit")


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), "0.9", True, False, None, [1], 10**400]
)
def test_a_value_that_is_not_a_finite_number_is_refused(value):
    error = only_error({"points": [point(value=value)]})
    assert error["field"] == "value"


def test_integers_are_numbers():
    points, _, errors = check({"points": [point(value=3)]})
    assert errors == [] and points[0].value == 3.0


@pytest.mark.parametrize(
    "at", ["2026-11-25T10:00:00", "2026-11-25", "yesterday", "25/11/2026 10:00", 1764064800, None]
)
def test_a_time_without_zone_or_not_iso_is_refused(at):
    error = only_error({"points": [point(at=at)]})
    assert error["field"] == "at"


def test_the_future_limit_is_five_minutes():
    ok = (NOW + timedelta(minutes=5)).isoformat()
    late = (NOW + timedelta(minutes=5, seconds=1)).isoformat()
    assert check({"points": [point(at=ok)]})[2] == []
    assert "future" in only_error({"points": [point(at=late)]})["message"]


def test_the_past_limit_is_the_retention_period():
    ok = (NOW - timedelta(days=400)).isoformat()
    old = (NOW - timedelta(days=400, seconds=1)).isoformat()
    assert check({"points": [point(at=ok)]})[2] == []
    assert "retention" in only_error({"points": [point(at=old)]})["message"]


@pytest.mark.parametrize("key", [["output_quality"], {"a": 1}, 7, None])
def test_a_metric_key_that_is_not_a_string_is_refused(key):
    assert only_error({"points": [point(metric=key)]})["field"] == "metric"


def test_an_undeclared_metric_is_refused_with_the_declared_keys():
    error = only_error({"points": [point(metric="accuracy")]})
    assert error["field"] == "metric"
    assert "latency_ms, output_quality" in error["message"]


def test_a_bad_model_version_value_is_refused():
    _, _, errors = check({"model_version": 2, "points": [point()]})
    assert errors[0]["field"] == "model_version"


def test_one_bad_point_makes_the_whole_batch_invalid_and_errors_have_indexes():
    _points, _, errors = check({"points": [point(), point(value="x"), point(at="nope")]})
    assert [(e["index"], e["field"]) for e in errors] == [(1, "value"), (2, "at")]


def test_at_most_one_hundred_errors_are_listed():
    _, _, errors = check({"points": [point(value="x")] * 500})
    assert len(errors) == 100


def test_more_than_ten_thousand_points_is_too_many():
    check({"points": [point()] * 10_000})
    with pytest.raises(TooManyPoints):
        check({"points": [point()] * 10_001})


def test_parse_time_explains_itself():
    assert "time zone" in parse_time("2026-11-25T10:00:00")
    assert parse_time("2026-11-25T10:00:00Z") == datetime(2026, 11, 25, 10, tzinfo=UTC)
