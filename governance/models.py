"""Governance records: the audit trail, and ownership and accountability of each system."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from governance.choices import ActorKind
from registry.models import AISystem

DEFAULT_ACCOUNTABILITY_STATEMENT = _(
    "I am accountable for this AI system in production: its outcomes, its budget, "
    "its monitoring and its escalations. I will keep an AI-operations function staffed "
    "for it, act on escalations routed to me, and hand over this accountability "
    "explicitly if my role changes."
)


class AuditEvent(models.Model):
    """One state change, append-only, chained to the previous event by its hash.

    Nothing in the code updates or deletes a row; on PostgreSQL a trigger refuses
    UPDATE and DELETE. Actor and system are copied as plain values (no foreign
    key), so that deleting a user or a system can never rewrite history.
    `hash` = SHA-256 over `prev_hash` and the canonical JSON of the event
    (governance/audit.py); `manage.py audit_verify` recomputes the chain.
    """

    at = models.DateTimeField(_("time"), db_index=True)
    actor_kind = models.CharField(_("actor kind"), max_length=8, choices=ActorKind.choices)
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True)
    actor_label = models.CharField(_("actor"), max_length=200, db_index=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100)
    object_id = models.CharField(_("object id"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=300)
    system_id = models.BigIntegerField(_("system id"), null=True, blank=True, db_index=True)
    system_slug = models.CharField(_("system"), max_length=80, blank=True)
    before = models.JSONField(_("before"), default=dict)
    after = models.JSONField(_("after"), default=dict)
    reason = models.TextField(_("reason"), blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"


class SystemOwnership(models.Model):
    """Who is accountable for a system: the named owner, their budget authority, the statement."""

    system = models.OneToOneField(AISystem, on_delete=models.CASCADE, related_name="ownership")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_systems",
    )
    budget_authority = models.CharField(
        _("budget authority"),
        max_length=200,
        blank=True,
        help_text=_("What the owner may spend, e.g. “up to HKD 2m a year, cost centre 4410”."),
    )
    statement = models.TextField(_("accountability statement"))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("system ownership")
        verbose_name_plural = _("system ownerships")

    def __str__(self) -> str:
        return f"{self.system} — {self.owner or '-'}"

    @property
    def statement_hash(self) -> str:
        return hashlib.sha256(self.statement.encode()).hexdigest()


class AiOpsMember(models.Model):
    """A member of the AI-operations function that runs a system day to day."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="ai_ops_members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("AI-operations member")
        verbose_name_plural = _("AI-operations members")
        constraints = [
            models.UniqueConstraint(fields=["system", "user"], name="ai_ops_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.system}"


class BusinessUnitLead(models.Model):
    """A business-unit lead who must attest the change-management briefing (indicator 7)."""

    system = models.ForeignKey(
        AISystem, on_delete=models.CASCADE, related_name="business_unit_leads"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    business_unit = models.CharField(_("business unit"), max_length=120)
    briefing_attested_at = models.DateTimeField(_("briefing attested"), null=True, blank=True)

    class Meta:
        verbose_name = _("business-unit lead")
        verbose_name_plural = _("business-unit leads")
        constraints = [
            models.UniqueConstraint(fields=["system", "user"], name="business_unit_lead_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.business_unit}) @ {self.system}"


class AccountabilitySignature(models.Model):
    """The owner's signature of the exact statement text; it expires and can be voided."""

    system = models.ForeignKey(
        AISystem, on_delete=models.CASCADE, related_name="accountability_signatures"
    )
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    statement_text = models.TextField(_("statement signed"))
    statement_hash = models.CharField(_("statement hash"), max_length=64)
    budget_authority = models.CharField(_("budget authority at signing"), max_length=200)
    signed_at = models.DateTimeField(_("signed"))
    expires_at = models.DateTimeField(_("expires"))
    voided_at = models.DateTimeField(_("voided"), null=True, blank=True)
    void_reason = models.CharField(_("why voided"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("accountability signature")
        verbose_name_plural = _("accountability signatures")
        ordering = ["-signed_at"]
        constraints = [
            # At most one signature in force per system (voided ones are history).
            models.UniqueConstraint(
                fields=["system"], condition=Q(voided_at__isnull=True), name="one_live_signature"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("signed_at")), name="signature_expires_later"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system} signed by {self.signer} on {self.signed_at:%Y-%m-%d}"
