"""The real Celery worker of the integration tests: a thread consuming from Redis."""

from __future__ import annotations

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from portal.celery import app


@pytest.fixture
def worker():
    import celery.contrib.testing.tasks  # noqa: F401 - registers celery.ping for the ping check

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()  # no message of an earlier run may be consumed here
    try:
        with start_worker(app, pool="solo", concurrency=1, perform_ping_check=True) as running:
            yield running
    finally:
        app.conf.task_always_eager = eager
