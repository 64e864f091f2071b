"""Choices of the registry, each with its label in one place."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RiskTier(models.TextChoices):
    """Consequence of failure; sets governance defaults (DOMAIN.md, Proportionality)."""

    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


class Stage(models.TextChoices):
    """Where a system stands in the four-stage framework.

    operational_architecture -> evaluation_infrastructure -> ownership_governance
    -> staged_rollout -> production; each step forward only when its exit
    criteria hold (rollout app), a step back allowed with a reason.
    """

    OPERATIONAL_ARCHITECTURE = "operational_architecture", _("1 · Operational architecture")
    EVALUATION_INFRASTRUCTURE = "evaluation_infrastructure", _("2 · Evaluation infrastructure")
    OWNERSHIP_GOVERNANCE = "ownership_governance", _("3 · Ownership and governance")
    STAGED_ROLLOUT = "staged_rollout", _("4 · Staged rollout")
    PRODUCTION = "production", _("Production")


class VersionStatus(models.TextChoices):
    """A model version's life: candidate -> approved -> deployed -> retired."""

    CANDIDATE = "candidate", _("Candidate")
    APPROVED = "approved", _("Approved")
    DEPLOYED = "deployed", _("Deployed")
    RETIRED = "retired", _("Retired")


class MetricKind(models.TextChoices):
    QUALITY = "quality", _("Output quality")
    LATENCY = "latency", _("Latency")
    ERROR_RATE = "error_rate", _("Error rate")
    ADOPTION = "adoption", _("User adoption")
    INTEGRATION = "integration", _("Integration")
    CUSTOM = "custom", _("Custom")


class Direction(models.TextChoices):
    HIGHER_IS_BETTER = "higher_is_better", _("Higher is better")
    LOWER_IS_BETTER = "lower_is_better", _("Lower is better")


class Aggregation(models.TextChoices):
    """How a metric's points fold into one daily value."""

    MEAN = "mean", _("Mean")
    P95 = "p95", _("95th percentile")
    MIN = "min", _("Minimum")
    MAX = "max", _("Maximum")
    LAST = "last", _("Last value")
    SUM = "sum", _("Sum")


class Granularity(models.TextChoices):
    HOUR = "hour", _("Hour")
    DAY = "day", _("Day")


class TokenKind(models.TextChoices):
    PIPELINE = "pipeline", _("Pipeline (one AI system)")
    SOURCE = "source", _("Source pipeline (one data source)")
    PERSONAL = "personal", _("Personal (a person's permissions)")


class SourceKind(models.TextChoices):
    """Where a pull connector reads metrics from."""

    PROMETHEUS = "prometheus", _("Prometheus instant query")
    JSON = "json", _("JSON HTTP endpoint")


class DataSourceKind(models.TextChoices):
    """What kind of upstream system a data source is."""

    CRM = "crm", _("CRM")
    ERP = "erp", _("ERP")
    DATABASE = "database", _("Database")
    API = "api", _("API")
    FILE = "file", _("File drop")
    STREAM = "stream", _("Stream")


class QualityCheck(models.TextChoices):
    """The checks of the data-quality dashboard, in the order of its columns.

    Uptime is kept beside them (readiness indicator 1) but is a 30-day figure,
    not an incident: it never escalates.
    """

    FRESHNESS = "freshness", _("Freshness")
    VOLUME = "volume", _("Volume")
    COMPLETENESS = "completeness", _("Completeness")
    SCHEMA = "schema", _("Schema")
    DRIFT = "drift", _("Drift")
    INTEGRATION = "integration", _("Integration tests")
    UPTIME = "uptime", _("30-day uptime")


# The six checks of the grid (uptime has its own column) and the ones whose failure escalates.
GRID_CHECKS = (
    QualityCheck.FRESHNESS,
    QualityCheck.VOLUME,
    QualityCheck.COMPLETENESS,
    QualityCheck.SCHEMA,
    QualityCheck.DRIFT,
    QualityCheck.INTEGRATION,
)
ESCALATING_CHECKS = frozenset(GRID_CHECKS)


class CheckStatus(models.TextChoices):
    """A check's verdict; "insufficient_data" is never read as a pass or a fail.

    Ranked fail > warn > insufficient_data > ok when several are folded into one
    (a source's drift over its fields): a field that cannot be judged is shown,
    not hidden behind the ones that pass.
    """

    OK = "ok", _("OK")
    WARN = "warn", _("Warning")
    FAIL = "fail", _("Failing")
    INSUFFICIENT_DATA = "insufficient_data", _("Insufficient data")


STATUS_RANK = {
    CheckStatus.OK: 0,
    CheckStatus.INSUFFICIENT_DATA: 1,
    CheckStatus.WARN: 2,
    CheckStatus.FAIL: 3,
}


class ReferenceOrigin(models.TextChoices):
    WINDOW = "window", _("Chosen from a window of deliveries")
    PUSHED = "pushed", _("Pushed by a pipeline or person")
