"""Signal receivers of the governance app: the registry's changes go into the audit trail,
a model version whose content hash changed voids the approvals bound to the old one, and a
failing data-quality check escalates to the systems the source feeds.

Connected in GovernanceConfig.ready(). Deliberately no setting turns this
off: the receiver runs inside the sender's transaction, and if recording
fails the change fails with it.
"""

from __future__ import annotations

from core.coalesce import enqueue_coalesced
from governance.audit import audit_record
from governance.services.changes import change_requests_rebind
from governance.services.escalations import data_quality_escalate
from governance.tasks import evaluate_alerts
from registry.signals import audit_event, data_quality_failed, metrics_ingested


def record_audit_event(
    sender, *, actor, action: str, obj, before=None, after=None, reason: str = "", **kwargs
) -> None:
    """Record a registry service's `audit_event` signal as an audit event."""
    audit_record(
        actor=actor, action=action, obj=obj, before=before, after=after, reason=reason or ""
    )


audit_event.connect(record_audit_event, dispatch_uid="governance.record_audit_event")


def rebind_change_requests(sender, *, action: str, obj, actor=None, **kwargs) -> None:
    """A version was rehashed: approvals of the old hash are void (same transaction)."""
    if action == "version.rehash":
        change_requests_rebind(model_version=obj, by=actor)


audit_event.connect(rebind_change_requests, dispatch_uid="governance.rebind_change_requests")


def evaluate_after_ingest(sender, *, system_id: int, metric_ids, **kwargs) -> None:
    """A batch landed (after its commit): evaluate the touched metrics' alert rules now.

    Unless an evaluation of the system that covers those metrics is still queued: it will
    read this batch too (core/coalesce.py). Broker down: the batch stays stored, and the
    minute sweep evaluates every rule anyway.
    """
    metric_ids = list(metric_ids)
    enqueue_coalesced(evaluate_alerts, system_id, metric_ids, ident=system_id, covers=metric_ids)


metrics_ingested.connect(evaluate_after_ingest, dispatch_uid="governance.evaluate_after_ingest")


def escalate_data_quality(sender, *, source, checks, now=None, **kwargs) -> None:
    """Checks of a source turned "fail": escalate to its downstream systems (same transaction)."""
    data_quality_escalate(source=source, checks=checks, now=now)


data_quality_failed.connect(escalate_data_quality, dispatch_uid="governance.escalate_data_quality")
