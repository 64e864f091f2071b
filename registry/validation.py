"""Validation of an ingestion batch: a pure function over the decoded JSON.

Kept apart from the view and the database so that every rule of the
contract (docs/api.md) is tested on plain data.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, NamedTuple

MAX_POINTS = 10_000
MAX_LISTED_ERRORS = 100
FUTURE_TOLERANCE = timedelta(minutes=5)
POINT_FIELDS = frozenset({"metric", "value", "at"})
BATCH_FIELDS = frozenset({"model_version", "points"})


class ValidPoint(NamedTuple):
    """One point that passed validation (a tuple: tens of thousands are made per second)."""

    metric_id: int
    at: datetime
    value: float


class TooManyPoints(Exception):
    """The batch holds more than MAX_POINTS points (answered with 413)."""


def _error(index: int | None, field: str | None, message: str) -> dict[str, Any]:
    return {"index": index, "field": field, "message": message, "code": "invalid"}


def parse_time(raw: Any) -> datetime | str:
    """An aware datetime from an ISO 8601 string, or the reason it is not one."""
    if not isinstance(raw, str):
        return "must be an ISO 8601 string with a time zone, e.g. 2026-11-25T10:00:00Z"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return f"{raw[:40]!r} is not an ISO 8601 time"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return f"{raw[:40]!r} has no time zone; add Z or an offset such as +08:00"
    return parsed


def _finite_number(raw: Any) -> float | str:
    """The value as a finite float, or the reason it is not one."""
    # bool is an int in Python; a pipeline sending true/false has a bug.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return "must be a number"
    try:
        value = float(raw)
    except OverflowError:
        return "is out of range for a double"
    if not math.isfinite(value):
        return "must be a finite number (not NaN or Infinity)"
    return value


def validate_batch(
    body: Any,
    *,
    metric_ids: dict[str, int],
    now: datetime,
    retention: timedelta,
) -> tuple[list[ValidPoint], str | None, list[dict[str, Any]]]:
    """Check a decoded batch against the contract.

    Returns the valid points, the model version string (or None) and the
    errors; the batch is to be stored only when the errors are empty. The
    model version's existence is checked by the caller, which knows the system.
    Raises TooManyPoints for a batch over MAX_POINTS.
    """
    if not isinstance(body, dict):
        return [], None, [_error(None, None, "the body must be a JSON object")]
    errors = [
        _error(None, field, f"unknown field {field!r}; allowed: model_version, points")
        for field in sorted(set(body) - BATCH_FIELDS)
    ]
    version = body.get("model_version")
    if version is not None and (not isinstance(version, str) or not version.strip()):
        errors.append(_error(None, "model_version", "must be a version string, or left out"))
        version = None
    points = body.get("points")
    if points is None:
        errors.append(_error(None, "points", "this field is required"))
        return [], version, errors
    if not isinstance(points, list):
        errors.append(_error(None, "points", "must be a list of points"))
        return [], version, errors
    if not points:
        errors.append(_error(None, "points", "must hold at least one point"))
        return [], version, errors
    if len(points) > MAX_POINTS:
        raise TooManyPoints(len(points))

    earliest = now - retention
    latest = now + FUTURE_TOLERANCE
    declared = ", ".join(sorted(metric_ids)) or "(none declared)"
    valid: list[ValidPoint] = []
    append = valid.append
    for index, point in enumerate(points):
        # Fast path for the well-formed point, which is nearly every point; anything
        # unusual falls through to the checks below, which say what is wrong.
        if type(point) is dict and len(point) == 3:
            key = point.get("metric")
            metric_id = metric_ids.get(key) if type(key) is str else None
            value = point.get("value")
            raw_at = point.get("at")
            if (
                metric_id is not None
                and type(value) is float
                and math.isfinite(value)
                and type(raw_at) is str
            ):
                try:
                    at = datetime.fromisoformat(raw_at)
                except ValueError:
                    at = None
                if at is not None and at.tzinfo is not None and earliest <= at <= latest:
                    append(ValidPoint(metric_id, at, value))
                    continue
        if not isinstance(point, dict):
            errors.append(_error(index, None, "a point must be an object"))
            continue
        for field in sorted(set(point) - POINT_FIELDS):
            errors.append(_error(index, field, f"unknown field {field!r}"))
        for field in sorted(POINT_FIELDS - set(point)):
            errors.append(_error(index, field, "this field is required"))
        if not set(point) >= POINT_FIELDS:
            continue

        ok = True
        key = point["metric"]
        metric_id = metric_ids.get(key) if isinstance(key, str) else None
        if metric_id is None:
            ok = False
            errors.append(
                _error(index, "metric", f"{str(key)[:64]!r} is not declared; declared: {declared}")
            )
        value = _finite_number(point["value"])
        if isinstance(value, str):
            ok = False
            errors.append(_error(index, "value", value))
        at = parse_time(point["at"])
        if isinstance(at, str):
            ok = False
            errors.append(_error(index, "at", at))
        elif at > latest:
            ok = False
            errors.append(_error(index, "at", "is more than 5 minutes in the future"))
        elif at < earliest:
            ok = False
            errors.append(
                _error(index, "at", f"is older than the retention period ({retention.days} days)")
            )
        if ok:
            valid.append(ValidPoint(metric_id=metric_id, at=at, value=value))
        if len(errors) > MAX_LISTED_ERRORS:
            break
    return valid, version, errors[:MAX_LISTED_ERRORS]
