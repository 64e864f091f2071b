"""`manage.py audit_verify`: recompute the audit hash chain and name the first broken link."""

from __future__ import annotations

from collections.abc import Iterator

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from governance.audit import HASHED_FIELDS, event_fields, verify_chain
from governance.models import AuditEvent

CHUNK_SIZE = 2000
TRIGGER = "governance_auditevent_append_only"


def _rows() -> Iterator[tuple[int, str, str, dict]]:
    """Every event as (id, prev_hash, hash, fields), in id order, streamed in chunks."""
    events = (
        AuditEvent.objects.order_by("id")
        .values("id", "prev_hash", "hash", *HASHED_FIELDS)
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for event in events:
        yield event["id"], event["prev_hash"], event["hash"], event_fields(event)


def _trigger_enabled() -> bool:
    """Whether PostgreSQL's append-only trigger exists and is enabled."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = %s "
            "AND tgrelid = 'governance_auditevent'::regclass",
            [TRIGGER],
        )
        row = cursor.fetchone()
    return row is not None and row[0] != "D"


class Command(BaseCommand):
    """Verify the audit chain; exit 1 naming the first broken event if it does not hold."""

    help = "Recompute the audit trail's hash chain and name the first broken link."

    def handle(self, *args, **options) -> None:
        if connection.vendor == "postgresql" and not _trigger_enabled():
            self.stderr.write(
                f"warning: the append-only trigger {TRIGGER} is missing or disabled; "
                "run `manage.py migrate` or `ALTER TABLE governance_auditevent "
                "ENABLE TRIGGER USER`."
            )
        result = verify_chain(_rows())
        if result.ok:
            self.stdout.write(f"audit chain intact: {result.count} events")
            if result.count:
                # Deleting the newest events leaves a valid shorter chain; keeping
                # this head hash elsewhere is what detects that.
                self.stdout.write(f"head hash: {result.head}")
            return
        event = AuditEvent.objects.filter(pk=result.first_broken_id).first()
        detail = f" ({event.action} at {event.at.isoformat()})" if event else ""
        raise CommandError(
            f"audit chain broken at event {result.first_broken_id}{detail}: {result.reason}; "
            f"{result.count - 1} events before it verified"
        )
