"""Upstream data sources, what their pipelines report, and the checks the portal keeps on them."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from registry import quality
from registry.choices import CheckStatus, DataSourceKind, QualityCheck, ReferenceOrigin
from registry.models.systems import AISystem

# The levels a source may override, with the defaults of the issue and DOMAIN.md.
LEVEL_DEFAULTS = {
    "completeness_warn": quality.COMPLETENESS_WARN,
    "completeness_fail": quality.COMPLETENESS_FAIL,
    "psi_warn": quality.PSI_WARN,
    "psi_fail": quality.PSI_FAIL,
    "wasserstein_warn": quality.WASSERSTEIN_WARN,
    "drift_min_rows": quality.DRIFT_MIN_ROWS,
}


class DataSource(models.Model):
    """An upstream system (CRM, ERP, database, API, file drop, stream) that feeds AI systems."""

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=DataSourceKind.choices)
    description = models.TextField(_("description"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_data_sources",
    )
    expected_interval_seconds = models.PositiveIntegerField(
        _("expected delivery interval (s)"),
        default=3600,
        validators=[MinValueValidator(60)],
        help_text=_("The freshness SLA: warn past once this interval, fail past twice."),
    )
    expected_schema = models.JSONField(
        _("expected schema"),
        default=dict,
        blank=True,
        help_text=_('Field names and types, e.g. {"amount": "float", "branch": "string"}.'),
    )
    systems = models.ManyToManyField(
        AISystem, verbose_name=_("feeds"), related_name="data_sources", blank=True
    )
    completeness_warn = models.FloatField(
        _("completeness: warn past missing share"),
        default=LEVEL_DEFAULTS["completeness_warn"],
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
    )
    completeness_fail = models.FloatField(
        _("completeness: fail past missing share"),
        default=LEVEL_DEFAULTS["completeness_fail"],
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
    )
    psi_warn = models.FloatField(
        _("drift: warn past PSI"),
        default=LEVEL_DEFAULTS["psi_warn"],
        validators=[MinValueValidator(0.0)],
    )
    psi_fail = models.FloatField(
        _("drift: fail past PSI"),
        default=LEVEL_DEFAULTS["psi_fail"],
        validators=[MinValueValidator(0.0)],
    )
    wasserstein_warn = models.FloatField(
        _("drift: warn past normalised Wasserstein"),
        default=LEVEL_DEFAULTS["wasserstein_warn"],
        validators=[MinValueValidator(0.0)],
    )
    drift_min_rows = models.PositiveIntegerField(
        _("drift: fewest rows for a verdict"),
        default=LEVEL_DEFAULTS["drift_min_rows"],
        validators=[MinValueValidator(1)],
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("data source")
        verbose_name_plural = _("data sources")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expected_interval_seconds__gte=60), name="source_interval_at_least_60s"
            ),
            models.CheckConstraint(
                condition=Q(completeness_warn__gte=0, completeness_fail__lte=1)
                & Q(completeness_warn__lte=F("completeness_fail")),
                name="source_completeness_levels_ordered",
            ),
            models.CheckConstraint(
                condition=Q(psi_warn__gte=0, psi_warn__lte=F("psi_fail")),
                name="source_psi_levels_ordered",
            ),
            models.CheckConstraint(
                condition=Q(wasserstein_warn__gte=0), name="source_wasserstein_level_positive"
            ),
            models.CheckConstraint(
                condition=Q(drift_min_rows__gte=1), name="source_drift_min_rows_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def custom_levels(self) -> dict[str, tuple[float, float]]:
        """Levels changed from their defaults, {field: (default, value)}: shown, never silent."""
        return {
            field: (default, getattr(self, field))
            for field, default in LEVEL_DEFAULTS.items()
            if getattr(self, field) != default
        }


class SourceDelivery(models.Model):
    """A delivery (or a bare heartbeat) that arrived from a source, with its row count if known.

    Natural key (source, at): a pipeline that resends a delivery changes nothing.
    `drift_max` and `missing_max` summarise the delivery's fields for the sparklines;
    the evaluation task sets them.
    """

    source = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="deliveries")
    at = models.DateTimeField(_("at"))
    rows = models.BigIntegerField(
        _("rows"), null=True, blank=True, validators=[MinValueValidator(0)]
    )
    received_at = models.DateTimeField(_("received"))
    drift_max = models.FloatField(_("largest PSI"), null=True, blank=True)
    missing_max = models.FloatField(_("largest missing share"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["source", "-at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "at"], name="delivery_natural_key"),
            models.CheckConstraint(
                condition=Q(rows__isnull=True) | Q(rows__gte=0), name="delivery_rows_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}@{self.at:%Y-%m-%dT%H:%M}"


class FieldProfile(models.Model):
    """One field as observed in one delivery: type, missing share, and its distribution.

    A numeric field carries histogram `edges` and `counts`; a categorical one
    `categories` ({value: count}). `psi`, `wasserstein` and `reference_version`
    are filled in by the evaluation, so a field's drift can be charted over time.
    """

    delivery = models.ForeignKey(SourceDelivery, on_delete=models.CASCADE, related_name="fields")
    field = models.CharField(_("field"), max_length=120)
    observed_type = models.CharField(_("observed type"), max_length=40, blank=True)
    missing_share = models.FloatField(_("missing share"), null=True, blank=True)
    rows = models.BigIntegerField(_("rows profiled"), null=True, blank=True)
    edges = models.JSONField(_("bin edges"), null=True, blank=True)
    counts = models.JSONField(_("bin counts"), null=True, blank=True)
    categories = models.JSONField(_("category counts"), null=True, blank=True)
    psi = models.FloatField(_("PSI"), null=True, blank=True)
    wasserstein = models.FloatField(_("normalised Wasserstein"), null=True, blank=True)
    reference_version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("field profile")
        verbose_name_plural = _("field profiles")
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "field"], name="field_profile_per_delivery"
            ),
            models.CheckConstraint(
                condition=Q(missing_share__isnull=True)
                | Q(missing_share__gte=0, missing_share__lte=1),
                name="field_missing_share_is_a_fraction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.delivery} {self.field}"

    @property
    def sample_rows(self) -> int:
        """The rows the distribution was computed from: its counts' total."""
        if self.counts:
            return int(sum(self.counts))
        if self.categories:
            return int(sum(self.categories.values()))
        return 0


class ReferenceProfile(models.Model):
    """The distribution of one field that drift is measured against; each change a new version."""

    source = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="references")
    field = models.CharField(_("field"), max_length=120)
    version = models.PositiveIntegerField(_("version"))
    edges = models.JSONField(_("bin edges"), null=True, blank=True)
    counts = models.JSONField(_("bin counts"), null=True, blank=True)
    categories = models.JSONField(_("category counts"), null=True, blank=True)
    rows = models.BigIntegerField(_("rows"))
    origin = models.CharField(_("origin"), max_length=8, choices=ReferenceOrigin.choices)
    window_start = models.DateTimeField(_("window start"), null=True, blank=True)
    window_end = models.DateTimeField(_("window end"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("reference profile")
        verbose_name_plural = _("reference profiles")
        ordering = ["source", "field", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "field", "version"], name="reference_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.field} v{self.version}"


class IntegrationRun(models.Model):
    """One integration-test run against a source: how many checks passed and how many failed."""

    source = models.ForeignKey(
        DataSource, on_delete=models.CASCADE, related_name="integration_runs"
    )
    at = models.DateTimeField(_("at"))
    passed = models.PositiveIntegerField(_("passed"))
    failed = models.PositiveIntegerField(_("failed"))
    received_at = models.DateTimeField(_("received"))

    class Meta:
        verbose_name = _("integration run")
        verbose_name_plural = _("integration runs")
        ordering = ["source", "-at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "at"], name="integration_run_natural_key"),
            models.CheckConstraint(
                condition=Q(passed__gt=0) | Q(failed__gt=0), name="integration_run_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}@{self.at:%Y-%m-%dT%H:%M} {self.passed}/{self.failed}"


class SourceCheck(models.Model):
    """The current verdict of one check of one source, rewritten by every evaluation.

    `fields` holds the per-field results of the field checks (completeness,
    schema, drift); `since` is when the status last changed.
    """

    source = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="checks")
    kind = models.CharField(_("check"), max_length=16, choices=QualityCheck.choices)
    status = models.CharField(_("status"), max_length=20, choices=CheckStatus.choices)
    value = models.FloatField(_("value"), null=True, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    fields = models.JSONField(_("per-field results"), default=list, blank=True)
    since = models.DateTimeField(_("status since"))
    evaluated_at = models.DateTimeField(_("evaluated"))

    class Meta:
        verbose_name = _("source check")
        verbose_name_plural = _("source checks")
        constraints = [
            models.UniqueConstraint(fields=["source", "kind"], name="one_result_per_check"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.kind}={self.status}"
