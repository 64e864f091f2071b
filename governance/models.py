"""Governance records: audit trail, ownership, change requests, escalations and alerts."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from governance.choices import (
    VERSION_KINDS,
    ActorKind,
    AlertKind,
    AlertStatus,
    ChangeKind,
    ChangeState,
    EscalationSource,
    EscalationState,
    RootCause,
    Severity,
)
from registry.choices import RiskTier
from registry.models import AISystem, DataSource, ModelVersion

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


class ChangeRequest(models.Model):
    """A request to change a system: a model version or a parameter set, bound by its hash."""

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="change_requests")
    kind = models.CharField(_("kind"), max_length=24, choices=ChangeKind.choices)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"))
    rationale = models.TextField(_("rationale"))
    model_version = models.ForeignKey(
        ModelVersion,
        verbose_name=_("model version"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="change_requests",
    )
    parameters = models.JSONField(_("parameter set"), default=dict, blank=True)
    bound_hash = models.CharField(_("bound hash"), max_length=64)
    risk_tier = models.CharField(_("risk classification"), max_length=16, choices=RiskTier.choices)
    risk_reason = models.TextField(_("why the risk differs from the system's tier"), blank=True)
    planned_for = models.DateField(_("planned date"), null=True, blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=ChangeState.choices, default=ChangeState.DRAFT
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requester_label = models.CharField(_("requested by"), max_length=200)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    deployed_at = models.DateTimeField(_("deployed"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closing_reason = models.TextField(_("reason (rejection, cancellation, rollback)"), blank=True)

    class Meta:
        verbose_name = _("change request")
        verbose_name_plural = _("change requests")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind__in=sorted(VERSION_KINDS)) | Q(model_version__isnull=False),
                name="version_change_names_a_version",
            ),
        ]

    def __str__(self) -> str:
        return f"CR-{self.pk} {self.title}"


class Approval(models.Model):
    """One approver's decision, with the evidence it was based on; void if the subject changed."""

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.CASCADE, related_name="approvals"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("approved"))
    bound_hash = models.CharField(_("hash approved"), max_length=64)
    metric_snapshot = models.JSONField(_("metric summary at approval"), default=list)
    comment = models.TextField(_("comment"), blank=True)
    voided_at = models.DateTimeField(_("voided"), null=True, blank=True)
    void_reason = models.CharField(_("why voided"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")
        ordering = ["decided_at"]
        constraints = [
            # One person counts once: at most one approval in force per request and person.
            models.UniqueConstraint(
                fields=["change_request", "approver"],
                condition=Q(voided_at__isnull=True),
                name="one_live_approval_per_person",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.approver} approved CR-{self.change_request_id}"


class RoutingPolicy(models.Model):
    """Where a system's escalations go: level 1 the owner, 2 the directors, 3 a named person.

    Each level waits `ack_timeout_minutes` for an acknowledgement before the
    next one is notified; the default follows the system's risk tier.
    """

    system = models.OneToOneField(AISystem, on_delete=models.CASCADE, related_name="routing")
    ack_timeout_minutes = models.PositiveIntegerField(_("acknowledgement timeout (minutes)"))
    level3_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("level 3: person"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    level3_group = models.ForeignKey(
        "auth.Group",
        verbose_name=_("level 3: group"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("routing policy")
        verbose_name_plural = _("routing policies")
        constraints = [
            models.CheckConstraint(condition=Q(ack_timeout_minutes__gte=1), name="ack_timeout_set")
        ]

    def __str__(self) -> str:
        return f"{self.system}: {self.ack_timeout_minutes} min per level"


class Escalation(models.Model):
    """An edge case or failure routed to an accountable person, escalated while unacknowledged."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="escalations")
    source = models.CharField(_("source"), max_length=24, choices=EscalationSource.choices)
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices)
    title = models.CharField(_("title"), max_length=200)
    details = models.JSONField(_("details"), default=dict, blank=True)
    dedup_key = models.CharField(_("deduplication key"), max_length=200)
    occurrences = models.PositiveIntegerField(_("occurrences"), default=1)
    first_seen = models.DateTimeField(_("first seen"))
    last_seen = models.DateTimeField(_("last seen"))
    state = models.CharField(
        _("state"), max_length=16, choices=EscalationState.choices, default=EscalationState.OPEN
    )
    level = models.PositiveSmallIntegerField(_("level"), default=1)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_escalations",
    )
    next_escalation_at = models.DateTimeField(_("next escalation"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolution_note = models.TextField(_("resolution note"), blank=True)
    root_cause = models.CharField(
        _("root cause"), max_length=16, choices=RootCause.choices, blank=True
    )
    is_test = models.BooleanField(_("test alert"), default=False)
    # Set for a data-quality failure: the source's owner is on the path beside the system's.
    data_source = models.ForeignKey(
        DataSource,
        verbose_name=_("data source"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="escalations",
    )

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        ordering = ["-last_seen"]
        constraints = [
            # Deduplication: one unresolved escalation per system and key.
            models.UniqueConstraint(
                fields=["system", "dedup_key"],
                condition=~Q(state=EscalationState.RESOLVED),
                name="one_unresolved_escalation_per_key",
            ),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=3), name="level_1_to_3"),
        ]
        indexes = [
            models.Index(fields=["state", "next_escalation_at"], name="escalation_due"),
        ]

    def __str__(self) -> str:
        return f"ESC-{self.pk} {self.title}"


class Silence(models.Model):
    """A mute on a system's alerts matching a dedup-key prefix, with an owner, reason and expiry."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="silences")
    matcher = models.CharField(
        _("dedup key starts with"),
        max_length=200,
        help_text=_("e.g. “threshold:output_quality” mutes that metric's breaches."),
    )
    reason = models.TextField(_("reason"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("expires"))
    ended_at = models.DateTimeField(_("ended early"), null=True, blank=True)

    class Meta:
        verbose_name = _("silence")
        verbose_name_plural = _("silences")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="silence_expires")
        ]

    def __str__(self) -> str:
        return f"{self.system}: {self.matcher} until {self.ends_at:%Y-%m-%d %H:%M}"


class AlertRuleState(models.Model):
    """Where one metric's alert rule stands (threshold or no-data), kept by the evaluator."""

    metric = models.ForeignKey(
        "registry.MetricSpec", on_delete=models.CASCADE, related_name="alert_states"
    )
    kind = models.CharField(max_length=12, choices=AlertKind.choices)
    status = models.CharField(
        max_length=12, choices=AlertStatus.choices, default=AlertStatus.INACTIVE
    )
    severity = models.CharField(max_length=8, choices=Severity.choices, blank=True)
    since = models.DateTimeField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("alert rule state")
        verbose_name_plural = _("alert rule states")
        constraints = [
            models.UniqueConstraint(fields=["metric", "kind"], name="one_state_per_rule")
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.kind}: {self.status}"


class Notification(models.Model):
    """An in-app inbox item for one person."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    url = models.CharField(_("link"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"], name="inbox_unread")]

    def __str__(self) -> str:
        return f"{self.user}: {self.title}"


class Webhook(models.Model):
    """An HTTPS endpoint told about a system's escalations, each request signed with HMAC."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=100, editable=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["system", "url"]

    def __str__(self) -> str:
        return f"{self.system}: {self.url}"


class WebhookDelivery(models.Model):
    """One event sent (or to be sent) to one webhook, retried with backoff until it lands."""

    class Status(models.TextChoices):
        """pending -> delivered | (pending, retried) -> failed after the last attempt."""

        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(_("event"), max_length=40)
    # What the delivery is about, e.g. "escalation:12:level:2": a redelivered
    # notification task finds the row it made instead of sending twice.
    key = models.CharField(max_length=100)
    payload = models.JSONField(_("payload"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "key"], name="one_delivery_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.webhook.url}: {self.status}"


class AssessmentAnswer(models.Model):
    """One answer of a system's root-cause questionnaire (governance/assessment.py)."""

    system = models.ForeignKey(
        AISystem, on_delete=models.CASCADE, related_name="assessment_answers"
    )
    question = models.CharField(_("question"), max_length=40)
    value = models.PositiveSmallIntegerField(_("answer"))
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_at = models.DateTimeField(_("answered"))

    class Meta:
        verbose_name = _("assessment answer")
        verbose_name_plural = _("assessment answers")
        constraints = [
            models.UniqueConstraint(fields=["system", "question"], name="one_answer_per_question"),
            models.CheckConstraint(condition=Q(value__lte=4), name="answer_0_to_4"),
        ]

    def __str__(self) -> str:
        return f"{self.system_id}:{self.question}={self.value}"


class ActionItem(models.Model):
    """An item of a system's action plan: cause, owner, due date, status; completing is audited."""

    class Status(models.TextChoices):
        """open -> done | dropped; done and dropped are final."""

        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        DROPPED = "dropped", _("Dropped")

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="action_items")
    key = models.CharField(_("proposed as"), max_length=40, blank=True)
    cause = models.CharField(_("root cause"), max_length=16, choices=RootCause.choices)
    title = models.CharField(_("title"), max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="action_items",
    )
    due_date = models.DateField(_("due"))
    priority = models.PositiveSmallIntegerField(_("priority"), default=100)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.OPEN
    )
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created"))
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("action item")
        verbose_name_plural = _("action items")
        ordering = ["system", "status", "priority", "due_date"]
        constraints = [
            # A proposed action is proposed once per system (people add their own with no key).
            models.UniqueConstraint(
                fields=["system", "key"], condition=~Q(key=""), name="action_proposed_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system_id}: {self.title}"
