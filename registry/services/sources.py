"""Writes about data sources: registration, what their pipelines push, references, the checks.

Pushes (deliveries, field profiles, integration runs) are validated whole by
registry/source_validation.py and written in one transaction, or not at all;
after the commit an evaluation of the source is enqueued. The evaluation
(`data_source_evaluate`) runs the statistics of registry/quality.py over the
stored data and rewrites the source's `SourceCheck` rows; a check that starts
failing is announced with the `data_quality_failed` signal, inside the same
transaction, so the governance app opens its escalations atomically with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Sum
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import ApplicationError
from core.resilience import enqueue
from registry import quality
from registry.choices import (
    ESCALATING_CHECKS,
    CheckStatus,
    DataSourceKind,
    QualityCheck,
    ReferenceOrigin,
)
from registry.models import (
    LEVEL_DEFAULTS,
    AISystem,
    DataSource,
    FieldProfile,
    IntegrationRun,
    ReferenceProfile,
    SourceCheck,
    SourceDelivery,
)
from registry.permissions import READ_ROLES, has_any_role
from registry.selectors.sources import source_references
from registry.services.systems import _audit
from registry.signals import data_quality_failed
from registry.source_validation import (
    MAX_FIELDS,
    FieldObservation,
    TooManyFields,
    validate_delivery,
    validate_integration_run,
    validate_profile_batch,
    validate_reference,
)
from registry.validation import FUTURE_TOLERANCE

WINDOW_DAYS = 30  # uptime and the integration error rate (readiness indicators 1 and 3)
SOURCE_FIELDS = frozenset(
    {"name", "kind", "description", "owner", "expected_interval_seconds", "expected_schema"}
    | set(LEVEL_DEFAULTS)
)


# --- Registration -----------------------------------------------------------------------


def _check_source_fields(fields: dict[str, Any]) -> None:
    """Business rules the form, the API and the admin share; raises ApplicationError."""
    if "kind" in fields and fields["kind"] not in DataSourceKind.values:
        raise ApplicationError(
            gettext("%(kind)s is not a kind of source.") % {"kind": f"{fields['kind']!r}"},
            field="kind",
        )
    interval = fields.get("expected_interval_seconds")
    if interval is not None and interval < 60:
        raise ApplicationError(
            gettext("The expected delivery interval is at least 60 seconds."),
            field="expected_interval_seconds",
        )
    schema = fields.get("expected_schema")
    if schema is not None and (
        not isinstance(schema, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in schema.items())
    ):
        raise ApplicationError(
            gettext(
                'The expected schema maps field names to type names, e.g. {"amount": "float"}.'
            ),
            field="expected_schema",
        )
    for name, value in fields.items():
        if name in LEVEL_DEFAULTS and (value is None or value < 0):
            raise ApplicationError(gettext("A level is a number of at least 0."), field=name)
    owner = fields.get("owner")
    if owner is not None and not (owner.is_active and has_any_role(owner, READ_ROLES)):
        raise ApplicationError(
            gettext("The owner must be an active person with a role in the portal."), field="owner"
        )


def _check_levels(source: DataSource) -> None:
    if not 0 <= source.completeness_warn <= source.completeness_fail <= 1:
        raise ApplicationError(
            gettext("Completeness levels: 0 ≤ warn ≤ fail ≤ 1 (missing shares)."),
            field="completeness_fail",
        )
    if source.psi_warn > source.psi_fail:
        raise ApplicationError(
            gettext("The PSI fail level must not be below its warn level."), field="psi_fail"
        )
    if source.drift_min_rows < 1:
        raise ApplicationError(
            gettext("At least one row is needed for a verdict."), field="drift_min_rows"
        )


def _audit_values(source: DataSource, names: Iterable[str]) -> dict[str, Any]:
    values = {}
    for name in names:
        value = getattr(source, name)
        values[name] = value.get_username() if name == "owner" and value else value
    return values


def data_source_create(
    *, by, slug: str, systems: Iterable[AISystem] = (), **fields: Any
) -> DataSource:
    """Register a data source, the systems it feeds, and any levels other than the defaults."""
    unknown = set(fields) - SOURCE_FIELDS
    if unknown:
        raise ApplicationError(
            gettext("Cannot set %(unknown)s on a source.") % {"unknown": ", ".join(sorted(unknown))}
        )
    _check_source_fields(fields)
    with transaction.atomic():
        if DataSource.objects.filter(slug=slug).exists():
            raise ApplicationError(
                gettext("A data source with slug %(slug)s exists.") % {"slug": f"{slug!r}"},
                field="slug",
            )
        source = DataSource(slug=slug, **fields)
        _check_levels(source)
        try:
            with transaction.atomic():
                source.save()
        except IntegrityError:  # the same slug registered a moment ago
            raise ApplicationError(
                gettext("A data source with slug %(slug)s exists.") % {"slug": f"{slug!r}"},
                field="slug",
            ) from None
        systems = list(systems)
        source.systems.set(systems)
        _audit(
            by,
            "data_source.create",
            source,
            after={
                "slug": slug,
                **_audit_values(source, fields),
                "systems": sorted(system.slug for system in systems),
            },
        )
    return source


def data_source_update(
    *, source: DataSource, by, systems: Iterable[AISystem] | None = None, **changes: Any
) -> DataSource:
    """Change a source's description, SLA, schema, levels or the systems it feeds; audited."""
    changes.pop("slug", None)
    unknown = set(changes) - SOURCE_FIELDS
    if unknown:
        raise ApplicationError(
            gettext("Cannot change %(unknown)s of a source.")
            % {"unknown": ", ".join(sorted(unknown))}
        )
    _check_source_fields(changes)
    with transaction.atomic():
        locked = DataSource.objects.select_for_update().get(pk=source.pk)
        before = _audit_values(locked, changes)
        for name, value in changes.items():
            setattr(locked, name, value)
        _check_levels(locked)
        locked.save()
        after = _audit_values(locked, changes)
        if systems is not None:
            systems = list(systems)
            before["systems"] = sorted(locked.systems.values_list("slug", flat=True))
            locked.systems.set(systems)
            after["systems"] = sorted(system.slug for system in systems)
        _audit(by, "data_source.update", locked, before=before, after=after)
    # Levels or schema may change a verdict: evaluate again once this is committed.
    _enqueue_evaluation(locked.pk)
    return locked


# --- What pipelines push ----------------------------------------------------------------


def _retention() -> timedelta:
    return timedelta(days=settings.METRIC_RETENTION_DAYS)


def _refuse(errors: list[dict[str, Any]]) -> None:
    if errors:
        raise ApplicationError(errors[0]["message"], errors=errors[:100])


def _enqueue_evaluation(source_id: int) -> None:
    from registry.tasks import evaluate_source  # tasks import services; avoid the cycle

    # Broker down: the push stays stored, and the minute sweep evaluates it (data_sources_sweep).
    transaction.on_commit(lambda: enqueue(evaluate_source, source_id))


@dataclass(frozen=True)
class PushResult:
    """What a push stored: new rows and rows already there (a resend)."""

    accepted: int
    duplicates: int


def _delivery_upsert(source: DataSource, at: datetime, rows: int | None, now: datetime):
    """The delivery at `at`, created if new; a row count fills in one that had none."""
    delivery, created = SourceDelivery.objects.get_or_create(
        source=source, at=at, defaults={"rows": rows, "received_at": now}
    )
    if not created and delivery.rows is None and rows is not None:
        delivery.rows = rows
        delivery.save(update_fields=["rows"])
    return delivery, created


def delivery_record(*, source: DataSource, body: Any, by) -> PushResult:
    """A delivery (or heartbeat) arrived: `{"at": ..., "rows": ...}`; a resend changes nothing."""
    now = timezone.now()
    at, rows, errors = validate_delivery(body, now=now, retention=_retention())
    _refuse(errors)
    with transaction.atomic():
        _delivery, created = _delivery_upsert(source, at, rows, now)
        _enqueue_evaluation(source.pk)
    return PushResult(int(created), int(not created))


def profile_batch_record(*, source: DataSource, body: Any, by) -> PushResult:
    """Field observations of one delivery (created if it was not reported); all or nothing.

    A field already profiled for that delivery is a duplicate and keeps its first values.
    """
    now = timezone.now()
    try:
        cleaned, errors = validate_profile_batch(body, now=now, retention=_retention())
    except TooManyFields as exc:
        raise ApplicationError(
            gettext("A profile holds at most %(MAX_FIELDS)s fields; this one has %(args)s.")
            % {"MAX_FIELDS": MAX_FIELDS, "args": exc.args[0]},
            status=413,
            field="fields",
            code="too_large",
        ) from None
    _refuse(errors)
    at, rows, fields = cleaned
    with transaction.atomic():
        delivery, _created = _delivery_upsert(source, at, rows, now)
        # Two pushes for one delivery at once: the row lock lets the second see the first's
        # fields as duplicates instead of failing on the unique key.
        delivery = SourceDelivery.objects.select_for_update().get(pk=delivery.pk)
        existing = set(delivery.fields.values_list("field", flat=True))
        new = [_field_profile(delivery, field) for field in fields if field.name not in existing]
        FieldProfile.objects.bulk_create(new)
        _enqueue_evaluation(source.pk)
    return PushResult(len(new), len(fields) - len(new))


def _field_profile(delivery: SourceDelivery, field: FieldObservation) -> FieldProfile:
    distribution = field.distribution
    return FieldProfile(
        delivery=delivery,
        field=field.name,
        observed_type=field.observed_type,
        missing_share=field.missing_share,
        rows=field.rows if field.rows is not None else delivery.rows,
        edges=distribution.edges if distribution else None,
        counts=distribution.counts if distribution else None,
        categories=distribution.categories if distribution else None,
    )


def integration_run_record(*, source: DataSource, body: Any, by) -> PushResult:
    """An integration-test run against the source: `{"passed": n, "failed": m, "at": ...}`."""
    now = timezone.now()
    cleaned, errors = validate_integration_run(body, now=now, retention=_retention())
    _refuse(errors)
    at, passed, failed = cleaned
    with transaction.atomic():
        _run, created = IntegrationRun.objects.get_or_create(
            source=source, at=at, defaults={"passed": passed, "failed": failed, "received_at": now}
        )
        _enqueue_evaluation(source.pk)
    return PushResult(int(created), int(not created))


# --- References -------------------------------------------------------------------------


def _next_versions(source: DataSource, names: Iterable[str]) -> dict[str, int]:
    latest = dict(
        ReferenceProfile.objects.filter(source=source, field__in=list(names))
        .values("field")
        .annotate(version=Max("version"))
        .values_list("field", "version")
    )
    return {name: latest.get(name, 0) + 1 for name in names}


def _references_store(source: DataSource, by, references: list[ReferenceProfile]) -> None:
    versions = _next_versions(source, [ref.field for ref in references])
    for ref in references:
        ref.version = versions[ref.field]
        ref.created_by = by if getattr(by, "pk", None) else None
    ReferenceProfile.objects.bulk_create(references)
    _audit(
        by,
        "data_source.reference",
        source,
        after={ref.field: {"version": ref.version, "rows": ref.rows} for ref in references},
        reason=references[0].get_origin_display() if references else "",
    )
    _enqueue_evaluation(source.pk)


def reference_profile_push(*, source: DataSource, body: Any, by) -> list[ReferenceProfile]:
    """Set new reference versions: pushed distributions, or those of a window of deliveries."""
    try:
        cleaned, errors = validate_reference(body, now=timezone.now())
    except TooManyFields as exc:
        raise ApplicationError(
            gettext("A reference holds at most %(MAX_FIELDS)s fields; this one has %(args)s.")
            % {"MAX_FIELDS": MAX_FIELDS, "args": exc.args[0]},
            status=413,
            field="fields",
            code="too_large",
        ) from None
    _refuse(errors)
    if "fields" not in cleaned:
        return reference_profile_from_window(
            source=source, by=by, start=cleaned["start"], end=cleaned["end"], names=cleaned["names"]
        )
    references = [
        ReferenceProfile(
            source=source,
            field=field.name,
            edges=field.distribution.edges,
            counts=field.distribution.counts,
            categories=field.distribution.categories,
            rows=field.distribution.rows,
            origin=ReferenceOrigin.PUSHED,
        )
        for field in cleaned["fields"]
    ]
    with transaction.atomic():
        DataSource.objects.select_for_update().get(pk=source.pk)
        _references_store(source, by, references)
    return references


def reference_profile_from_window(
    *, source: DataSource, by, start: datetime, end: datetime, names: list[str] | None = None
) -> list[ReferenceProfile]:
    """New reference versions summed from the field profiles of deliveries in [start, end).

    A numeric field's histograms are summed when they share the bins of the
    window's latest one (histograms on other bins are left out); categories are
    summed.
    """
    if start >= end:
        raise ApplicationError(gettext("The window's start must be before its end."), field="start")
    profiles = FieldProfile.objects.filter(
        delivery__source=source, delivery__at__gte=start, delivery__at__lt=end
    ).order_by("-delivery__at")
    if names:
        profiles = profiles.filter(field__in=names)
    summed: dict[str, ReferenceProfile] = {}
    for profile in profiles.iterator():
        if profile.edges is None and profile.categories is None:
            continue
        ref = summed.get(profile.field)
        if ref is None:
            summed[profile.field] = ReferenceProfile(
                source=source,
                field=profile.field,
                edges=profile.edges,
                counts=list(profile.counts) if profile.counts else None,
                categories=dict(profile.categories) if profile.categories else None,
                rows=profile.sample_rows,
                origin=ReferenceOrigin.WINDOW,
                window_start=start,
                window_end=end,
            )
        elif ref.edges is not None and profile.edges == ref.edges:
            ref.counts = [a + b for a, b in zip(ref.counts, profile.counts, strict=True)]
            ref.rows += profile.sample_rows
        elif ref.categories is not None and profile.categories is not None:
            for value, count in profile.categories.items():
                ref.categories[value] = ref.categories.get(value, 0) + count
            ref.rows += profile.sample_rows
    missing = sorted(set(names or ()) - set(summed))
    if missing:
        raise ApplicationError(
            gettext("No delivery in that window profiled %(missing)s.")
            % {"missing": ", ".join(missing)},
            field="fields",
        )
    if not summed:
        raise ApplicationError(
            gettext(
                "No delivery in that window carries a field distribution; choose another window."
            ),
            field="start",
        )
    references = [summed[name] for name in sorted(summed)]
    with transaction.atomic():
        DataSource.objects.select_for_update().get(pk=source.pk)
        _references_store(source, by, references)
    return references


# --- Evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One check's new verdict, with its per-field results."""

    check: str
    result: quality.Check
    fields: list[dict[str, Any]]


def _freshness(source: DataSource, last_at: datetime | None, now: datetime) -> Outcome:
    result = quality.freshness(
        last_delivery=last_at,
        expected_interval=timedelta(seconds=source.expected_interval_seconds),
        now=now,
    )
    return Outcome(QualityCheck.FRESHNESS, result, [])


def _uptime(source: DataSource, now: datetime) -> Outcome:
    start = now - timedelta(days=WINDOW_DAYS)
    times = SourceDelivery.objects.filter(source=source, at__gte=start, at__lt=now).values_list(
        "at", flat=True
    )
    ratio = quality.uptime(
        deliveries=times,
        start=start,
        end=now,
        interval=timedelta(seconds=source.expected_interval_seconds),
    )
    # The counts travel with the verdict: readiness indicator 1 reads them.
    counts = [{"up": ratio.numerator, "expected": ratio.denominator}]
    return Outcome(
        QualityCheck.UPTIME, quality.uptime_check(ratio, window_days=WINDOW_DAYS), counts
    )


def _volume(source: DataSource) -> Outcome:
    counted = list(
        SourceDelivery.objects.filter(source=source, rows__isnull=False)
        .order_by("-at")
        .values_list("rows", flat=True)[: quality.VOLUME_WINDOW + 1]
    )
    if not counted:
        result = quality.Check(
            quality.INSUFFICIENT_DATA, None, "volume: no delivery reported a row count"
        )
    else:
        latest, *earlier = counted
        result = quality.volume_check(rows=latest, history=list(reversed(earlier)))
    return Outcome(QualityCheck.VOLUME, result, [])


def _integration(source: DataSource, now: datetime) -> Outcome:
    totals = IntegrationRun.objects.filter(
        # Pushes may be stamped up to FUTURE_TOLERANCE ahead; their own evaluation counts them.
        source=source,
        at__gt=now - timedelta(days=WINDOW_DAYS),
        at__lte=now + FUTURE_TOLERANCE,
    ).aggregate(passed=Sum("passed"), failed=Sum("failed"))
    passed, failed = totals["passed"] or 0, totals["failed"] or 0
    result = quality.integration_check(passed=passed, failed=failed, window_days=WINDOW_DAYS)
    # The counts travel with the verdict: readiness indicator 3 reads them.
    return Outcome(QualityCheck.INTEGRATION, result, [{"passed": passed, "failed": failed}])


def _no_profile(check: str) -> Outcome:
    return Outcome(
        check,
        quality.Check(quality.INSUFFICIENT_DATA, None, f"{check}: no field profile received yet"),
        [],
    )


def _completeness(source: DataSource, profiles: list[FieldProfile]) -> Outcome:
    rows = []
    for profile in profiles:
        if profile.missing_share is None:
            continue
        check = quality.completeness(
            missing_share=profile.missing_share,
            warn=source.completeness_warn,
            fail=source.completeness_fail,
            rows=profile.rows,
        )
        rows.append(
            {
                "field": profile.field,
                "status": check.status,
                "value": check.value,
                "detail": check.detail,
            }
        )
    if not rows:
        return _no_profile(QualityCheck.COMPLETENESS)
    status = quality.worst(row["status"] for row in rows)
    highest = max(rows, key=lambda row: row["value"])
    result = quality.Check(
        status,
        highest["value"],
        f"completeness: worst field {highest['field']}, {highest['value']:.2%} missing, over "
        f"{len(rows)} fields; warn past {source.completeness_warn:.0%}, "
        f"fail past {source.completeness_fail:.0%}",
    )
    return Outcome(QualityCheck.COMPLETENESS, result, rows)


def _schema(source: DataSource, profiles: list[FieldProfile]) -> Outcome:
    # A field pushed without its type has an unknown type, not a new one: no retype.
    observed = {
        profile.field: profile.observed_type or source.expected_schema.get(profile.field, "")
        for profile in profiles
    }
    diff = quality.schema_diff(expected=source.expected_schema, observed=observed)
    rows = (
        [
            {"field": f, "change": "added", "expected": None, "observed": observed[f]}
            for f in diff.added
        ]
        + [
            {
                "field": f,
                "change": "removed",
                "expected": source.expected_schema[f],
                "observed": None,
            }
            for f in diff.removed
        ]
        + [
            {"field": f, "change": "retyped", "expected": old, "observed": new}
            for f, old, new in diff.retyped
        ]
    )
    return Outcome(
        QualityCheck.SCHEMA,
        quality.schema_check(diff, expected_fields=len(source.expected_schema)),
        rows,
    )


def field_drift(
    source: DataSource, profile: FieldProfile, reference: ReferenceProfile | None
) -> dict[str, Any]:
    """One field's drift against its reference: PSI, and for numbers normalised Wasserstein."""
    row: dict[str, Any] = {
        "field": profile.field,
        "reference_version": reference.version if reference else None,
        "rows_reference": reference.rows if reference else 0,
        "rows_current": profile.sample_rows,
        "psi": None,
        "wasserstein": None,
    }
    if reference is None:
        row.update(status=quality.INSUFFICIENT_DATA, detail="drift: no reference profile yet")
        return row
    numeric = profile.edges is not None
    if numeric != (reference.edges is not None) or (numeric and profile.edges != reference.edges):
        row.update(
            status=quality.INSUFFICIENT_DATA,
            detail=f"drift: the bins differ from reference v{reference.version}; bin with the "
            "reference's edges (GET /api/v1/sources/{slug}/ lists them)",
        )
        return row
    have_rows = row["rows_current"] > 0 and reference.rows > 0
    checks = []
    if numeric:
        row["method"] = "PSI and normalised Wasserstein over binned numbers"
        row["bins"] = len(profile.edges) - 1
        if have_rows:
            row["psi"] = quality.psi(reference=reference.counts, current=profile.counts)
            row["wasserstein"] = quality.normalised_wasserstein(
                edges=profile.edges, reference=reference.counts, current=profile.counts
            )
    else:
        row["method"] = "PSI over categories"
        row["bins"] = len(set(profile.categories) | set(reference.categories))
        if have_rows:
            row["psi"] = quality.category_psi(
                reference=reference.categories, current=profile.categories
            )
    sizes = {
        "rows_reference": row["rows_reference"],
        "rows_current": row["rows_current"],
        "min_rows": source.drift_min_rows,
    }
    checks.append(
        quality.drift_check(
            method="PSI", value=row["psi"], warn=source.psi_warn, fail=source.psi_fail, **sizes
        )
    )
    if numeric:
        checks.append(
            quality.drift_check(
                method="normalised Wasserstein",
                value=row["wasserstein"],
                warn=source.wasserstein_warn,
                fail=None,
                **sizes,
            )
        )
    row["status"] = quality.worst(check.status for check in checks)
    row["detail"] = " · ".join(check.detail for check in checks)
    return row


def _drift(
    source: DataSource, profiles: list[FieldProfile], references: dict[str, ReferenceProfile]
) -> Outcome:
    rows = [
        field_drift(source, profile, references.get(profile.field))
        for profile in profiles
        if profile.edges is not None or profile.categories is not None
    ]
    if not rows:
        return _no_profile(QualityCheck.DRIFT)
    psis = [row["psi"] for row in rows if row["psi"] is not None]
    status = quality.worst(row["status"] for row in rows)
    judged = sum(row["status"] != quality.INSUFFICIENT_DATA for row in rows)
    if psis:
        detail = (
            f"drift: {judged} of {len(rows)} fields judged against their reference; "
            f"largest PSI {max(psis):.3g}"
        )
    else:
        detail = f"drift: none of {len(rows)} fields could be judged (see each field)"
    result = quality.Check(status, max(psis) if psis else None, detail)
    return Outcome(QualityCheck.DRIFT, result, rows)


def _field_checks(source: DataSource) -> tuple[list[Outcome], SourceDelivery | None]:
    """Completeness, schema and drift of the newest delivery that carried field profiles."""
    delivery = (
        SourceDelivery.objects.filter(source=source, fields__isnull=False).order_by("-at").first()
    )
    if delivery is None:
        return [
            _no_profile(QualityCheck.COMPLETENESS),
            _no_profile(QualityCheck.SCHEMA),
            _no_profile(QualityCheck.DRIFT),
        ], None
    profiles = list(delivery.fields.order_by("field"))
    drift = _drift(source, profiles, source_references(source))
    by_field = {row["field"]: row for row in drift.fields}
    for profile in profiles:
        row = by_field.get(profile.field)
        if row is not None:
            profile.psi, profile.wasserstein = row["psi"], row["wasserstein"]
            profile.reference_version = row["reference_version"]
    FieldProfile.objects.bulk_update(profiles, ["psi", "wasserstein", "reference_version"])
    completeness = _completeness(source, profiles)
    delivery.drift_max = drift.result.value
    delivery.missing_max = completeness.result.value
    delivery.save(update_fields=["drift_max", "missing_max"])
    return [completeness, _schema(source, profiles), drift], delivery


def _escalates(outcome: Outcome) -> bool:
    if outcome.check not in ESCALATING_CHECKS:
        return False
    # A source that has never delivered is "fail" but not an incident: nothing broke yet.
    return not (outcome.check == QualityCheck.FRESHNESS and outcome.result.value is None)


def data_source_evaluate(*, source_id: int, now: datetime | None = None) -> dict[str, str]:
    """Run every check of one source and store the verdicts; returns {check: status}.

    Returns {} when the source is gone. A check that turns "fail" sends
    `data_quality_failed` (inside the transaction) for each one, once per
    transition: a check that stays failing does not repeat it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # The row lock serialises evaluations of one source (an arrival's task and the
        # sweep may run at once), so `since` and the fail transitions are never lost.
        source = DataSource.objects.select_for_update().filter(pk=source_id).first()
        if source is None:
            return {}
        last_at = SourceDelivery.objects.filter(source=source).aggregate(last=Max("at"))["last"]
        field_outcomes, _delivery = _field_checks(source)
        outcomes = [
            _freshness(source, last_at, now),
            _volume(source),
            *field_outcomes,
            _integration(source, now),
            _uptime(source, now),
        ]
        return _store_outcomes(source, outcomes, now)


def _store_outcomes(source: DataSource, outcomes: list[Outcome], now: datetime) -> dict[str, str]:
    previous = {row.kind: row for row in SourceCheck.objects.filter(source=source)}
    failing = []
    for outcome in outcomes:
        result = outcome.result
        row = previous.get(outcome.check)
        if row is None:
            row = SourceCheck(source=source, kind=outcome.check, since=now)
        elif row.status != result.status:
            row.since = now
        # "Never delivered" was a fail that raised nothing; a first delivery that is
        # already stale is then a new failure, not a repeat.
        was_failing = row.status == CheckStatus.FAIL and not (
            row.kind == QualityCheck.FRESHNESS and row.value is None
        )
        row.status, row.value, row.detail = result.status, result.value, result.detail
        row.fields, row.evaluated_at = outcome.fields, now
        row.save()
        if result.status == CheckStatus.FAIL and not was_failing and _escalates(outcome):
            failing.append(row)
    if failing:
        data_quality_failed.send(sender=DataSource, source=source, checks=failing, now=now)
    return {outcome.check: outcome.result.status for outcome in outcomes}


def data_sources_evaluate(*, now: datetime | None = None) -> int:
    """Evaluate every source (the hourly sweep: windows move on without any push)."""
    count = 0
    for source_id in DataSource.objects.order_by("pk").values_list("pk", flat=True):
        data_source_evaluate(source_id=source_id, now=now)
        count += 1
    return count


def _latest_by_source(model, field: str) -> dict[int, datetime]:
    return dict(
        model.objects.order_by()
        .values("source_id")
        .annotate(latest=Max(field))
        .values_list("source_id", "latest")
    )


def data_sources_sweep(*, now: datetime | None = None) -> int:
    """The minute sweep: fully re-evaluate each source whose freshness changed or that got news.

    A source that stops delivering turns from ok to warn to fail without any
    push. A delivery, integration run or reference received after the
    source's last evaluation is evaluated here too: its own task may never
    have been sent (the broker was down). Four queries find the changes,
    whatever the number of sources.
    """
    now = now or timezone.now()
    stored = {
        source_id: (status, evaluated_at)
        for source_id, status, evaluated_at in SourceCheck.objects.filter(
            kind=QualityCheck.FRESHNESS
        ).values_list("source_id", "status", "evaluated_at")
    }
    runs = _latest_by_source(IntegrationRun, "received_at")
    references = _latest_by_source(ReferenceProfile, "created_at")
    changed = []
    sources = DataSource.objects.annotate(
        last_at=Max("deliveries__at"), received_at=Max("deliveries__received_at")
    ).values_list("pk", "last_at", "received_at", "expected_interval_seconds")
    for source_id, last_at, received_at, interval in sources:
        status = quality.freshness(
            last_delivery=last_at, expected_interval=timedelta(seconds=interval), now=now
        ).status
        stored_status, evaluated_at = stored.get(source_id, (None, None))
        news = [at for at in (received_at, runs.get(source_id), references.get(source_id)) if at]
        if stored_status != status or (news and max(news) > evaluated_at):
            changed.append(source_id)
    for source_id in changed:
        data_source_evaluate(source_id=source_id, now=now)
    return len(changed)
