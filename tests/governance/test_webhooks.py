"""Webhooks: signed deliveries to a real HTTP server, verified with the documented recipe."""

import http.server
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from core.errors import ApplicationError
from governance import services
from governance.models import Webhook, WebhookDelivery
from governance.services import escalations, webhooks
from tests.registry.factories import AISystemFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verify():
    """The verification function exactly as docs/webhooks.md prints it."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)
    namespace: dict = {}
    exec(code, namespace)
    return namespace["verify_portal_signature"]


class Receiver:
    """A real HTTP server on 127.0.0.1 that records requests and answers a set status."""

    def __init__(self, status=200):
        self.status = status
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((dict(self.headers), body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def system(director, owner):
    system = AISystemFactory(slug="loan-classifier", name="Loan classifier")
    services.ownership_assign(system=system, by=director, owner=owner, budget_authority="x")
    return system


def test_a_signature_verifies_only_for_the_same_secret_body_and_a_fresh_time():
    body = b'{"event":"escalation.opened"}'
    signature = webhooks.sign("s3cret", 1_764_064_800, body)
    now = 1_764_064_800 + 10
    assert webhooks.verify("s3cret", "1764064800", body, signature, now=now)
    assert not webhooks.verify("other", "1764064800", body, signature, now=now)
    assert not webhooks.verify("s3cret", "1764064800", body + b" ", signature, now=now)
    assert not webhooks.verify("s3cret", "1764064800", body, signature, now=now + 301)
    assert not webhooks.verify("s3cret", "soon", body, signature, now=now)


def test_an_escalation_is_delivered_signed_and_the_documented_recipe_verifies_it(
    system, owner, receiver, django_capture_on_commit_callbacks
):
    _hook, secret = webhooks.webhook_create(system=system, by=owner, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        escalation = escalations.escalation_raise(
            system=system,
            source="pipeline_report",
            severity="critical",
            title="Feed stopped",
            dedup_key="report:feed",
        )
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    headers, body = receiver.requests[0]
    assert headers["X-Portal-Event"] == "escalation.opened"
    assert b'"id":%d' % escalation.pk in body
    verify = documented_verify()
    assert verify(secret, headers, body)
    assert not verify("wrong-secret", headers, body)
    assert not verify(secret, headers, body.replace(b"critical", b"warning"))


def test_a_failing_receiver_is_retried_with_backoff_then_marked_failed(system, owner):
    failing = Receiver(status=503)
    try:
        hook, _ = webhooks.webhook_create(system=system, by=owner, url=failing.url)
        with time_machine.travel(T0, tick=False) as clock:
            escalation = escalations.escalation_raise(
                system=system, source="manual", severity="warning", title="x", dedup_key="k"
            )
            delivery = webhooks.webhook_deliveries_create(escalation=escalation, level=1)[0]
            waits = []
            for _attempt in range(6):
                result = webhooks.webhook_deliver(delivery_id=delivery.pk)
                assert result is not None
                if result.next_attempt_at:
                    waits.append(
                        result.next_attempt_at - clock.time().replace(tzinfo=UTC)
                        if False
                        else result.next_attempt_at - datetime.now(UTC)
                    )
                    # Not due yet: nothing is sent before the backoff has passed.
                    assert webhooks.webhook_deliver(delivery_id=delivery.pk) is None
                    clock.move_to(result.next_attempt_at)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 6, 503)
        assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16)]
        assert len(failing.requests) == 6
        assert hook.deliveries.count() == 1
    finally:
        failing.close()


def test_a_redelivered_notification_makes_no_second_delivery(system, owner, receiver):
    webhooks.webhook_create(system=system, by=owner, url=receiver.url)
    escalation = escalations.escalation_raise(
        system=system, source="manual", severity="warning", title="x", dedup_key="k"
    )
    webhooks.webhook_deliveries_create(escalation=escalation, level=1)
    webhooks.webhook_deliveries_create(escalation=escalation, level=1)
    assert WebhookDelivery.objects.count() == 1


def test_a_paused_webhook_gets_nothing(system, owner, receiver):
    hook, _ = webhooks.webhook_create(system=system, by=owner, url=receiver.url)
    webhooks.webhook_set_enabled(webhook=hook, by=owner, enabled=False)
    escalation = escalations.escalation_raise(
        system=system, source="manual", severity="warning", title="x", dedup_key="k"
    )
    assert webhooks.webhook_deliveries_create(escalation=escalation, level=1) == []


def test_only_directors_and_the_owner_add_webhooks(system, viewer, approver):
    for person in (viewer, approver):
        with pytest.raises(ApplicationError) as error:
            webhooks.webhook_create(system=system, by=person, url="https://example.com/x")
        assert error.value.status == 403
    assert not Webhook.objects.exists()


def test_a_url_must_be_http(system, owner):
    with pytest.raises(ApplicationError, match="https://"):
        webhooks.webhook_create(system=system, by=owner, url="ftp://example.com")
    assert not Webhook.objects.exists()


def test_the_owner_adds_a_webhook_in_the_browser_and_sees_the_secret_once(client, system, owner):
    client.force_login(owner)
    response = client.post(
        "/systems/loan-classifier/webhooks/", {"url": "https://hooks.example.com/p"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = Webhook.objects.get().secret
    assert secret in response.content.decode()
    assert secret not in client.get("/systems/loan-classifier/webhooks/").content.decode()
    client.post(f"/systems/loan-classifier/webhooks/{Webhook.objects.get().pk}/toggle/")
    assert Webhook.objects.get().enabled is False


def test_a_bad_url_is_refused_in_place(client, system, owner):
    client.force_login(owner)
    response = client.post("/systems/loan-classifier/webhooks/", {"url": "not a url"})
    assert response.status_code == 400
    assert not Webhook.objects.exists()


def test_a_viewer_neither_sees_nor_uses_webhooks(client, system, viewer):
    client.force_login(viewer)
    assert "/webhooks/" not in client.get("/systems/loan-classifier/").content.decode()
    assert client.get("/systems/loan-classifier/webhooks/").status_code == 403
    assert (
        client.post("/systems/loan-classifier/webhooks/", {"url": "https://x.example"}).status_code
        == 403
    )
    assert not Webhook.objects.exists()


def test_the_delivery_log_is_paged_and_an_empty_one_says_what_will_appear(client, system, owner):
    client.force_login(owner)
    empty = client.get("/systems/loan-classifier/webhooks/").content.decode()
    assert "Nothing sent yet. Add a webhook above" in empty

    hook, _ = webhooks.webhook_create(system=system, by=owner, url="https://hooks.example.com/p")
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=hook, event="escalation.raised", key=f"escalation:{n}", payload={})
        for n in range(26)
    )
    first = client.get("/systems/loan-classifier/webhooks/").content.decode()
    assert first.count("<code>escalation.raised</code>") == 25
    assert "Deliveries, newest first, showing 1 to 25" in first
    assert 'href="?page=2#log-title"' in first
    second = client.get("/systems/loan-classifier/webhooks/?page=2").content.decode()
    assert second.count("<code>escalation.raised</code>") == 1
