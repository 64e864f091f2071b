"""AI systems, model versions, metric specs, points, rollups, tokens and pull connectors."""

from __future__ import annotations

import hashlib
import json
import math

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from registry.choices import (
    Aggregation,
    Direction,
    Granularity,
    MetricKind,
    RiskTier,
    SourceKind,
    Stage,
    TokenKind,
    VersionStatus,
)


def content_hash(*, version: str, artifact_uri: str, parameters: dict) -> str:
    """SHA-256 of what identifies a model version, over canonical JSON."""
    canonical = json.dumps(
        {"version": version, "artifact_uri": artifact_uri, "parameters": parameters},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class AISystem(models.Model):
    """An AI system the organisation runs or means to run in production."""

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    purpose = models.TextField(_("purpose"), blank=True)
    business_unit = models.CharField(_("business unit"), max_length=120)
    risk_tier = models.CharField(_("risk tier"), max_length=16, choices=RiskTier.choices)
    stage = models.CharField(
        _("stage"), max_length=32, choices=Stage.choices, default=Stage.OPERATIONAL_ARCHITECTURE
    )
    deployed_version = models.ForeignKey(
        "ModelVersion",
        verbose_name=_("deployed model version"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("AI system")
        verbose_name_plural = _("AI systems")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    """A version of a system's model, identified by a content hash that approvals bind to."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(_("version"), max_length=64)
    artifact_uri = models.CharField(_("artifact URI"), max_length=500)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    training_source = models.CharField(_("training data source"), max_length=300, blank=True)
    training_rows = models.BigIntegerField(
        _("training rows"), null=True, blank=True, validators=[MinValueValidator(0)]
    )
    training_labelled_share = models.FloatField(
        _("labelled share"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
    )
    notes = models.TextField(_("notes"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=VersionStatus.choices, default=VersionStatus.CANDIDATE
    )
    content_hash = models.CharField(_("content hash"), max_length=64, editable=False)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    registered_at = models.DateTimeField(_("registered"), auto_now_add=True)
    deployed_at = models.DateTimeField(_("deployed"), null=True, blank=True)

    class Meta:
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        ordering = ["system", "-registered_at"]
        constraints = [
            models.UniqueConstraint(fields=["system", "version"], name="version_unique_per_system"),
            models.CheckConstraint(
                condition=Q(training_labelled_share__isnull=True)
                | Q(training_labelled_share__gte=0, training_labelled_share__lte=1),
                name="labelled_share_is_a_fraction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system.slug} {self.version}"

    def compute_content_hash(self) -> str:
        return content_hash(
            version=self.version, artifact_uri=self.artifact_uri, parameters=self.parameters
        )


class MetricSpec(models.Model):
    """A metric a system must (or may) report, with its thresholds and aggregation."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="metric_specs")
    key = models.SlugField(_("key"), max_length=64)
    name = models.CharField(_("display name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=MetricKind.choices)
    unit = models.CharField(_("unit"), max_length=32, blank=True)
    direction = models.CharField(_("direction"), max_length=20, choices=Direction.choices)
    warning = models.FloatField(_("warning threshold"))
    critical = models.FloatField(_("critical threshold"))
    aggregation = models.CharField(
        _("daily aggregation"), max_length=8, choices=Aggregation.choices, default=Aggregation.MEAN
    )
    required = models.BooleanField(_("required"), default=True)
    expected_interval_seconds = models.PositiveIntegerField(
        _("expected reporting interval (s)"), default=3600, validators=[MinValueValidator(1)]
    )
    pending_seconds = models.PositiveIntegerField(_("pending duration (s)"), default=0)

    class Meta:
        verbose_name = _("metric spec")
        verbose_name_plural = _("metric specs")
        ordering = ["system", "key"]
        constraints = [
            models.UniqueConstraint(fields=["system", "key"], name="metric_key_unique_per_system"),
            # The critical threshold lies beyond the warning one, in the bad direction.
            models.CheckConstraint(
                condition=Q(direction=Direction.HIGHER_IS_BETTER, critical__lte=F("warning"))
                | Q(direction=Direction.LOWER_IS_BETTER, critical__gte=F("warning")),
                name="critical_beyond_warning",
            ),
            models.CheckConstraint(
                condition=Q(expected_interval_seconds__gte=1), name="expected_interval_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system.slug}:{self.key}"

    def breaches(self, value: float, level: str) -> bool:
        """Whether `value` is worse than the `level` ("warning" or "critical") threshold."""
        threshold = self.warning if level == "warning" else self.critical
        if self.direction == Direction.HIGHER_IS_BETTER:
            return value < threshold
        return value > threshold


class MetricPoint(models.Model):
    """One reported value. Natural key: (metric, at, model version), NULL version included.

    `version_key` is the model version's id, or 0 for none, so the natural key
    is a plain unique constraint on both PostgreSQL and SQLite (NULLs would be
    distinct there); a check constraint keeps it equal to the foreign key.
    """

    # No database-level foreign keys or single-column indexes on this, the largest
    # table: PostgreSQL would check three keys per row at commit (15,000 lookups for
    # a 5,000-point batch, the largest cost measured in bench/profile_ingest.py),
    # while every batch refers to one system, one version and a few metrics that the
    # writer has already validated, and that no code path ever deletes. The natural
    # key's index serves every query (metric first).
    system = models.ForeignKey(
        AISystem, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    metric = models.ForeignKey(
        MetricSpec,
        on_delete=models.CASCADE,
        related_name="points",
        db_constraint=False,
        db_index=False,
    )
    model_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    version_key = models.BigIntegerField(default=0)
    at = models.DateTimeField(_("at"))
    value = models.FloatField(_("value"))
    received_at = models.DateTimeField(_("received"))

    class Meta:
        verbose_name = _("metric point")
        verbose_name_plural = _("metric points")
        constraints = [
            # (metric, at, version) rather than (metric, version, at): a time range of
            # one metric over every version, the common read, is then one index range.
            models.UniqueConstraint(
                fields=["metric", "at", "version_key"], name="metric_point_natural_key"
            ),
            models.CheckConstraint(
                condition=Q(model_version__isnull=True, version_key=0)
                | Q(model_version__isnull=False, version_key=F("model_version")),
                name="metric_point_version_key_matches",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric_id}@{self.at:%Y-%m-%dT%H:%M:%S}={self.value}"


class MetricRollup(models.Model):
    """Hourly or daily summary of one metric and model version, kept in step with the points.

    Written in the same transaction as the points it summarises. `sketch`
    holds, for p95 metrics only, a log-bucketed histogram (see
    registry/rollups.py) from which the 95th percentile is read to within 1%.
    """

    metric = models.ForeignKey(MetricSpec, on_delete=models.CASCADE, related_name="rollups")
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    version_key = models.BigIntegerField(default=0)
    granularity = models.CharField(max_length=4, choices=Granularity.choices)
    bucket_start = models.DateTimeField()
    count = models.BigIntegerField()
    sum = models.FloatField()
    min = models.FloatField()
    max = models.FloatField()
    last_at = models.DateTimeField()
    last_value = models.FloatField()
    sketch = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = _("metric rollup")
        verbose_name_plural = _("metric rollups")
        constraints = [
            models.UniqueConstraint(
                fields=["metric", "version_key", "granularity", "bucket_start"],
                name="metric_rollup_key",
            ),
        ]
        indexes = [
            models.Index(
                fields=["metric", "granularity", "bucket_start"], name="rollup_metric_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric_id} {self.granularity} {self.bucket_start:%Y-%m-%dT%H}"

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else math.nan


class ApiToken(models.Model):
    """A bearer token: a pipeline's (one system or one data source) or a person's (their roles).

    Only the SHA-256 of the token is stored; the token is shown once, at creation.
    """

    kind = models.CharField(_("kind"), max_length=16, choices=TokenKind.choices)
    name = models.CharField(_("name"), max_length=120)
    system = models.ForeignKey(
        AISystem, null=True, blank=True, on_delete=models.CASCADE, related_name="tokens"
    )
    data_source = models.ForeignKey(
        "DataSource", null=True, blank=True, on_delete=models.CASCADE, related_name="tokens"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    rate_limit_per_minute = models.PositiveIntegerField(_("requests per minute"), default=60000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind=TokenKind.PIPELINE,
                    system__isnull=False,
                    data_source__isnull=True,
                    user__isnull=True,
                )
                | Q(
                    kind=TokenKind.SOURCE,
                    system__isnull=True,
                    data_source__isnull=False,
                    user__isnull=True,
                )
                | Q(
                    kind=TokenKind.PERSONAL,
                    system__isnull=True,
                    data_source__isnull=True,
                    user__isnull=False,
                ),
                name="token_scope_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class MetricSource(models.Model):
    """A pull connector: Celery beat reads metrics from it on its own schedule."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="metric_sources")
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=SourceKind.choices)
    url = models.URLField(_("URL"), max_length=500)
    query = models.TextField(
        _("query"), blank=True, help_text=_("Prometheus: the PromQL instant query.")
    )
    json_path = models.CharField(
        _("JSON path"),
        max_length=200,
        blank=True,
        help_text=_("JSON endpoint: dotted path to the number, e.g. data.quality.value."),
    )
    metric = models.ForeignKey(
        MetricSpec,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sources",
        help_text=_("The metric every point is stored as (unless the label below maps series)."),
    )
    metric_label = models.CharField(
        _("metric key label"),
        max_length=64,
        blank=True,
        help_text=_("Prometheus: the series label whose value is the metric key."),
    )
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    interval_seconds = models.PositiveIntegerField(_("pull every (s)"), default=60)
    timeout_seconds = models.PositiveIntegerField(_("timeout (s)"), default=10)
    enabled = models.BooleanField(_("enabled"), default=True)
    next_pull_at = models.DateTimeField(_("next pull"), null=True, blank=True)

    class Meta:
        verbose_name = _("metric source")
        verbose_name_plural = _("metric sources")
        ordering = ["system", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_seconds__gte=10), name="pull_interval_at_least_10s"
            ),
            models.CheckConstraint(
                condition=~Q(metric__isnull=True, metric_label=""),
                name="source_maps_to_a_metric",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PullRun(models.Model):
    """The record of one pull: ok or failed, how long it took, what it stored."""

    source = models.ForeignKey(MetricSource, on_delete=models.CASCADE, related_name="runs")
    started_at = models.DateTimeField(_("started"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    ok = models.BooleanField(_("ok"))
    points = models.PositiveIntegerField(_("points stored"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("pull run")
        verbose_name_plural = _("pull runs")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["source", "-started_at"], name="pull_run_recent")]

    def __str__(self) -> str:
        return f"{self.source} {self.started_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'failed'}"
