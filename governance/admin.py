"""The governance app in the Django admin: records are shown, never changed here."""

from django.contrib import admin

from governance.models import (
    AccountabilitySignature,
    AuditEvent,
    ChangeRequest,
    Escalation,
    RoutingPolicy,
    Silence,
    WebhookDelivery,
)
from registry.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """No add, change or delete (and so no bulk delete action)."""

    list_display = ["id", "at", "actor_label", "action", "object_repr", "system_slug"]
    list_filter = ["actor_kind", "action"]
    search_fields = ["actor_label", "object_repr", "system_slug", "reason"]
    date_hierarchy = "at"
    # Counting a large trail on every page would be slow; the audit page has the counts.
    show_full_result_count = False


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "system", "kind", "title", "state", "risk_tier", "created_at"]
    list_filter = ["state", "kind", "risk_tier"]
    list_select_related = ["system"]


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    list_display = ["id", "system", "title", "severity", "state", "level", "occurrences"]
    list_filter = ["state", "severity", "source"]
    list_select_related = ["system"]


@admin.register(AccountabilitySignature)
class AccountabilitySignatureAdmin(ReadOnlyAdmin):
    list_display = ["system", "signer", "signed_at", "expires_at", "voided_at"]
    list_select_related = ["system", "signer"]


@admin.register(RoutingPolicy)
class RoutingPolicyAdmin(ReadOnlyAdmin):
    """Changed by an approved parameter-change request ({"routing": {...}})."""

    list_display = ["system", "ack_timeout_minutes", "level3_user", "level3_group"]


@admin.register(Silence)
class SilenceAdmin(ReadOnlyAdmin):
    list_display = ["system", "matcher", "owner", "starts_at", "ends_at", "ended_at"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["webhook", "event", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status"]
