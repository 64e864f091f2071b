"""Checkpoint evaluations after ingestion are coalesced per rollout (core/coalesce.py).

A batch for a running candidate enqueues `evaluate_rollout` unless one for that
rollout is queued and not yet started; that one will read the batch too. The
tasks go to the real Redis broker and stay there (tests/queued.py). Dana runs
the rollouts of 2.0.0 on the loan classifier and on credit limits, both Stage 4
systems owned by Omar (tests/rollout/test_rollouts.py); the clock is frozen.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from core.coalesce import PENDING_SECONDS, pending_key
from registry.services import api_token_create
from rollout.services import rollout_start
from rollout.tasks import evaluate_rollout
from tests.integration.fault_services import free_port
from tests.queued import queueing
from tests.rollout.test_rollouts import (
    NOW,
    approved_version,
    current,
    iso,
    plan,
    stage_4_system,
)

pytestmark = [pytest.mark.django_db, pytest.mark.redis]
EVALUATE = "rollout.tasks.evaluate_rollout"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW + timedelta(minutes=10), tick=False) as traveller:
        yield traveller


def running_rollout(slug, director, owner, lead, approver):
    system = stage_4_system(slug, "medium", director, owner, lead)
    candidate = approved_version(system, owner, [approver])
    return rollout_start(rollout=plan(system, candidate, director), by=director)


@pytest.fixture
def loan(director, owner, lead, approver):
    return running_rollout("loan-classifier", director, owner, lead, approver)


@pytest.fixture
def credit(director, owner, lead, approver):
    return running_rollout("credit-limits", director, owner, lead, approver)


@pytest.fixture
def queued():
    with queueing() as queues:
        yield queues


@pytest.fixture
def push(client, django_capture_on_commit_callbacks):
    """POST one batch of the candidate's output quality (a new minute each time), committed."""
    minutes = iter(range(1, 10))

    def push(rollout):
        secret = api_token_create(by=None, name="router", system=rollout.system)[1]
        body = {
            "model_version": rollout.candidate.version,
            "points": [
                {"metric": "output_quality", "value": 0.95, "at": iso(NOW + timedelta(minutes=m))}
                for m in [next(minutes)]
            ],
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/api/v1/systems/{rollout.system.slug}/metrics/",
                json.dumps(body),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {secret}",
            )
        assert response.status_code == 201, response.content

    return push


def test_three_batches_while_the_checkpoint_is_pending_enqueue_one(loan, push, queued):
    for _ in range(3):
        push(loan)
    assert queued.tasks(EVALUATE) == [(EVALUATE, [loan.pk])]


def test_a_batch_after_the_checkpoint_started_enqueues_another(loan, push, queued):
    push(loan)
    assert queued.run_next(EVALUATE) == "insufficient_data"  # 1 point of the 5 needed
    assert current(loan).evaluated_at == NOW + timedelta(minutes=10)
    push(loan)
    push(loan)
    assert queued.tasks(EVALUATE) == [(EVALUATE, [loan.pk])]


def test_two_rollouts_are_coalesced_apart(loan, credit, push, queued):
    push(loan)
    push(credit)
    push(loan)
    assert queued.tasks(EVALUATE) == [(EVALUATE, [loan.pk]), (EVALUATE, [credit.pk])]
    queued.run_next(EVALUATE)  # the loan classifier's starts; credit limits' still waits
    push(credit)
    push(loan)
    assert queued.tasks(EVALUATE) == [(EVALUATE, [credit.pk]), (EVALUATE, [loan.pk])]


def test_the_mark_expires(loan, push, queued, clock):
    push(loan)
    client = redis.Redis.from_url(settings.REDIS_URL)
    ttl = client.ttl(cache.make_key(pending_key(evaluate_rollout, loan.pk)))
    assert 0 < ttl <= PENDING_SECONDS
    queued.client.delete("gates")  # the message is lost; its mark stays until it expires
    local = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(CACHES=local):  # its expiry follows the frozen clock
        push(loan)
        queued.client.delete("gates")
        clock.shift(PENDING_SECONDS - 1)
        push(loan)
        assert queued.tasks(EVALUATE) == []
        clock.shift(2)
        push(loan)
    assert queued.tasks(EVALUATE) == [(EVALUATE, [loan.pk])]


def test_with_the_cache_away_every_batch_still_enqueues(loan, push, queued):
    away = {
        "default": {
            "BACKEND": "core.resilience.DegradingRedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "RETRY_SECONDS": 0,
        }
    }
    with override_settings(CACHES=away):
        for _ in range(3):
            push(loan)
        assert queued.run_next(EVALUATE) == "insufficient_data"  # it cannot clear; it judges
    assert queued.tasks(EVALUATE) == [(EVALUATE, [loan.pk])] * 2
