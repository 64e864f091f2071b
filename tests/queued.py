"""Tasks sent to the real Redis broker and left there: what was enqueued, read from the queues.

The suite runs tasks eagerly (tests/settings.py), which hides how many were
sent. `queueing()` turns that off for a block: tasks go to Redis as in
production, no worker takes them, and the test reads the queues or runs the
oldest message in its own process, as a worker would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings

from core import resilience
from portal.celery import app


class Queued:
    """The broker's queues, for one test."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def _messages(self) -> Iterator[tuple[bytes, bytes, str, list]]:
        for queue in app.conf.task_queues:
            # kombu pushes on the left and a worker pops on the right: oldest last.
            for raw in reversed(self.client.lrange(queue.name, 0, -1)):
                message = json.loads(raw)
                args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                yield queue.name.encode(), raw, message["headers"]["task"], args

    def tasks(self, name: str | None = None) -> list[tuple[str, list]]:
        """(task name, args) of each waiting message (of the task `name`), oldest first."""
        return [(task, args) for _q, _raw, task, args in self._messages() if name in (None, task)]

    def run_next(self, name: str):
        """Take the oldest waiting message of `name` off its queue and run it here."""
        for queue, raw, task, args in self._messages():
            if task == name:
                self.client.lrem(queue, 1, raw)
                return app.tasks[name].apply(args=args).get()
        raise AssertionError(f"no {name} is queued")


@contextmanager
def queueing() -> Iterator[Queued]:
    """Send tasks to the Redis broker (empty at first) instead of running them."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    eager = app.conf.task_always_eager
    client.flushdb()
    # The queues' bindings went with the flush: a message sent to an unbound queue is lost.
    with app.connection_for_write() as connection:
        for queue in app.conf.task_queues:
            queue.bind(connection.default_channel).declare()
    resilience.broker_outage.reset()
    app.conf.task_always_eager = False
    try:
        yield Queued(client)
    finally:
        app.conf.task_always_eager = eager
        resilience.broker_outage.reset()
        client.flushdb()
