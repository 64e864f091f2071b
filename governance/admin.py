"""The governance app in the Django admin: the audit trail is shown, never changed."""

from django.contrib import admin

from governance.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: no add, change or delete (and so no bulk delete action)."""

    list_display = ["id", "at", "actor_label", "action", "object_repr", "system_slug"]
    list_filter = ["actor_kind", "action"]
    search_fields = ["actor_label", "object_repr", "system_slug", "reason"]
    date_hierarchy = "at"
    # Counting a large trail on every page would be slow; the audit page has the counts.
    show_full_result_count = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
