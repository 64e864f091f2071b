"""The audit trail: the hash chain (pure functions) and `audit_record`, its only writer.

Each event stores `prev_hash` (the previous event's `hash`, or GENESIS for the
first) and `hash` = SHA-256 of `prev_hash` followed by the canonical JSON of
the event's fields. Editing a stored field breaks that event's hash; deleting
or reordering events breaks the link from the next one. `verify_chain` finds
the first broken link; `manage.py audit_verify` runs it over the table.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from governance.choices import ActorKind
from governance.models import AuditEvent
from registry.choices import TokenKind
from registry.models import AISystem, ApiToken

GENESIS = "0" * 64

# The fields covered by the hash, in the order the CSV export also uses.
HASHED_FIELDS = (
    "at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "system_id",
    "system_slug",
    "before",
    "after",
    "reason",
)

# Key of the PostgreSQL advisory lock that serializes appends ("audit" in ASCII).
AUDIT_LOCK_KEY = 0x6175646974

HASH_MISMATCH = "hash mismatch (edited)"
LINK_MISMATCH = "prev_hash does not match the previous event (deleted or reordered)"


# --- The chain (pure) ---------------------------------------------------------------------


def plain_json(value: Any) -> Any:
    """`value` as the JSON the database gives back, so hashing before and after storage agree.

    Keys become strings, tuples lists, and anything else JSON cannot hold a
    string (`default=str`). Integral floats become ints and non-finite floats
    strings, because PostgreSQL's jsonb keeps numbers as `numeric` (1e20 comes
    back as the integer 100000000000000000000) and refuses NaN.
    """
    if isinstance(value, Mapping):
        return {str(key): plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(item) for item in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() else value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)  # IntegerChoices and other subclasses as plain numbers
    if isinstance(value, str):
        return str(value)  # TextChoices as their value
    # Dates, decimals, UUIDs, lazy strings: through JSON once, as a service would store them.
    return plain_json(json.loads(json.dumps(value, default=str)))


def _iso_utc(at: datetime | str) -> str:
    """A time as an ISO 8601 string in UTC (microseconds kept: the database stores them)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if timezone.is_naive(at):
        raise ValueError("Audit times must be timezone-aware.")
    return at.astimezone(UTC).isoformat()


def event_fields(event: AuditEvent | Mapping[str, Any]) -> dict[str, Any]:
    """The hashed fields of an event (a model instance or a dict), normalized for hashing."""
    if isinstance(event, Mapping):
        values = {name: event.get(name) for name in HASHED_FIELDS}
    else:
        values = {name: getattr(event, name) for name in HASHED_FIELDS}
    values["at"] = _iso_utc(values["at"])
    values["before"] = plain_json(values["before"] or {})
    values["after"] = plain_json(values["after"] or {})
    values["reason"] = values["reason"] or ""
    values["system_slug"] = values["system_slug"] or ""
    return values


def canonical_json(fields: Mapping[str, Any]) -> str:
    """The one serialization that is hashed: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the previous event's hash followed by this event's canonical JSON."""
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainResult:
    """What `verify_chain` found: `count` events read, the first broken one if any.

    `head` is the hash of the last event that verified (GENESIS if none).
    """

    ok: bool
    count: int
    first_broken_id: int | None = None
    reason: str = ""
    head: str = GENESIS


def verify_chain(rows: Iterable[tuple[int, str, str, Mapping[str, Any]]]) -> ChainResult:
    """Recompute a chain of (id, prev_hash, hash, fields) in id order; stop at the first break.

    A deleted or reordered event shows as the next event's `prev_hash` not
    matching; an edited one as its own hash not matching its fields. Deleting
    the newest events cannot be seen from the rows alone: compare the head
    hash that `audit_verify` prints with one kept elsewhere.
    """
    expected_prev = GENESIS
    count = 0
    for event_id, prev_hash, stored_hash, fields in rows:
        count += 1
        if prev_hash != expected_prev:
            return ChainResult(
                ok=False,
                count=count,
                first_broken_id=event_id,
                reason=LINK_MISMATCH,
                head=expected_prev,
            )
        if event_hash(prev_hash, fields) != stored_hash:
            return ChainResult(
                ok=False,
                count=count,
                first_broken_id=event_id,
                reason=HASH_MISMATCH,
                head=expected_prev,
            )
        expected_prev = stored_hash
    return ChainResult(ok=True, count=count, head=expected_prev)


def change_summary(before: Mapping[str, Any], after: Mapping[str, Any], *, width: int = 60):
    """(field, before, after) per changed key, values as short JSON text ("" when absent)."""

    def short(values: Mapping[str, Any], key: str) -> str:
        if key not in values:
            return ""
        text = json.dumps(values[key], ensure_ascii=False, default=str)
        return text if len(text) <= width else text[: width - 1] + "…"

    before, after = before or {}, after or {}
    keys = list(before) + [key for key in after if key not in before]
    return [(key, short(before, key), short(after, key)) for key in keys]


# --- Recording ------------------------------------------------------------------------------


def _actor_values(actor) -> tuple[str, int | None, str]:
    """(actor_kind, actor_id, actor_label) of a person, a pipeline, a token or the portal."""
    if actor is None:
        return ActorKind.SYSTEM, None, "portal"
    if getattr(actor, "is_pipeline", False):  # registry.auth.PipelineUser
        actor = actor.token
    if isinstance(actor, ApiToken):
        prefix = "token" if actor.kind == TokenKind.PERSONAL else "pipeline"
        return ActorKind.TOKEN, actor.pk, f"{prefix}:{actor.name}"
    if isinstance(actor, AbstractBaseUser) and actor.pk is not None:
        return ActorKind.USER, actor.pk, actor.get_username()
    # An anonymous or unsaved actor is a bug in the caller: refuse rather than record "someone".
    raise TypeError(f"Cannot audit a change by {actor!r}: pass a user, a token or None.")


def _system_of(obj, system: AISystem | None) -> AISystem | None:
    if system is not None:
        return system
    if isinstance(obj, AISystem):
        return obj
    candidate = getattr(obj, "system", None)
    return candidate if isinstance(candidate, AISystem) else None


def _last_hash() -> str:
    last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True)[:1]
    return last[0] if last else GENESIS


def audit_record(
    *,
    actor,
    action: str,
    obj,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    system: AISystem | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event to the audit trail, chained to the newest one; the only writer.

    Call it inside the transaction of the change it records, so both commit
    or neither does.
    """
    actor_kind, actor_id, actor_label = _actor_values(actor)
    system = _system_of(obj, system)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Appends must not fork the chain: two writers reading the same last hash
            # would both link to it. The lock is held until the outer transaction
            # commits, so the next writer reads this event's hash. On SQLite the
            # IMMEDIATE transaction mode (portal/settings.py) already takes the
            # database's write lock at BEGIN, so writers are serialized there.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK_KEY])
        event = AuditEvent(
            # Taken under the lock, so times rise with ids.
            at=at or timezone.now(),
            actor_kind=actor_kind,
            actor_id=actor_id,
            actor_label=actor_label[:200],
            action=action,
            object_type=obj._meta.label_lower,
            object_id=str(obj.pk),
            object_repr=str(obj)[:300],
            system_id=system.pk if system else None,
            system_slug=system.slug if system else "",
            before=plain_json(before or {}),
            after=plain_json(after or {}),
            reason=reason or "",
        )
        event.prev_hash = _last_hash()
        event.hash = event_hash(event.prev_hash, event_fields(event))
        event.save(force_insert=True)
    return event
