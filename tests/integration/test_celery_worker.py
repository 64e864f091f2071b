"""A real Celery worker, consuming from Redis, runs the portal's tasks.

The worker (tests/integration/conftest.py) runs in a thread of the test process, with
the broker and result backend on Redis and the database on PostgreSQL.
"""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from portal.celery import app
from portal.models import WorkerHeartbeat
from portal.tasks import heartbeat, ping

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@app.task(name="tests.integration.user_exists")
def user_exists(pk: int) -> bool:
    """Report whether the row exists as the worker sees it (i.e. was committed)."""
    return get_user_model().objects.filter(pk=pk).exists()


def test_a_task_round_trips_through_redis(worker):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert ping.delay().get(timeout=20) == "pong"


def test_the_worker_records_its_heartbeat_in_the_database(worker):
    heartbeat.delay()  # results are ignored: the effect is the row the worker writes
    deadline = time.monotonic() + 20
    while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    # Run eagerly the task would record "eager"; a worker records its node name.
    assert WorkerHeartbeat.objects.get().hostname not in ("", "eager")


def test_a_task_enqueued_on_commit_runs_only_after_the_commit(worker):
    queued = []
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    with transaction.atomic():
        user = get_user_model().objects.create_user(username="probe")
        transaction.on_commit(lambda: queued.append(user_exists.delay(user.pk)))
        # Inside the transaction nothing has been sent to the broker yet.
        assert queued == []
        assert client.llen("default") == 0
    assert len(queued) == 1
    assert queued[0].get(timeout=20) is True


def test_a_rolled_back_transaction_enqueues_nothing(worker):
    queued = []
    with pytest.raises(RuntimeError), transaction.atomic():
        user = get_user_model().objects.create_user(username="ghost")
        transaction.on_commit(lambda: queued.append(user_exists.delay(user.pk)))
        raise RuntimeError("abort")
    assert queued == []
