"""Reads of the governance app that feed pages and exports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.models import (
    DEFAULT_ACCOUNTABILITY_STATEMENT,
    AccountabilitySignature,
    AiOpsMember,
    Approval,
    AuditEvent,
    BusinessUnitLead,
    ChangeRequest,
    SystemOwnership,
)
from registry.models import AISystem


def _day_start(day: date) -> datetime:
    """Midnight starting `day`, in the portal's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def audit_events(filters: Mapping[str, Any]) -> QuerySet[AuditEvent]:
    """Audit events matching the filters, newest first.

    `filters` (all optional, as AuditFilterForm cleans them): `system` (a
    slug), `actor` (part of the actor's label, any case), `action` (exact),
    `date_from` and `date_to` (dates, both days included).
    """
    events = AuditEvent.objects.order_by("-id")
    slug = filters.get("system")
    if slug:
        system_id = AISystem.objects.filter(slug=slug).values_list("pk", flat=True).first()
        # system_id is indexed; the slug is kept for the history of a deleted system.
        events = (
            events.filter(system_id=system_id)
            if system_id is not None
            else events.filter(system_slug=slug)
        )
    if filters.get("actor"):
        events = events.filter(actor_label__icontains=filters["actor"])
    if filters.get("action"):
        events = events.filter(action=filters["action"])
    if filters.get("date_from"):
        events = events.filter(at__gte=_day_start(filters["date_from"]))
    if filters.get("date_to"):
        events = events.filter(at__lt=_day_start(filters["date_to"] + timedelta(days=1)))
    return events


def audit_actions() -> list[str]:
    """Every action recorded so far, sorted (the action filter's choices)."""
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())


def audit_systems() -> list[tuple[str, str]]:
    """(slug, name) of every registered system, by name (the system filter's choices)."""
    return list(AISystem.objects.order_by("name", "slug").values_list("slug", "name"))


# --- Ownership and accountability --------------------------------------------------------


@dataclass(frozen=True)
class OwnershipStatus:
    """Everything the ownership page and the readiness indicators 4 and 7 need for a system."""

    ownership: SystemOwnership
    signature: AccountabilitySignature | None
    lapsed_signature: AccountabilitySignature | None
    ai_ops: list[AiOpsMember]
    leads: list[BusinessUnitLead]

    @property
    def owner_active(self) -> bool:
        owner = self.ownership.owner
        return owner is not None and owner.is_active

    @property
    def signed(self) -> bool:
        return self.signature is not None

    @property
    def leads_attested(self) -> int:
        return sum(1 for lead in self.leads if lead.briefing_attested_at)

    @property
    def orphan_reasons(self) -> list[str]:
        """Why the system counts as orphaned: an inactive owner, or a lapsed signature."""
        reasons = []
        if self.ownership.owner is not None and not self.ownership.owner.is_active:
            reasons.append(str(_("the owner's account is inactive")))
        if self.signature is None and self.lapsed_signature is not None:
            reasons.append(str(_("the accountability signature lapsed")))
        return reasons

    @property
    def is_orphan(self) -> bool:
        return bool(self.orphan_reasons)


def ownership_status(system: AISystem, *, now: datetime | None = None) -> OwnershipStatus:
    """The ownership, the signature in force (unexpired), members and leads of a system."""
    now = now or timezone.now()
    ownership = SystemOwnership.objects.select_related("owner").filter(
        system=system
    ).first() or SystemOwnership(system=system, statement=str(DEFAULT_ACCOUNTABILITY_STATEMENT))
    live = (
        AccountabilitySignature.objects.select_related("signer")
        .filter(system=system, voided_at__isnull=True)
        .first()
    )
    signature = live if live and live.expires_at > now else None
    lapsed = live if live and live.expires_at <= now else None
    return OwnershipStatus(
        ownership=ownership,
        signature=signature,
        lapsed_signature=lapsed,
        ai_ops=list(AiOpsMember.objects.filter(system=system).select_related("user")),
        leads=list(
            BusinessUnitLead.objects.filter(system=system).select_related("user").order_by("id")
        ),
    )


def orphaned_systems(*, now: datetime | None = None) -> list[tuple[AISystem, list[str]]]:
    """Systems whose owner is inactive or whose signature lapsed, with the reasons."""
    now = now or timezone.now()
    inactive = set(
        SystemOwnership.objects.filter(owner__is_active=False).values_list("system_id", flat=True)
    )
    lapsed = set(
        AccountabilitySignature.objects.filter(
            voided_at__isnull=True, expires_at__lte=now
        ).values_list("system_id", flat=True)
    )
    result = []
    for system in AISystem.objects.filter(pk__in=inactive | lapsed).order_by("name"):
        reasons = []
        if system.pk in inactive:
            reasons.append(str(_("the owner's account is inactive")))
        if system.pk in lapsed:
            reasons.append(str(_("the accountability signature lapsed")))
        result.append((system, reasons))
    return result


# --- Change requests ----------------------------------------------------------------------


def change_requests(
    *, state: str = "", system: str = "", system_id: int | None = None
) -> QuerySet[ChangeRequest]:
    """Change requests, newest first, with system, version and a count of live approvals.

    Filters (all optional): `state`, `system` (a slug) or `system_id`.
    """
    changes = (
        ChangeRequest.objects.select_related("system", "model_version", "requester")
        .annotate(
            live_approval_count=Count("approvals", filter=Q(approvals__voided_at__isnull=True))
        )
        .order_by("-created_at", "-id")
    )
    if state:
        changes = changes.filter(state=state)
    if system:
        changes = changes.filter(system__slug=system)
    if system_id is not None:
        changes = changes.filter(system_id=system_id)
    return changes


def change_request_detail() -> QuerySet[ChangeRequest]:
    """change_requests() with every approval (voided ones too) and its approver, oldest first."""
    approvals = Approval.objects.select_related("approver").order_by("decided_at", "id")
    return change_requests().prefetch_related(Prefetch("approvals", queryset=approvals))
