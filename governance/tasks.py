"""Celery tasks of the governance app: thin, idempotent, each one service call."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from core.coalesce import pending_clear
from governance.models import Escalation, Notification
from governance.services import escalations, orphans_notify, webhooks

logger = logging.getLogger(__name__)


@shared_task(name="governance.tasks.evaluate_alerts")
def evaluate_alerts(system_id: int | None = None, metric_ids: list[int] | None = None) -> int:
    """Step the alert rules (all of them from beat; some after a batch was ingested)."""
    if system_id is not None:
        # Before reading anything: a batch that lands from now on enqueues another run.
        pending_clear(evaluate_alerts, system_id)
    return escalations.alerts_evaluate(system_id=system_id, metric_ids=metric_ids)


@shared_task(name="governance.tasks.escalate_due")
def escalate_due() -> int:
    """Raise the level of escalations not acknowledged in time."""
    return escalations.escalations_escalate_due()


@shared_task(name="governance.tasks.notify_escalation")
def notify_escalation(escalation_id: int, level: int) -> int:
    """Tell a level's people about an escalation: in-app inbox and e-mail.

    Idempotent: a redelivered task finds the inbox items it already made and
    sends nothing twice.
    """
    escalation = (
        Escalation.objects.select_related("system", "data_source").filter(pk=escalation_id).first()
    )
    if escalation is None or escalation.level != level:
        return 0
    severity = escalation.get_severity_display()
    title = f"[L{level} {severity}] {escalation.system.name}: {escalation.title}"
    url = reverse("governance:escalation_detail", args=[escalation.pk])
    sent = 0
    for person in escalations.recipients(
        escalation.system, level, data_source=escalation.data_source
    ):
        with transaction.atomic():
            _note, created = Notification.objects.get_or_create(
                user=person,
                escalation=escalation,
                title=title[:200],
                defaults={"body": escalation.details.get("summary", ""), "url": url},
            )
        if created and person.email:
            send_mail(
                subject=title[:200],
                message=f"{escalation.title}\n\n{settings.PORTAL_BASE_URL}{url}",
                from_email=None,
                recipient_list=[person.email],
                fail_silently=False,
            )
        sent += int(created)
    for delivery in webhooks.webhook_deliveries_create(escalation=escalation, level=level):
        deliver_webhook.delay(delivery.pk)
    return sent


@shared_task(name="governance.tasks.notify_deliver_webhook")
def deliver_webhook(delivery_id: int) -> None:
    """Send one webhook delivery if it is due (retries come from the beat sweep)."""
    webhooks.webhook_deliver(delivery_id=delivery_id)


@shared_task(name="governance.tasks.notify_webhooks_due")
def deliver_due_webhooks() -> int:
    """Send every delivery whose next attempt is due (first tries and retries)."""
    due = webhooks.webhook_deliveries_due()
    for delivery_id in due:
        webhooks.webhook_deliver(delivery_id=delivery_id)
    return len(due)


@shared_task(name="governance.tasks.notify_orphans")
def notify_orphans() -> int:
    """Tell the operations directors about systems nobody is accountable for any more."""
    return orphans_notify()
