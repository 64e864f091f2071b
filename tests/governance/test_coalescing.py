"""Alert evaluations after ingestion are coalesced per system (core/coalesce.py).

A batch enqueues `evaluate_alerts` unless one for its system that covers its
metrics is queued and not yet started; that one will read the batch too. The
tasks go to the real Redis broker and stay there (tests/queued.py); a test runs
the oldest one in its own process when the evaluation has to have started.
Omar's pipelines push for the loan classifier (output quality and latency) and
the fraud screener (output quality). The clock is frozen.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from kombu.exceptions import OperationalError

from core import resilience
from core.coalesce import PENDING_SECONDS, pending_key
from governance.models import AlertRuleState, Escalation
from governance.receivers import evaluate_after_ingest
from governance.tasks import evaluate_alerts
from registry.services import api_token_create
from tests.integration.fault_services import free_port
from tests.queued import queueing
from tests.registry.factories import AISystemFactory, MetricSpecFactory

pytestmark = [pytest.mark.django_db, pytest.mark.redis]
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
EVALUATE = "governance.tasks.evaluate_alerts"
LOCAL_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def nowhere() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def loan():
    system = AISystemFactory(slug="loan-classifier", name="Loan classifier")
    MetricSpecFactory(system=system, key="output_quality", pending_seconds=0)
    MetricSpecFactory(
        system=system,
        key="latency_ms",
        kind="latency",
        direction="lower_is_better",
        warning=800,
        critical=1500,
    )
    return system


@pytest.fixture
def fraud():
    system = AISystemFactory(slug="fraud-screener", name="Fraud screener")
    MetricSpecFactory(system=system, key="output_quality")
    return system


@pytest.fixture
def queued():
    with queueing() as queues:
        yield queues


def metric_ids(system, *keys) -> list[int]:
    specs = system.metric_specs.all()
    return sorted(spec.pk for spec in specs if not keys or spec.key in keys)


@pytest.fixture
def push(client, django_capture_on_commit_callbacks):
    """POST one batch for a system (a point per metric key, a minute apart) and commit it."""
    tokens: dict[int, str] = {}
    minutes = itertools.count()

    def push(system, *keys, value=0.95):
        if system.pk not in tokens:
            tokens[system.pk] = api_token_create(by=None, name="pipeline", system=system)[1]
        at = T0 - timedelta(minutes=30) + timedelta(minutes=next(minutes))
        stamp = at.isoformat().replace("+00:00", "Z")
        points = [{"metric": key, "value": value, "at": stamp} for key in keys]
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/api/v1/systems/{system.slug}/metrics/",
                json.dumps({"points": points}),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {tokens[system.pk]}",
            )
        assert response.status_code == 201, response.content

    return push


def test_three_batches_while_the_evaluation_is_pending_enqueue_one(loan, push, queued):
    for _ in range(3):
        push(loan, "output_quality", "latency_ms")
    assert queued.tasks(EVALUATE) == [(EVALUATE, [loan.pk, metric_ids(loan)])]


def test_a_batch_after_the_evaluation_started_enqueues_another(loan, push, queued):
    push(loan, "output_quality", "latency_ms")
    assert queued.run_next(EVALUATE) == 2  # both metrics evaluated
    assert AlertRuleState.objects.filter(metric__system=loan).count() == 4
    push(loan, "output_quality", "latency_ms")
    push(loan, "output_quality", "latency_ms")
    assert queued.tasks(EVALUATE) == [(EVALUATE, [loan.pk, metric_ids(loan)])]


def test_the_evaluation_clears_its_mark_before_it_reads(loan, push, queued):
    push(loan, "output_quality")
    key = pending_key(evaluate_alerts, loan.pk)
    assert cache.get(key) == metric_ids(loan, "output_quality")
    marks = []

    def first_read_sees(execute, sql, params, many, context):
        marks.append(cache.get(key))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(first_read_sees):
        queued.run_next(EVALUATE)
    assert marks[0] is None  # a batch committed from then on enqueues another run


def test_two_systems_are_coalesced_apart(loan, fraud, push, queued):
    push(loan, "output_quality")
    push(fraud, "output_quality")
    push(loan, "output_quality")
    push(fraud, "output_quality")
    loan_ids, fraud_ids = metric_ids(loan, "output_quality"), metric_ids(fraud)
    assert queued.tasks(EVALUATE) == [
        (EVALUATE, [loan.pk, loan_ids]),
        (EVALUATE, [fraud.pk, fraud_ids]),
    ]
    queued.run_next(EVALUATE)  # the loan classifier's starts; the fraud screener's still waits
    push(fraud, "output_quality")
    push(loan, "output_quality")
    assert queued.tasks(EVALUATE) == [
        (EVALUATE, [fraud.pk, fraud_ids]),
        (EVALUATE, [loan.pk, loan_ids]),
    ]


def test_a_metric_the_pending_evaluation_does_not_cover_gets_its_own(loan, push, queued):
    push(loan, "output_quality")
    push(loan, "latency_ms")
    push(loan, "output_quality")  # covered by the first
    assert queued.tasks(EVALUATE) == [
        (EVALUATE, [loan.pk, metric_ids(loan, "output_quality")]),
        (EVALUATE, [loan.pk, metric_ids(loan, "latency_ms")]),
    ]


def test_the_mark_expires_in_redis(loan, push, queued):
    push(loan, "output_quality")
    client = redis.Redis.from_url(settings.REDIS_URL)
    ttl = client.ttl(cache.make_key(pending_key(evaluate_alerts, loan.pk)))
    assert 0 < ttl <= PENDING_SECONDS


def test_a_lost_task_holds_evaluations_back_only_until_its_mark_expires(loan, push, queued, clock):
    with override_settings(CACHES=LOCAL_CACHE):  # its expiry follows the frozen clock
        push(loan, "output_quality")
        queued.client.delete("gates")  # the message is lost; its mark stays
        clock.shift(PENDING_SECONDS - 1)
        push(loan, "output_quality")
        assert queued.tasks(EVALUATE) == []
        clock.shift(2)
        push(loan, "output_quality")
    assert queued.tasks(EVALUATE) == [(EVALUATE, [loan.pk, metric_ids(loan, "output_quality")])]


def test_with_the_cache_away_every_batch_still_enqueues(loan, push, queued):
    away = {
        "default": {
            "BACKEND": "core.resilience.DegradingRedisCache",
            "LOCATION": nowhere(),
            "RETRY_SECONDS": 0,
        }
    }
    with override_settings(CACHES=away):
        for _ in range(3):
            push(loan, "output_quality")
    assert len(queued.tasks(EVALUATE)) == 3


def test_a_cache_that_raises_still_enqueues(loan, queued):
    failing = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": nowhere()}
    }
    ids = metric_ids(loan)
    with override_settings(CACHES=failing):
        evaluate_after_ingest(None, system_id=loan.pk, metric_ids=ids)
        evaluate_after_ingest(None, system_id=loan.pk, metric_ids=ids)
        # ...and the task itself carries on when it cannot clear its mark.
        assert queued.run_next(EVALUATE) == 2
    assert queued.tasks(EVALUATE) == [(EVALUATE, [loan.pk, ids])]


def test_a_batch_sent_while_the_broker_is_away_leaves_no_mark(loan, push, queued):
    resilience.broker_outage.failed(OperationalError("connection refused"))
    push(loan, "output_quality")
    assert queued.tasks(EVALUATE) == []
    assert cache.get(pending_key(evaluate_alerts, loan.pk)) is None
    resilience.broker_outage.reset()  # it is back: the next batch is evaluated
    push(loan, "output_quality")
    assert len(queued.tasks(EVALUATE)) == 1


def test_in_eager_mode_every_batch_is_evaluated_at_once(loan, push):
    push(loan, "output_quality")
    assert AlertRuleState.objects.get(kind="threshold", metric__key="output_quality").status == (
        "inactive"
    )
    push(loan, "output_quality", value=0.5)
    assert Escalation.objects.get().severity == "critical"
