"""The audit hash chain as pure functions: no database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from governance.audit import (
    GENESIS,
    HASH_MISMATCH,
    LINK_MISMATCH,
    canonical_json,
    change_summary,
    event_fields,
    event_hash,
    plain_json,
    verify_chain,
)

START = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def make_fields(n: int, **overrides) -> dict:
    fields = {
        "at": START + timedelta(minutes=n),
        "actor_kind": "user",
        "actor_id": 7,
        "actor_label": "dana",
        "action": "system.update",
        "object_type": "registry.aisystem",
        "object_id": "3",
        "object_repr": "Claims triage",
        "system_id": 3,
        "system_slug": "claims-triage",
        "before": {"risk_tier": "low"},
        "after": {"risk_tier": f"tier-{n}"},
        "reason": "",
    }
    fields.update(overrides)
    return event_fields(fields)


def make_chain(length: int) -> list[tuple[int, str, str, dict]]:
    rows, prev = [], GENESIS
    for n in range(1, length + 1):
        fields = make_fields(n)
        digest = event_hash(prev, fields)
        rows.append((n, prev, digest, fields))
        prev = digest
    return rows


# --- Hashing ------------------------------------------------------------------------------


def test_the_hash_of_an_event_is_stable():
    # If these change, every stored chain stops verifying: change them only with a migration.
    fields = make_fields(0)
    assert canonical_json(fields) == (
        '{"action":"system.update","actor_id":7,"actor_kind":"user","actor_label":"dana",'
        '"after":{"risk_tier":"tier-0"},"at":"2025-03-01T09:30:15.123456+00:00",'
        '"before":{"risk_tier":"low"},"object_id":"3","object_repr":"Claims triage",'
        '"object_type":"registry.aisystem","reason":"","system_id":3,"system_slug":"claims-triage"}'
    )
    assert event_hash(GENESIS, fields) == (
        "31ba06f86706ea90f24147061efece3265194b6d291d3caca18a8818d5fb0398"
    )


def test_the_hash_covers_the_previous_hash():
    fields = make_fields(0)
    assert event_hash(GENESIS, fields) != event_hash("f" * 64, fields)


def test_the_hash_is_sha256_of_the_previous_hash_and_the_canonical_json():
    fields = make_fields(0)
    expected = hashlib.sha256((GENESIS + canonical_json(fields)).encode()).hexdigest()
    assert event_hash(GENESIS, fields) == expected


def test_canonical_json_sorts_keys_and_keeps_unicode():
    assert canonical_json({"b": 1, "a": "é→"}) == '{"a":"é→","b":1}'


def test_key_order_does_not_change_the_hash():
    one = make_fields(0, before={"a": 1, "b": 2})
    two = make_fields(0, before={"b": 2, "a": 1})
    assert event_hash(GENESIS, one) == event_hash(GENESIS, two)


def test_times_are_hashed_in_utc_whatever_their_zone():
    hong_kong = timezone(timedelta(hours=8))
    local = make_fields(0, at=START.astimezone(hong_kong))
    assert local["at"] == "2025-03-01T09:30:15.123456+00:00"
    assert event_hash(GENESIS, local) == event_hash(GENESIS, make_fields(0))


def test_an_iso_string_time_hashes_like_the_datetime():
    assert make_fields(0, at=START.isoformat()) == make_fields(0)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        make_fields(0, at=datetime(2025, 3, 1, 9, 30))


def test_values_are_normalized_as_the_database_returns_them():
    # jsonb keeps numbers as numeric: 1e20 comes back as an integer, 2.0 hashes as 2.
    assert plain_json({"a": 1e20, "b": 2.0, "c": 0.5}) == {"a": 10**20, "b": 2, "c": 0.5}
    assert plain_json({1: (Decimal("1.50"), float("nan"))}) == {"1": ["1.50", "nan"]}
    assert plain_json({"when": START}) == {"when": "2025-03-01 09:30:15.123456+00:00"}


def test_missing_before_and_after_hash_as_empty():
    assert make_fields(0, before=None, after=None, reason=None)["before"] == {}


# --- Verifying ----------------------------------------------------------------------------


def test_an_empty_chain_is_intact():
    result = verify_chain([])
    assert result.ok
    assert result.count == 0
    assert result.head == GENESIS


def test_an_untouched_chain_is_intact():
    rows = make_chain(5)
    result = verify_chain(rows)
    assert result.ok
    assert result.count == 5
    assert result.first_broken_id is None
    assert result.head == rows[-1][2]


def test_it_detects_an_edited_field():
    rows = make_chain(5)
    event_id, prev, digest, fields = rows[2]
    rows[2] = (event_id, prev, digest, {**fields, "reason": "nothing to see"})
    result = verify_chain(rows)
    assert not result.ok
    assert result.first_broken_id == 3
    assert result.reason == HASH_MISMATCH
    assert result.head == rows[1][2]


def test_it_detects_an_edit_whose_hash_was_recomputed():
    rows = make_chain(5)
    event_id, prev, _digest, fields = rows[2]
    forged = {**fields, "actor_label": "someone else"}
    rows[2] = (event_id, prev, event_hash(prev, forged), forged)
    result = verify_chain(rows)
    assert result.first_broken_id == 4
    assert result.reason == LINK_MISMATCH


def test_it_detects_a_deleted_middle_event():
    rows = make_chain(5)
    del rows[2]
    result = verify_chain(rows)
    assert not result.ok
    assert result.first_broken_id == 4
    assert result.reason == LINK_MISMATCH


def test_it_detects_a_deleted_first_event():
    result = verify_chain(make_chain(3)[1:])
    assert result.first_broken_id == 2
    assert result.reason == LINK_MISMATCH


def test_it_detects_reordered_events():
    rows = make_chain(5)
    rows[1], rows[2] = rows[2], rows[1]
    result = verify_chain(rows)
    assert not result.ok
    assert result.first_broken_id == 3
    assert result.reason == LINK_MISMATCH


def test_a_truncated_tail_is_only_seen_through_the_head_hash():
    rows = make_chain(5)
    result = verify_chain(rows[:3])
    assert result.ok
    assert result.head != verify_chain(rows).head


def test_it_stops_at_the_first_broken_link():
    rows = make_chain(6)
    for index in (1, 4):
        event_id, prev, digest, fields = rows[index]
        rows[index] = (event_id, prev, digest, {**fields, "reason": "edited"})
    result = verify_chain(rows)
    assert result.first_broken_id == 2
    assert result.count == 2


# --- Showing ------------------------------------------------------------------------------


def test_change_summary_pairs_before_and_after():
    summary = change_summary({"risk_tier": "low"}, {"risk_tier": "high", "name": "X"})
    assert summary == [("risk_tier", '"low"', '"high"'), ("name", "", '"X"')]


def test_change_summary_shortens_long_values():
    ((_, _, after),) = change_summary({}, {"notes": "x" * 500}, width=20)
    assert len(after) == 20
    assert after.endswith("…")
