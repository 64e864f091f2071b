"""Validation of what source pipelines push: pure functions over the decoded JSON.

Deliveries, field profiles, integration-test runs and reference profiles
(docs/api.md, "Data sources"). Each returns the cleaned value and a list of
errors in the API's shape; the caller writes only when the list is empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from registry.validation import FUTURE_TOLERANCE, MAX_LISTED_ERRORS, parse_time

MAX_FIELDS = 500
MAX_BINS = 200
MAX_CATEGORIES = 1000
MAX_NAME = 120
MAX_TYPE = 40
MAX_COUNT = 10**15


class TooManyFields(Exception):
    """A profile batch with more than MAX_FIELDS fields (answered with 413)."""


@dataclass(frozen=True)
class Distribution:
    """A field's distribution: bin edges and counts (numbers) or category counts."""

    edges: list[float] | None = None
    counts: list[int] | None = None
    categories: dict[str, int] | None = None

    @property
    def rows(self) -> int:
        if self.counts is not None:
            return sum(self.counts)
        return sum((self.categories or {}).values())


@dataclass(frozen=True)
class FieldObservation:
    """One field of a profile batch, validated."""

    name: str
    observed_type: str
    missing_share: float | None
    rows: int | None
    distribution: Distribution | None


def _error(index: int | None, field: str | None, message: str) -> dict[str, Any]:
    return {"index": index, "field": field, "message": message, "code": "invalid"}


def _unknown(body: dict, allowed: frozenset[str], index: int | None, prefix: str = ""):
    names = ", ".join(sorted(allowed))
    return [
        _error(index, f"{prefix}{key}", f"unknown field {str(key)[:40]!r}; allowed: {names}")
        for key in sorted(set(body) - allowed, key=str)
    ]


def _count(raw: Any) -> int | str:
    """A non-negative integer count, or the reason it is not one."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        if isinstance(raw, float) and raw.is_integer() and math.isfinite(raw):
            raw = int(raw)
        else:
            return "must be a whole number"
    if raw < 0:
        return "must not be negative"
    if raw > MAX_COUNT:
        return "is too large"
    return raw


def _time(
    raw: Any, *, now: datetime, retention: timedelta, required: bool = False
) -> datetime | str:
    """The `at` of a push: default now, at most 5 minutes ahead, within the retention."""
    if raw is None:
        return "this field is required" if required else now
    at = parse_time(raw)
    if isinstance(at, str):
        return at
    if at > now + FUTURE_TOLERANCE:
        return "is more than 5 minutes in the future"
    if at < now - retention:
        return f"is older than the retention period ({retention.days} days)"
    return at


def validate_delivery(
    body: Any, *, now: datetime, retention: timedelta
) -> tuple[datetime | None, int | None, list[dict[str, Any]]]:
    """A delivery: `{"at": optional time, "rows": optional count}` -> (at, rows, errors)."""
    if not isinstance(body, dict):
        return None, None, [_error(None, None, "the body must be a JSON object")]
    errors = _unknown(body, frozenset({"at", "rows"}), None)
    at = _time(body.get("at"), now=now, retention=retention)
    if isinstance(at, str):
        errors.append(_error(None, "at", at))
        at = None
    rows = body.get("rows")
    if rows is not None:
        rows = _count(rows)
        if isinstance(rows, str):
            errors.append(_error(None, "rows", rows))
            rows = None
    return at, rows, errors


def validate_integration_run(
    body: Any, *, now: datetime, retention: timedelta
) -> tuple[tuple[datetime, int, int] | None, list[dict[str, Any]]]:
    """An integration-test run: `{"passed": n, "failed": m, "at": optional}`; n + m > 0."""
    if not isinstance(body, dict):
        return None, [_error(None, None, "the body must be a JSON object")]
    errors = _unknown(body, frozenset({"at", "passed", "failed"}), None)
    counts = {}
    for name in ("passed", "failed"):
        if name not in body:
            errors.append(_error(None, name, "this field is required"))
            continue
        value = _count(body[name])
        if isinstance(value, str):
            errors.append(_error(None, name, value))
        else:
            counts[name] = value
    if len(counts) == 2 and counts["passed"] + counts["failed"] == 0:
        errors.append(
            _error(None, "passed", "a run holds at least one check (passed + failed > 0)")
        )
    at = _time(body.get("at"), now=now, retention=retention)
    if isinstance(at, str):
        errors.append(_error(None, "at", at))
    if errors:
        return None, errors
    return (at, counts["passed"], counts["failed"]), []


def _finite(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        value = float(raw)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def validate_distribution(
    raw: dict, *, index: int | None, prefix: str
) -> tuple[Distribution | None, list[dict[str, Any]]]:
    """`histogram: {edges, counts}` or `categories: {value: count}` of one field (not both)."""
    errors: list[dict[str, Any]] = []
    histogram, categories = raw.get("histogram"), raw.get("categories")
    if histogram is not None and categories is not None:
        return None, [
            _error(index, f"{prefix}histogram", "give a histogram or categories, not both")
        ]
    if histogram is not None:
        where = f"{prefix}histogram"
        if not isinstance(histogram, dict):
            return None, [_error(index, where, "must be an object with edges and counts")]
        errors += _unknown(histogram, frozenset({"edges", "counts"}), index, f"{where}.")
        edges, counts = histogram.get("edges"), histogram.get("counts")
        if not isinstance(edges, list) or not 2 <= len(edges) <= MAX_BINS + 1:
            errors.append(
                _error(index, f"{where}.edges", f"must be a list of 2 to {MAX_BINS + 1} numbers")
            )
            return None, errors
        clean_edges = [_finite(edge) for edge in edges]
        if any(edge is None for edge in clean_edges):
            errors.append(_error(index, f"{where}.edges", "every edge must be a finite number"))
            return None, errors
        if any(b <= a for a, b in pairwise(clean_edges)):
            errors.append(_error(index, f"{where}.edges", "must be strictly increasing"))
        if not isinstance(counts, list) or len(counts) != len(edges) - 1:
            errors.append(
                _error(index, f"{where}.counts", f"must be a list of {len(edges) - 1} counts")
            )
            return None, errors
        clean_counts = [_count(count) for count in counts]
        if any(isinstance(count, str) for count in clean_counts):
            errors.append(
                _error(index, f"{where}.counts", "every count must be a whole number ≥ 0")
            )
        if errors:
            return None, errors
        return Distribution(edges=clean_edges, counts=clean_counts), []
    if categories is not None:
        where = f"{prefix}categories"
        if not isinstance(categories, dict) or not 1 <= len(categories) <= MAX_CATEGORIES:
            return None, [
                _error(index, where, f"must be an object of 1 to {MAX_CATEGORIES} value: count")
            ]
        clean = {}
        for value, count in categories.items():
            checked = _count(count)
            if isinstance(checked, str) or len(value) > MAX_NAME:
                errors.append(
                    _error(
                        index,
                        where,
                        f"{value[:40]!r}: counts are whole numbers ≥ 0, "
                        f"values at most {MAX_NAME} characters",
                    )
                )
                break
            clean[value] = checked
        if errors:
            return None, errors
        return Distribution(categories=clean), []
    return None, []


FIELD_KEYS = frozenset({"name", "type", "missing_share", "rows", "histogram", "categories"})


def _field_name(raw: Any) -> str | None:
    if isinstance(raw, str) and 1 <= len(raw.strip()) <= MAX_NAME:
        return raw.strip()
    return None


def validate_fields(
    fields: Any, *, require_distribution: bool = False
) -> tuple[list[FieldObservation], list[dict[str, Any]]]:
    """The `fields` list of a profile batch or a pushed reference."""
    if not isinstance(fields, list) or not fields:
        return [], [_error(None, "fields", "must be a non-empty list of fields")]
    if len(fields) > MAX_FIELDS:
        raise TooManyFields(len(fields))
    errors: list[dict[str, Any]] = []
    valid: list[FieldObservation] = []
    seen: set[str] = set()
    for index, raw in enumerate(fields):
        prefix = f"fields[{index}]."
        if not isinstance(raw, dict):
            errors.append(_error(index, f"fields[{index}]", "a field must be an object"))
            continue
        item_errors = _unknown(raw, FIELD_KEYS, index, prefix)
        name = _field_name(raw.get("name"))
        if name is None:
            item_errors.append(
                _error(index, f"{prefix}name", f"must be a name of 1 to {MAX_NAME} characters")
            )
        elif name in seen:
            item_errors.append(_error(index, f"{prefix}name", f"{name!r} appears twice"))
        observed_type = raw.get("type", "")
        if not isinstance(observed_type, str) or len(observed_type) > MAX_TYPE:
            item_errors.append(
                _error(
                    index, f"{prefix}type", f"must be a type name of at most {MAX_TYPE} characters"
                )
            )
            observed_type = ""
        missing = raw.get("missing_share")
        if missing is not None:
            missing = _finite(missing)
            if missing is None or not 0 <= missing <= 1:
                item_errors.append(
                    _error(index, f"{prefix}missing_share", "must be a number from 0 to 1")
                )
        rows = raw.get("rows")
        if rows is not None:
            rows = _count(rows)
            if isinstance(rows, str):
                item_errors.append(_error(index, f"{prefix}rows", rows))
        distribution, distribution_errors = validate_distribution(raw, index=index, prefix=prefix)
        item_errors += distribution_errors
        if require_distribution and distribution is None and not distribution_errors:
            item_errors.append(
                _error(index, f"{prefix}histogram", "a reference needs a histogram or categories")
            )
        if distribution is not None and distribution.rows == 0:
            item_errors.append(
                _error(index, f"{prefix}histogram", "the distribution holds no observation")
            )
        errors += item_errors
        if not item_errors:
            seen.add(name)
            valid.append(FieldObservation(name, observed_type, missing, rows, distribution))
        if len(errors) > MAX_LISTED_ERRORS:
            break
    return valid, errors[:MAX_LISTED_ERRORS]


def validate_profile_batch(
    body: Any, *, now: datetime, retention: timedelta
) -> tuple[tuple[datetime, int | None, list[FieldObservation]] | None, list[dict[str, Any]]]:
    """A profile batch: `{"at": delivery time, "rows": optional, "fields": [...]}`."""
    if not isinstance(body, dict):
        return None, [_error(None, None, "the body must be a JSON object")]
    errors = _unknown(body, frozenset({"at", "rows", "fields"}), None)
    at = _time(body.get("at"), now=now, retention=retention)
    if isinstance(at, str):
        errors.append(_error(None, "at", at))
    rows = body.get("rows")
    if rows is not None:
        rows = _count(rows)
        if isinstance(rows, str):
            errors.append(_error(None, "rows", rows))
    fields, field_errors = validate_fields(body.get("fields"))
    errors += field_errors
    if errors:
        return None, errors[:MAX_LISTED_ERRORS]
    return (at, rows, fields), []


def validate_reference(
    body: Any, *, now: datetime
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A reference: pushed `{"fields": [...]}` or chosen `{"window": {"start", "end"}}`.

    A window may name the fields to take (`"fields": ["amount"]`); by default,
    every field profiled in it.
    """
    if not isinstance(body, dict):
        return None, [_error(None, None, "the body must be a JSON object")]
    errors = _unknown(body, frozenset({"fields", "window"}), None)
    window = body.get("window")
    if window is None:
        fields, field_errors = validate_fields(body.get("fields"), require_distribution=True)
        errors += field_errors
        return (None, errors) if errors else ({"fields": fields}, [])
    if not isinstance(window, dict):
        return None, [*errors, _error(None, "window", "must be an object with start and end")]
    errors += _unknown(window, frozenset({"start", "end"}), None, "window.")
    bounds = {}
    for name in ("start", "end"):
        value = parse_time(window.get(name)) if window.get(name) is not None else "is required"
        if isinstance(value, str):
            errors.append(_error(None, f"window.{name}", value))
        else:
            bounds[name] = value
    if len(bounds) == 2 and bounds["start"] >= bounds["end"]:
        errors.append(_error(None, "window.start", "must be before the end"))
    if len(bounds) == 2 and bounds["start"] > now:
        errors.append(_error(None, "window.start", "is in the future"))
    names = body.get("fields")
    if names is not None and (
        not isinstance(names, list)
        or not names
        or not all(_field_name(name) for name in names)
        or len(names) > MAX_FIELDS
    ):
        errors.append(_error(None, "fields", "with a window: a list of field names, or left out"))
    if errors:
        return None, errors
    return {
        "start": bounds["start"],
        "end": bounds["end"],
        "names": [name.strip() for name in names] if names else None,
    }, []
