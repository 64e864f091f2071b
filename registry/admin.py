"""The registry in the Django admin: read-only except connector configuration.

Systems, versions, metric specs, tokens and data sources change only through the services
(API and pages), which validate and audit every change; the admin shows them.
"""

from django.contrib import admin

from registry.models import (
    AISystem,
    ApiToken,
    DataSource,
    IntegrationRun,
    MetricSource,
    MetricSpec,
    ModelVersion,
    PullRun,
    ReferenceProfile,
    SourceCheck,
    SourceDelivery,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and shows; no add, change or delete: changes go through the audited services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AISystem)
class AISystemAdmin(ReadOnlyAdmin):
    list_display = ["slug", "name", "business_unit", "risk_tier", "stage", "deployed_version"]
    list_filter = ["risk_tier", "stage", "business_unit"]
    search_fields = ["slug", "name"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["system", "version", "status", "content_hash", "registered_at"]
    list_filter = ["status"]
    list_select_related = ["system"]
    search_fields = ["system__slug", "version"]


@admin.register(MetricSpec)
class MetricSpecAdmin(ReadOnlyAdmin):
    list_display = ["system", "key", "kind", "direction", "warning", "critical", "aggregation"]
    list_filter = ["kind", "required"]
    list_select_related = ["system"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "kind",
        "prefix",
        "system",
        "data_source",
        "user",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["kind"]
    list_select_related = ["system", "data_source", "user"]
    exclude = ["token_hash"]


@admin.register(MetricSource)
class MetricSourceAdmin(admin.ModelAdmin):
    """Pull connectors are configuration, edited here like beat schedules."""

    list_display = ["name", "system", "kind", "url", "interval_seconds", "enabled", "next_pull_at"]
    list_filter = ["kind", "enabled"]
    list_select_related = ["system"]


@admin.register(PullRun)
class PullRunAdmin(ReadOnlyAdmin):
    list_display = ["source", "started_at", "ok", "duration_ms", "points", "error"]
    list_filter = ["ok"]
    list_select_related = ["source"]


@admin.register(DataSource)
class DataSourceAdmin(ReadOnlyAdmin):
    """Sources change on the data-quality pages and the API, which audit every change."""

    list_display = ["slug", "name", "kind", "owner", "expected_interval_seconds"]
    list_filter = ["kind"]
    list_select_related = ["owner"]
    search_fields = ["slug", "name"]


@admin.register(SourceDelivery)
class SourceDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["source", "at", "rows", "drift_max", "missing_max", "received_at"]
    list_select_related = ["source"]
    date_hierarchy = "at"


@admin.register(IntegrationRun)
class IntegrationRunAdmin(ReadOnlyAdmin):
    list_display = ["source", "at", "passed", "failed"]
    list_select_related = ["source"]


@admin.register(ReferenceProfile)
class ReferenceProfileAdmin(ReadOnlyAdmin):
    list_display = ["source", "field", "version", "origin", "rows", "created_at"]
    list_select_related = ["source"]


@admin.register(SourceCheck)
class SourceCheckAdmin(ReadOnlyAdmin):
    list_display = ["source", "kind", "status", "value", "since", "evaluated_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["source"]
