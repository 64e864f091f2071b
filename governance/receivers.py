"""Signal receivers of the governance app: the registry's changes go into the audit trail.

Connected in GovernanceConfig.ready(). Deliberately no setting turns this
off: the receiver runs inside the sender's transaction, and if recording
fails the change fails with it.
"""

from __future__ import annotations

from governance.audit import audit_record
from registry.signals import audit_event


def record_audit_event(
    sender, *, actor, action: str, obj, before=None, after=None, reason: str = "", **kwargs
) -> None:
    """Record a registry service's `audit_event` signal as an audit event."""
    audit_record(
        actor=actor, action=action, obj=obj, before=before, after=after, reason=reason or ""
    )


audit_event.connect(record_audit_event, dispatch_uid="governance.record_audit_event")
