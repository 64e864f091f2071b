"""Properties of the audit hash chain (governance/audit.py), on plain data.

A chain built the way `audit_record` builds it verifies, and keeps verifying
as events are appended. Editing any hashed field of any event, changing a
stored hash, deleting an event that is not the newest, or putting the events
in any other order is caught, at the first event that no longer fits. The hash
depends on what an event says, not on how it was handed over: the same
instant in another time zone, or values after a trip through JSON storage,
hash the same.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from governance.audit import (
    GENESIS,
    HASH_MISMATCH,
    HASHED_FIELDS,
    LINK_MISMATCH,
    canonical_json,
    event_fields,
    event_hash,
    plain_json,
    verify_chain,
)
from tests.properties import PROPERTIES

# An example here is a whole chain of events with nested JSON: fewer of them suffice.
CHAINS = settings(PROPERTIES, max_examples=30)

zones = st.integers(-12 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=zones
)
texts = st.text(max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False, width=64)
    | texts
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=4,
)
json_objects = st.dictionaries(texts, json_values, max_size=3)

FIELD_VALUES = {
    "at": times,
    "actor_kind": st.sampled_from(["user", "token", "system"]),
    "actor_id": st.none() | st.integers(1, 10**9),
    "actor_label": texts,
    "action": st.sampled_from(["system.update", "rollout.start", "cohort.approve"]) | texts,
    "object_type": st.sampled_from(["registry.aisystem", "rollout.rollout"]),
    "object_id": st.integers(1, 10**6).map(str),
    "object_repr": texts,
    "system_id": st.none() | st.integers(1, 10**6),
    "system_slug": st.sampled_from(["", "loan-classifier"]) | texts,
    "before": json_objects,
    "after": json_objects,
    "reason": texts,
}
events = st.fixed_dictionaries(FIELD_VALUES)
Row = tuple[int, str, str, dict]


def chain(raw_events: list[dict], *, first_id: int = 1, prev: str = GENESIS) -> list[Row]:
    """(id, prev_hash, hash, fields) rows, linked the way `audit_record` links them."""
    rows = []
    for offset, raw in enumerate(raw_events):
        fields = event_fields(raw)
        digest = event_hash(prev, fields)
        rows.append((first_id + offset, prev, digest, fields))
        prev = digest
    return rows


event_lists = st.lists(events, min_size=1, max_size=5)


def as_stored(field: str, value) -> str:
    """A field's value as the database row holds it, as JSON text: an edit is a change of this.

    Told apart independently of `event_fields`, so a field it forgot to hash
    would show up as an edit that goes unnoticed.
    """
    if field == "at":
        value = value.astimezone(UTC).isoformat()
    elif field in ("before", "after"):
        value = plain_json(value or {})
    elif field in ("reason", "system_slug"):
        value = value or ""
    return json.dumps(value, sort_keys=True)


@CHAINS
@given(event_lists, st.lists(events, max_size=3))
def test_a_chain_verifies_and_appending_keeps_it_valid(first, more):
    rows = chain(first)
    result = verify_chain(rows)
    assert (result.ok, result.count, result.head) == (True, len(rows), rows[-1][2])
    extended = rows + chain(more, first_id=len(rows) + 1, prev=result.head)
    again = verify_chain(extended)
    assert (again.ok, again.count, again.head) == (True, len(extended), extended[-1][2])


@CHAINS
@given(event_lists, st.data())
def test_editing_any_field_of_any_event_is_caught_at_that_event(raw_events, data):
    rows = chain(raw_events)
    index = data.draw(st.integers(0, len(rows) - 1))
    field = data.draw(st.sampled_from(HASHED_FIELDS))
    value = data.draw(FIELD_VALUES[field])
    assume(as_stored(field, value) != as_stored(field, raw_events[index][field]))
    edited = event_fields({**raw_events[index], field: value})
    event_id, prev, digest, _fields = rows[index]
    tampered = [*rows[:index], (event_id, prev, digest, edited), *rows[index + 1 :]]
    result = verify_chain(tampered)
    assert (result.ok, result.first_broken_id, result.reason) == (False, event_id, HASH_MISMATCH)
    assert result.count == index + 1
    assert result.head == prev  # the last event that verified


@CHAINS
@given(event_lists, st.data())
def test_changing_a_stored_hash_is_caught(raw_events, data):
    rows = chain(raw_events)
    index = data.draw(st.integers(0, len(rows) - 1))
    forged = data.draw(st.text("0123456789abcdef", min_size=64, max_size=64))
    which = data.draw(st.sampled_from(["prev_hash", "hash"]))
    event_id, prev, digest, fields = rows[index]
    if which == "prev_hash":
        assume(forged != prev)
        row, reason = (event_id, forged, digest, fields), LINK_MISMATCH
    else:
        assume(forged != digest)
        row, reason = (event_id, prev, forged, fields), HASH_MISMATCH
    result = verify_chain([*rows[:index], row, *rows[index + 1 :]])
    assert (result.ok, result.first_broken_id, result.reason) == (False, event_id, reason)


@CHAINS
@given(st.lists(events, min_size=2, max_size=5), st.data())
def test_any_other_order_is_caught_at_the_first_event_out_of_place(raw_events, data):
    rows = chain(raw_events)
    order = data.draw(st.permutations(range(len(rows))))
    assume(order != list(range(len(rows))))
    first_moved = next(n for n, k in enumerate(order) if n != k)
    result = verify_chain([rows[k] for k in order])
    assert (result.ok, result.reason) == (False, LINK_MISMATCH)
    assert result.first_broken_id == rows[order[first_moved]][0]


@CHAINS
@given(st.lists(events, min_size=2, max_size=5), st.data())
def test_deleting_an_event_breaks_the_link_from_the_next_one(raw_events, data):
    rows = chain(raw_events)
    gone = data.draw(st.integers(0, len(rows) - 2))
    result = verify_chain(rows[:gone] + rows[gone + 1 :])
    assert (result.ok, result.first_broken_id, result.reason) == (
        False,
        rows[gone + 1][0],
        LINK_MISMATCH,
    )


@CHAINS
@given(st.lists(events, min_size=2, max_size=5))
def test_deleting_the_newest_events_leaves_a_valid_chain_with_an_older_head(raw_events):
    # Why audit_verify prints the head hash: only a copy kept elsewhere shows this.
    rows = chain(raw_events)
    result = verify_chain(rows[:-1])
    assert result.ok
    assert result.head == rows[-2][2] != rows[-1][2]


@CHAINS
@given(events, zones)
def test_the_same_instant_in_another_time_zone_hashes_the_same(raw, zone):
    moved = {**raw, "at": raw["at"].astimezone(zone)}
    assert event_hash(GENESIS, event_fields(moved)) == event_hash(GENESIS, event_fields(raw))
    as_text = {**raw, "at": raw["at"].isoformat()}
    assert event_fields(as_text) == event_fields(raw)


@CHAINS
@given(events)
def test_an_event_hashes_the_same_after_a_trip_through_json_storage(raw):
    # What the database gives back: JSON values as stored, the time as UTC.
    stored = {
        **raw,
        "at": raw["at"].astimezone(UTC),
        "before": json.loads(json.dumps(plain_json(raw["before"]))),
        "after": json.loads(json.dumps(plain_json(raw["after"]))),
    }
    assert event_hash(GENESIS, event_fields(stored)) == event_hash(GENESIS, event_fields(raw))


@PROPERTIES
@given(json_values)
def test_plain_json_is_idempotent(value):
    once = plain_json(value)
    assert plain_json(once) == once
    assert json.loads(canonical_json({"v": once})) == {"v": once}
