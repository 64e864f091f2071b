"""Writes of the evidence pack: requesting one, and building it (in Celery).

A request is a row (pending) and an audit event, committed together; the build
runs after the commit in a worker and moves the row to ready (bundle, report,
SHA-256) or failed (the error), auditing that too, so the trail records the
hash of every pack handed out.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext
from kombu.exceptions import OperationalError

from core.errors import ApplicationError
from core.roles import Role
from governance.audit import audit_record
from registry.models import AISystem
from registry.permissions import has_any_role, is_pipeline
from rollout.evidence import bundle_sha256, evidence_bundle, evidence_html
from rollout.models import EvidencePack

logger = logging.getLogger(__name__)

# DOMAIN.md: the viewer/auditor "exports evidence"; directors and owners answer for it.
EVIDENCE_ROLES = (Role.OPERATIONS_DIRECTOR, Role.SYSTEM_OWNER, Role.VIEWER)
ERROR_LENGTH = 2000
BUILD_QUEUE = "default"


def can_request_evidence(user) -> bool:
    """Build a pack: operations directors, system owners and viewers; never a pipeline."""
    return not is_pipeline(user) and has_any_role(user, EVIDENCE_ROLES)


def _enqueue_build(pack_id: int) -> None:
    from rollout.tasks import build_evidence_pack  # the task imports this module

    def send() -> None:
        try:
            # Not "gates" (where rollout.tasks.* are routed): no checkpoint waits behind a report.
            build_evidence_pack.apply_async((pack_id,), queue=BUILD_QUEUE)
        except OperationalError:
            # No sweep builds forgotten packs: say so on the pack rather than leave it pending.
            logger.warning("could not enqueue evidence pack %s", pack_id, exc_info=True)
            EvidencePack.objects.filter(pk=pack_id, status=EvidencePack.Status.PENDING).update(
                status=EvidencePack.Status.FAILED,
                finished_at=timezone.now(),
                error="The build could not be queued (the task broker is unavailable). "
                "Request a new pack.",
            )

    transaction.on_commit(send)


def _language(code: str | None) -> str:
    """One of the portal's languages: `code`, or its base language, or the default."""
    known = {language for language, _name in settings.LANGUAGES}
    for candidate in (code, (code or "").split("-")[0]):
        if candidate in known:
            return candidate
    return settings.LANGUAGE_CODE


def evidence_pack_request(
    *, system: AISystem, by, language: str | None = None, now: datetime | None = None
) -> EvidencePack:
    """Record a request for a system's evidence pack and queue its build after the commit.

    `language` (the requester's) is the language of the report; the default otherwise.
    """
    if not can_request_evidence(by):
        raise ApplicationError(
            gettext("Only operations directors, system owners and viewers build evidence packs."),
            status=403,
        )
    now = now or timezone.now()
    with transaction.atomic():
        pack = EvidencePack.objects.create(
            system=system, requested_by=by, requested_at=now, language=_language(language)
        )
        audit_record(
            actor=by,
            action="evidence.request",
            obj=pack,
            system=system,
            after={"status": pack.status},
        )
        _enqueue_build(pack.pk)
    return pack


def _failure(exc: Exception) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message[:ERROR_LENGTH]
    return f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]


def evidence_pack_build(*, pack_id: int, now: datetime | None = None) -> str:
    """Build a pending pack: ready with its bundle, report and hash, or failed with the error.

    Returns the pack's status ("gone" when the row no longer exists). Idempotent:
    a pack that is no longer pending is left as it is. The row stays locked
    while it builds, so a redelivered task waits and then finds it finished.
    """
    with transaction.atomic():
        pack = (
            EvidencePack.objects.select_for_update()
            .select_related("system")
            .filter(pk=pack_id)
            .first()
        )
        if pack is None:
            return "gone"
        if pack.status != EvidencePack.Status.PENDING:
            return pack.status
        now = now or timezone.now()
        try:
            # A savepoint: a failed query must not poison the transaction that records the failure.
            with transaction.atomic(), translation.override(_language(pack.language)):
                bundle = evidence_bundle(pack.system, now=now)
                html = evidence_html(bundle)
        except Exception as exc:  # every failure is this pack's: record it, never retry blindly
            logger.exception("evidence pack %s failed", pack_id)
            pack.status, pack.error = EvidencePack.Status.FAILED, _failure(exc)
            pack.finished_at = timezone.now()
            pack.save(update_fields=["status", "error", "finished_at"])
            audit_record(
                actor=None,
                action="evidence.fail",
                obj=pack,
                system=pack.system,
                before={"status": EvidencePack.Status.PENDING},
                after={"status": pack.status, "error": pack.error},
            )
            return pack.status
        pack.bundle, pack.html, pack.sha256 = bundle, html, bundle_sha256(bundle)
        pack.status, pack.finished_at = EvidencePack.Status.READY, timezone.now()
        pack.save(update_fields=["bundle", "html", "sha256", "status", "finished_at"])
        audit_record(
            actor=None,
            action="evidence.build",
            obj=pack,
            system=pack.system,
            before={"status": EvidencePack.Status.PENDING},
            after={
                "status": pack.status,
                "sha256": pack.sha256,
                "audit_head_hash": bundle["audit_chain"]["head_hash"],
            },
        )
    return pack.status
