"""Ownership writes: naming the owner, accountability sign-off, AI-ops staff, briefings."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import ApplicationError
from core.roles import Role, has_role
from governance.audit import audit_record
from governance.models import (
    DEFAULT_ACCOUNTABILITY_STATEMENT,
    AccountabilitySignature,
    AiOpsMember,
    BusinessUnitLead,
    Notification,
    SystemOwnership,
)
from governance.selectors import orphaned_systems
from registry.models import AISystem


def _require_director(by) -> None:
    if not has_role(by, Role.OPERATIONS_DIRECTOR):
        raise ApplicationError(gettext("Only an operations director may do this."), status=403)


def _require_director_or_owner(by, ownership: SystemOwnership) -> None:
    if has_role(by, Role.OPERATIONS_DIRECTOR):
        return
    if ownership.owner_id and ownership.owner_id == getattr(by, "pk", None):
        return
    raise ApplicationError(
        gettext("Only an operations director or the system's owner may do this."), status=403
    )


def ownership_for(system: AISystem) -> SystemOwnership:
    """The system's ownership record, created empty (with the default statement) if missing."""
    ownership, _created = SystemOwnership.objects.get_or_create(
        system=system, defaults={"statement": str(DEFAULT_ACCOUNTABILITY_STATEMENT)}
    )
    return ownership


def _void_live_signature(system: AISystem, *, reason: str, by) -> None:
    """Void the signature in force, if any (a changed owner or statement needs a new one)."""
    live = (
        AccountabilitySignature.objects.select_for_update()
        .filter(system=system, voided_at__isnull=True)
        .first()
    )
    if live is None:
        return
    live.voided_at = timezone.now()
    live.void_reason = reason
    live.save(update_fields=["voided_at", "void_reason"])
    audit_record(actor=by, action="signature.void", obj=live, system=system, reason=reason)


def ownership_assign(
    *, system: AISystem, by, owner, budget_authority: str, reason: str = ""
) -> SystemOwnership:
    """Name the accountable owner and record their budget authority (operations directors).

    A change of owner voids the signature in force: the new owner must sign.
    """
    _require_director(by)
    if owner is not None and not owner.is_active:
        raise ApplicationError(gettext("An inactive person cannot own a system."), field="owner")
    budget_authority = (budget_authority or "").strip()
    if owner is not None and not budget_authority:
        raise ApplicationError(
            gettext("Record the owner's budget authority (what they may spend)."),
            field="budget_authority",
        )
    with transaction.atomic():
        ownership = SystemOwnership.objects.select_for_update().get(pk=ownership_for(system).pk)
        before = {"owner": ownership.owner_id, "budget_authority": ownership.budget_authority}
        changed_owner = ownership.owner_id != (owner.pk if owner else None)
        ownership.owner = owner
        ownership.budget_authority = budget_authority
        ownership.save(update_fields=["owner", "budget_authority", "updated_at"])
        after = {"owner": ownership.owner_id, "budget_authority": budget_authority}
        audit_record(
            actor=by,
            action="ownership.assign",
            obj=ownership,
            system=system,
            before=before,
            after=after,
            reason=reason,
        )
        if changed_owner:
            _void_live_signature(system, reason="owner changed", by=by)
    return ownership


def accountability_statement_update(*, system: AISystem, by, statement: str) -> SystemOwnership:
    """Change the statement the owner signs; a changed text voids the signature in force."""
    statement = (statement or "").strip()
    if len(statement) < 40:
        raise ApplicationError(
            gettext(
                "The statement must say what the owner is accountable for (40 characters or more)."
            ),
            field="statement",
        )
    with transaction.atomic():
        ownership = SystemOwnership.objects.select_for_update().get(pk=ownership_for(system).pk)
        _require_director_or_owner(by, ownership)
        if ownership.statement == statement:
            return ownership
        before = {"statement_hash": ownership.statement_hash}
        ownership.statement = statement
        ownership.save(update_fields=["statement", "updated_at"])
        audit_record(
            actor=by,
            action="ownership.statement",
            obj=ownership,
            system=system,
            before=before,
            after={"statement_hash": ownership.statement_hash},
        )
        _void_live_signature(system, reason="statement changed", by=by)
    return ownership


def accountability_sign(*, system: AISystem, by) -> AccountabilitySignature:
    """The named owner signs the exact current statement; it expires after the set period.

    Signing again renews: the previous signature is voided as "renewed".
    """
    with transaction.atomic():
        ownership = SystemOwnership.objects.select_for_update().get(pk=ownership_for(system).pk)
        if ownership.owner_id is None:
            raise ApplicationError(gettext("Name an owner before anyone can sign."), status=409)
        if ownership.owner_id != getattr(by, "pk", None):
            raise ApplicationError(gettext("Only the named owner can sign."), status=403)
        if not by.is_active:
            raise ApplicationError(gettext("An inactive person cannot sign."), status=403)
        if not ownership.budget_authority:
            raise ApplicationError(
                gettext("The owner's budget authority is not recorded yet."), status=409
            )
        _void_live_signature(system, reason="renewed", by=by)
        now = timezone.now()
        signature = AccountabilitySignature.objects.create(
            system=system,
            signer=by,
            statement_text=ownership.statement,
            statement_hash=ownership.statement_hash,
            budget_authority=ownership.budget_authority,
            signed_at=now,
            expires_at=now + timedelta(days=settings.ACCOUNTABILITY_SIGNATURE_DAYS),
        )
        audit_record(
            actor=by,
            action="signature.sign",
            obj=signature,
            system=system,
            after={
                "statement_hash": signature.statement_hash,
                "expires_at": signature.expires_at.isoformat(),
            },
        )
    return signature


def ai_ops_member_add(*, system: AISystem, by, user) -> AiOpsMember:
    """Add a person to the system's AI-operations function."""
    _require_director_or_owner(by, ownership_for(system))
    if not user.is_active:
        raise ApplicationError(gettext("An inactive person cannot be an AI-operations member."))
    with transaction.atomic():
        try:
            with transaction.atomic():
                member = AiOpsMember.objects.create(system=system, user=user)
        except IntegrityError:
            raise ApplicationError(
                gettext("%(user)s is already a member.") % {"user": user}, field="user"
            ) from None
        audit_record(
            actor=by, action="ai_ops.add", obj=member, system=system, after={"user": user.username}
        )
    return member


def ai_ops_member_remove(*, member: AiOpsMember, by) -> None:
    """Remove a person from the system's AI-operations function."""
    _require_director_or_owner(by, ownership_for(member.system))
    with transaction.atomic():
        audit_record(
            actor=by,
            action="ai_ops.remove",
            obj=member,
            system=member.system,
            before={"user": member.user.username},
        )
        member.delete()


def business_unit_lead_add(*, system: AISystem, by, user, business_unit: str) -> BusinessUnitLead:
    """Name a business-unit lead who must attest the change-management briefing."""
    _require_director_or_owner(by, ownership_for(system))
    business_unit = (business_unit or "").strip()
    if not business_unit:
        raise ApplicationError(gettext("Name the lead's business unit."), field="business_unit")
    with transaction.atomic():
        try:
            with transaction.atomic():
                lead = BusinessUnitLead.objects.create(
                    system=system, user=user, business_unit=business_unit
                )
        except IntegrityError:
            raise ApplicationError(
                gettext("%(user)s is already a lead here.") % {"user": user}, field="user"
            ) from None
        audit_record(
            actor=by,
            action="bu_lead.add",
            obj=lead,
            system=system,
            after={"user": user.username, "business_unit": business_unit},
        )
    return lead


def business_unit_lead_remove(*, lead: BusinessUnitLead, by) -> None:
    """Remove a business-unit lead from the system."""
    _require_director_or_owner(by, ownership_for(lead.system))
    with transaction.atomic():
        audit_record(
            actor=by,
            action="bu_lead.remove",
            obj=lead,
            system=lead.system,
            before={"user": lead.user.username},
        )
        lead.delete()


def briefing_attest(*, lead: BusinessUnitLead, by) -> BusinessUnitLead:
    """A business-unit lead attests, for themselves, that the briefing was completed."""
    if lead.user_id != getattr(by, "pk", None):
        raise ApplicationError(gettext("Leads attest only for themselves."), status=403)
    with transaction.atomic():
        updated = BusinessUnitLead.objects.filter(
            pk=lead.pk, briefing_attested_at__isnull=True
        ).update(briefing_attested_at=timezone.now())
        if updated != 1:
            raise ApplicationError(gettext("You have already attested this briefing."), status=409)
        lead.refresh_from_db()
        audit_record(
            actor=by,
            action="briefing.attest",
            obj=lead,
            system=lead.system,
            after={"attested_at": lead.briefing_attested_at.isoformat()},
        )
    return lead


def orphans_notify(*, now=None) -> int:
    """Put each orphaned system in every operations director's inbox, once until read."""
    directors = list(
        get_user_model()
        .objects.filter(groups__name=Role.OPERATIONS_DIRECTOR.value, is_active=True)
        .distinct()
    )
    created = 0
    for system, reasons in orphaned_systems(now=now):
        title = f"Orphaned: {system.name}"[:200]
        for director in directors:
            _note, made = Notification.objects.get_or_create(
                user=director,
                title=title,
                read_at__isnull=True,
                defaults={
                    "body": "; ".join(reasons),
                    "url": reverse("governance:ownership", args=[system.slug]),
                },
            )
            created += int(made)
    return created
