"""Signal receivers of the governance app: the registry's changes go into the audit trail,
and a model version whose content hash changed voids the approvals bound to the old one.

Connected in GovernanceConfig.ready(). Deliberately no setting turns this
off: the receiver runs inside the sender's transaction, and if recording
fails the change fails with it.
"""

from __future__ import annotations

from governance.audit import audit_record
from governance.services.changes import change_requests_rebind
from registry.signals import audit_event


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
