"""Webhooks: signed deliveries of escalation events, retried with backoff, logged.

Each request carries `X-Portal-Timestamp` (Unix seconds) and
`X-Portal-Signature: sha256=<hex>`, the HMAC-SHA256 of "<timestamp>." followed
by the raw body, keyed with the webhook's secret. docs/webhooks.md has the
receiver's verification recipe. A delivery that does not get a 2xx answer is
retried after 1, 2, 4, 8 and 16 minutes, then marked failed; every attempt's
status and error stay on the delivery, shown in the webhook's log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import ApplicationError
from core.roles import Role, has_role
from governance.audit import audit_record
from governance.models import Escalation, SystemOwnership, Webhook, WebhookDelivery
from registry.models import AISystem

MAX_ATTEMPTS = 6
TIMEOUT_SECONDS = 10
# While one worker sends, the row is leased so that another does not send it too.
LEASE = timedelta(minutes=2)
SIGNATURE_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for a body sent at `timestamp`."""
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float) -> bool:
    """The receiver's check: the signature matches and the timestamp is fresh (5 minutes)."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - sent) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt: 1, 2, 4, 8, 16 minutes."""
    return timedelta(minutes=2 ** (attempts - 1))


def may_manage(system: AISystem, by) -> bool:
    """Directors and the system's owner manage its webhooks."""
    if has_role(by, Role.OPERATIONS_DIRECTOR):
        return True
    return SystemOwnership.objects.filter(system=system, owner_id=getattr(by, "pk", None)).exists()


def webhook_create(*, system: AISystem, by, url: str) -> tuple[Webhook, str]:
    """Add a webhook; returns it and its signing secret (shown once in the UI)."""
    if not may_manage(system, by):
        raise ApplicationError(
            gettext("Only directors and the system's owner manage webhooks."), status=403
        )
    url = (url or "").strip()
    if not url.startswith(("https://", "http://")):
        raise ApplicationError(
            gettext("The URL must start with https:// (or http://)."), field="url"
        )
    secret = secrets.token_hex(32)
    with transaction.atomic():
        webhook = Webhook.objects.create(system=system, url=url[:500], secret=secret, created_by=by)
        audit_record(
            actor=by,
            action="webhook.create",
            obj=webhook,
            system=system,
            after={"url": webhook.url},
        )
    return webhook, secret


def webhook_set_enabled(*, webhook: Webhook, by, enabled: bool) -> Webhook:
    """Pause or resume a webhook (its pending deliveries wait while it is paused)."""
    if not may_manage(webhook.system, by):
        raise ApplicationError(
            gettext("Only directors and the system's owner manage webhooks."), status=403
        )
    with transaction.atomic():
        Webhook.objects.filter(pk=webhook.pk).update(enabled=enabled)
        webhook.refresh_from_db()
        audit_record(
            actor=by,
            action="webhook.enable" if enabled else "webhook.disable",
            obj=webhook,
            system=webhook.system,
            after={"enabled": enabled},
        )
    return webhook


def escalation_payload(escalation: Escalation, event: str) -> dict:
    """What a webhook receives about an escalation."""
    return {
        "event": event,
        "escalation": {
            "id": escalation.pk,
            "system": escalation.system.slug,
            "title": escalation.title,
            "severity": escalation.severity,
            "source": escalation.source,
            "state": escalation.state,
            "level": escalation.level,
            "occurrences": escalation.occurrences,
            "dedup_key": escalation.dedup_key,
            "first_seen": escalation.first_seen.isoformat(),
            "last_seen": escalation.last_seen.isoformat(),
        },
    }


def webhook_deliveries_create(*, escalation: Escalation, level: int) -> list[WebhookDelivery]:
    """One pending delivery per enabled webhook of the system (idempotent per level)."""
    event = "escalation.opened" if level == 1 else "escalation.escalated"
    payload = escalation_payload(escalation, event)
    created = []
    now = timezone.now()
    for webhook in Webhook.objects.filter(system=escalation.system, enabled=True):
        try:
            with transaction.atomic():
                created.append(
                    WebhookDelivery.objects.create(
                        webhook=webhook,
                        event=event,
                        key=f"escalation:{escalation.pk}:level:{level}",
                        payload=payload,
                        next_attempt_at=now,
                    )
                )
        except IntegrityError:
            continue  # made by an earlier run of the same notification
    return created


def webhook_deliver(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """Send one due delivery once; record the outcome and schedule a retry if it failed.

    Returns None when the delivery is not due, already done, or leased by
    another worker (a compare-and-set on next_attempt_at decides).
    """
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None
    if not delivery.webhook.enabled or delivery.next_attempt_at > now:
        return None
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at=delivery.next_attempt_at,
    ).update(next_attempt_at=now + LEASE)
    if claimed != 1:
        return None
    code, error = _post(delivery)
    delivery.attempts += 1
    delivery.last_status_code = code
    delivery.last_error = error
    if code is not None and 200 <= code < 300:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.next_attempt_at = None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
    delivery.save()
    return delivery


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """POST the signed payload; the HTTP status (None if none came) and an error text."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(timezone.now().timestamp())
    request = urllib.request.Request(
        delivery.webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "ai-governance-portal/1 (webhook)",
            "X-Portal-Event": delivery.event,
            "X-Portal-Delivery": str(delivery.pk),
            "X-Portal-Timestamp": str(timestamp),
            "X-Portal-Signature": sign(delivery.webhook.secret, timestamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"[:500]
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]


def webhook_deliveries_due(*, now: datetime | None = None) -> list[int]:
    """Ids of pending deliveries whose next attempt is due."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
            webhook__enabled=True,
        ).values_list("pk", flat=True)[:500]
    )
