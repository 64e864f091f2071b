"""Writes of the registry about systems: versions, metric specs, metric batches, tokens."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import ApplicationError
from registry.choices import Aggregation, Direction, Stage, TokenKind, VersionStatus
from registry.models import AISystem, ApiToken, MetricSpec, ModelVersion
from registry.signals import audit_event, metrics_ingested
from registry.validation import TooManyPoints, validate_batch
from registry.writer import StoreResult, store_points

TOKEN_PREFIX = "agp_"


def _audit(actor, action: str, obj, *, before=None, after=None, reason: str = "") -> None:
    audit_event.send(
        sender=type(obj),
        actor=actor,
        action=action,
        obj=obj,
        before=before or {},
        after=after or {},
        reason=reason,
    )


# --- Systems --------------------------------------------------------------------


SYSTEM_FIELDS = ("name", "purpose", "business_unit", "risk_tier")


def ai_system_create(*, by, slug: str, **fields: Any) -> AISystem:
    """Register an AI system; it starts in stage 1 with no deployed version."""
    with transaction.atomic():
        if AISystem.objects.filter(slug=slug).exists():
            raise ApplicationError(
                gettext("A system with slug %(slug)s exists.") % {"slug": f"{slug!r}"}, field="slug"
            )
        system = AISystem.objects.create(slug=slug, **fields)
        _audit(by, "system.create", system, after={"slug": slug, **fields})
    return system


def ai_system_update(*, system: AISystem, by, **changes: Any) -> AISystem:
    """Change a system's descriptive fields (not its stage or deployed version)."""
    unknown = set(changes) - set(SYSTEM_FIELDS)
    if unknown:
        raise ApplicationError(
            gettext("Cannot change %(unknown)s here.") % {"unknown": ", ".join(sorted(unknown))}
        )
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        before = {field: getattr(locked, field) for field in changes}
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save(update_fields=list(changes))
        _audit(by, "system.update", locked, before=before, after=changes)
    return locked


def ai_system_stage_set(*, system: AISystem, by, stage: str, reason: str = "") -> AISystem:
    """Move a system to another stage; the rollout app checks the exit criteria before calling."""
    if stage not in Stage.values:
        raise ApplicationError(
            gettext("%(stage)s is not a stage.") % {"stage": f"{stage!r}"}, field="stage"
        )
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        before = locked.stage
        if before == stage:
            raise ApplicationError(gettext("The system is in that stage already."), status=409)
        locked.stage = stage
        locked.save(update_fields=["stage"])
        _audit(
            by,
            "system.stage",
            locked,
            before={"stage": before},
            after={"stage": stage},
            reason=reason,
        )
    return locked


# --- Model versions ---------------------------------------------------------------


def model_version_register(*, system: AISystem, by, version: str, **fields: Any) -> ModelVersion:
    """Register a candidate model version and fix its content hash."""
    with transaction.atomic():
        model_version = ModelVersion(system=system, version=version, **fields)
        model_version.registered_by = by if getattr(by, "pk", None) else None
        model_version.content_hash = model_version.compute_content_hash()
        try:
            with transaction.atomic():
                model_version.save()
        except IntegrityError:
            raise ApplicationError(
                gettext("Version %(version)s is already registered for %(slug)s.")
                % {"version": f"{version!r}", "slug": system.slug},
                field="version",
            ) from None
        _audit(
            by,
            "version.register",
            model_version,
            after={"version": version, "content_hash": model_version.content_hash},
        )
    return model_version


def model_version_update(*, model_version: ModelVersion, by, **changes: Any) -> ModelVersion:
    """Change a version's description; a change of URI or parameters changes its hash.

    Approvals bound to the old hash are voided by the governance app, which
    listens for the `version.rehash` audit event.
    """
    allowed = {
        "artifact_uri",
        "parameters",
        "notes",
        "training_source",
        "training_rows",
        "training_labelled_share",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ApplicationError(
            gettext("Cannot change %(unknown)s of a version.")
            % {"unknown": ", ".join(sorted(unknown))}
        )
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
        if locked.status == VersionStatus.RETIRED:
            raise ApplicationError(gettext("A retired version cannot be changed."), status=409)
        old_hash = locked.content_hash
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.content_hash = locked.compute_content_hash()
        locked.save()
        action = "version.rehash" if locked.content_hash != old_hash else "version.update"
        _audit(
            by,
            action,
            locked,
            before={"content_hash": old_hash},
            after={"content_hash": locked.content_hash, **_jsonable(changes)},
        )
    return locked


def model_version_deploy(*, model_version: ModelVersion, by, reason: str = "") -> ModelVersion:
    """Make a version the system's deployed one (a completed rollout); the previous one retires."""
    with transaction.atomic():
        system = AISystem.objects.select_for_update().get(pk=model_version.system_id)
        locked = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
        if locked.status == VersionStatus.RETIRED:
            raise ApplicationError(gettext("A retired version cannot be deployed."), status=409)
        previous = system.deployed_version
        if previous is not None and previous.pk != locked.pk:
            ModelVersion.objects.filter(pk=previous.pk).update(status=VersionStatus.RETIRED)
        locked.status = VersionStatus.DEPLOYED
        locked.deployed_at = timezone.now()
        locked.save(update_fields=["status", "deployed_at"])
        system.deployed_version = locked
        system.save(update_fields=["deployed_version"])
        _audit(
            by,
            "version.deploy",
            locked,
            before={"deployed": previous.version if previous else None},
            after={"deployed": locked.version},
            reason=reason,
        )
    return locked


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=str))


# --- Metric specs -------------------------------------------------------------------


def _check_thresholds(direction: str, warning: float, critical: float) -> None:
    if direction == Direction.HIGHER_IS_BETTER and critical > warning:
        raise ApplicationError(
            gettext(
                "When higher is better, the critical threshold must not be above the warning one."
            ),
            field="critical",
        )
    if direction == Direction.LOWER_IS_BETTER and critical < warning:
        raise ApplicationError(
            gettext(
                "When lower is better, the critical threshold must not be below the warning one."
            ),
            field="critical",
        )


def metric_spec_create(*, system: AISystem, by, key: str, **fields: Any) -> MetricSpec:
    """Declare a metric the system reports, with its thresholds."""
    _check_thresholds(fields["direction"], fields["warning"], fields["critical"])
    with transaction.atomic():
        if MetricSpec.objects.filter(system=system, key=key).exists():
            raise ApplicationError(
                gettext("Metric %(key)s is already declared.") % {"key": f"{key!r}"}, field="key"
            )
        spec = MetricSpec.objects.create(system=system, key=key, **fields)
        _audit(by, "metric_spec.create", spec, after={"key": key, **fields})
    return spec


# From stage 3 on, a threshold is a governed parameter: it changes only through an
# approved change request (the governance app applies it, naming the request).
GOVERNED_STAGES = frozenset({Stage.OWNERSHIP_GOVERNANCE, Stage.STAGED_ROLLOUT, Stage.PRODUCTION})
SPEC_FIELDS = frozenset(
    {
        "name",
        "kind",
        "unit",
        "direction",
        "warning",
        "critical",
        "aggregation",
        "required",
        "expected_interval_seconds",
        "pending_seconds",
    }
)


def metric_spec_update(
    *, spec: MetricSpec, by, change_request_id: int | None = None, **changes: Any
) -> MetricSpec:
    """Change a metric's thresholds or settings (its key is fixed: points refer to it).

    For a system in stage 3 or later the change must come from an approved
    change request (`change_request_id`), which the governance app passes.
    """
    if "key" in changes and changes["key"] != spec.key:
        raise ApplicationError(
            gettext("A metric's key cannot change; declare a new metric."), field="key"
        )
    changes.pop("key", None)
    unknown = set(changes) - SPEC_FIELDS
    if unknown:
        raise ApplicationError(
            gettext("Cannot change %(unknown)s of a metric.")
            % {"unknown": ", ".join(sorted(unknown))}
        )
    with transaction.atomic():
        locked = MetricSpec.objects.select_for_update().select_related("system").get(pk=spec.pk)
        if locked.system.stage in GOVERNED_STAGES and change_request_id is None:
            raise ApplicationError(
                gettext(
                    "This system is in stage 3 or later: its metric settings change only "
                    "through an approved change request. Open a parameter change naming "
                    "this metric."
                ),
                status=409,
                code="change_request_required",
            )
        before = {field: getattr(locked, field) for field in changes}
        for field, value in changes.items():
            setattr(locked, field, value)
        _check_thresholds(locked.direction, locked.warning, locked.critical)
        locked.save()
        _audit(
            by,
            "metric_spec.update",
            locked,
            before=before,
            after=changes,
            reason=f"change request {change_request_id}" if change_request_id else "",
        )
    return locked


# --- Ingestion --------------------------------------------------------------------------


def metric_batch_ingest(*, system: AISystem, body: Any, by) -> StoreResult:
    """Validate and store one batch of points (docs/api.md); all or nothing.

    Raises ApplicationError (400) listing per-point errors, or (413) for more
    than 10,000 points; nothing is written unless every point is valid.
    """
    specs = list(MetricSpec.objects.filter(system=system).values_list("key", "id", "aggregation"))
    metric_ids = {key: pk for key, pk, _ in specs}
    now = timezone.now()
    try:
        points, version_name, errors = validate_batch(
            body,
            metric_ids=metric_ids,
            now=now,
            retention=timedelta(days=settings.METRIC_RETENTION_DAYS),
        )
    except TooManyPoints as exc:
        raise ApplicationError(
            gettext("A batch holds at most 10,000 points; this one has %(args)s.")
            % {"args": exc.args[0]},
            status=413,
            field="points",
            code="too_large",
        ) from None
    version = None
    if version_name is not None:
        version = ModelVersion.objects.filter(system=system, version=version_name).first()
        if version is None:
            errors.insert(
                0,
                {
                    "index": None,
                    "field": "model_version",
                    "message": f"{version_name[:64]!r} is not a registered version of "
                    f"{system.slug}",
                    "code": "invalid",
                },
            )
    if errors:
        raise ApplicationError(errors[0]["message"], errors=errors[:100])

    sketch_ids = frozenset(pk for _, pk, agg in specs if agg == Aggregation.P95)
    with transaction.atomic():
        result = store_points(
            system_id=system.pk,
            version_id=version.pk if version else None,
            points=points,
            received_at=now,
            sketch_metric_ids=sketch_ids,
        )
        touched = sorted({point.metric_id for point in points})
        transaction.on_commit(
            lambda: metrics_ingested.send(
                sender=AISystem,
                system_id=system.pk,
                version_id=version.pk if version else None,
                metric_ids=touched,
            )
        )
    return result


# --- Tokens -------------------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(
    *, by, name: str, system: AISystem | None = None, data_source=None, user=None
) -> tuple[ApiToken, str]:
    """Create a pipeline token (for `system` or `data_source`) or a personal one (for `user`).

    Returns the token row and the token itself, which is shown once and never stored.
    """
    if sum(owner is not None for owner in (system, data_source, user)) != 1:
        raise ApplicationError(
            gettext("A token belongs to exactly one system, one data source or one person.")
        )
    name = (name or "").strip()
    if not name:
        raise ApplicationError(
            gettext("Give the token a name, e.g. the pipeline that uses it."), field="name"
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            kind=TokenKind.PIPELINE
            if system
            else TokenKind.SOURCE
            if data_source
            else TokenKind.PERSONAL,
            name=name[:120],
            system=system,
            data_source=data_source,
            user=user,
            prefix=secret[:12],
            token_hash=_hash_token(secret),
            rate_limit_per_minute=settings.API_TOKEN_RATE_LIMIT_PER_MINUTE,
            created_by=by if getattr(by, "pk", None) else None,
        )
        _audit(by, "token.create", token, after={"name": token.name, "prefix": token.prefix})
    return token, secret


def api_token_revoke(*, token: ApiToken, by) -> ApiToken:
    """Revoke a token at once; revoking twice is refused."""
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if updated != 1:
            raise ApplicationError(gettext("This token is already revoked."), status=409)
        token.refresh_from_db()
        _audit(by, "token.revoke", token, after={"prefix": token.prefix})
        # The tombstone, not a delete: a request that read the row before this commit
        # cannot put it back into the cache (it only adds a missing key).
        key = _token_cache_key(token.token_hash)
        cache.delete(key)
        transaction.on_commit(lambda: cache.set(key, REVOKED, TOKEN_CACHE_SECONDS * 2))
    return token


# Pipeline tokens are looked up on every push and poll: their rows are cached by hash
# (never a person's token, whose owner may be deactivated at any moment).
TOKEN_CACHE_SECONDS = 60
REVOKED = "revoked"


def _token_cache_key(token_hash: str) -> str:
    return f"api-token:v1:{token_hash}"


def api_token_authenticate(secret: str) -> ApiToken | None:
    """The token row for a secret (revoked ones included), or None; records its use."""
    token_hash = _hash_token(secret)
    key = _token_cache_key(token_hash)
    token = cache.get(key)
    cached = isinstance(token, ApiToken)
    if not cached:
        token = (
            ApiToken.objects.select_related("system", "data_source", "user")
            .filter(token_hash=token_hash)
            .first()
        )
    if token is None or token.revoked_at is not None:
        return token
    now = timezone.now()
    # At most one write a minute per token, not one per request.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
        if cached:
            cache.set(key, token, TOKEN_CACHE_SECONDS)
    if not cached and token.kind != TokenKind.PERSONAL:
        cache.add(key, token, TOKEN_CACHE_SECONDS)
    return token
