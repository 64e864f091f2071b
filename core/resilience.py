"""Keep working on PostgreSQL while Redis is away: it holds nothing the database does not.

Redis is the portal's Celery broker and its Django cache. The cache only
spares the database a lookup, and a task sent after a write is a follow-up
the portal can lose (a beat sweep redoes every evaluation; an escalation's
next level is notified when its timeout passes), so neither may turn a
stored write into an error:

- `DegradingRedisCache` is Django's Redis cache backend, except that an
  unreachable Redis reads as a miss and writes as a no-op (the callers fall
  back to the database), logged once per outage.
- `enqueue` sends such a task and, when the broker is unreachable, logs and
  drops it: the caller's write is committed, and a sweep catches up (each
  caller says which).

Both stop trying for `RETRY_SECONDS` after a failure, so that a Redis that
does not even refuse connections (a dead host) costs one timeout per process
every few seconds, not one per request. The cache takes another pause from
its `RETRY_SECONDS` parameter (CACHES), e.g. 0 in a test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
# The cache answers in a millisecond when it is there; waiting longer only delays the
# fallback to the database.
CACHE_SOCKET_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
CACHE_ERRORS = (RedisConnectionError, RedisTimeoutError)
T = TypeVar("T")


class Outage:
    """Whether a dependency is known to be unreachable, and since when; logs each change.

    Two threads may both log the start of one outage: harmless, so no lock.
    """

    def __init__(self, name: str, *, retry_seconds: float = RETRY_SECONDS) -> None:
        self.name = name
        self.retry_seconds = retry_seconds
        self.reset()

    def reset(self) -> None:
        """Forget any failure (the dependency is presumed reachable)."""
        self._since: float | None = None
        self._retry_at = 0.0

    def skipping(self) -> bool:
        """True while a recent failure says not to try again yet."""
        return time.monotonic() < self._retry_at

    def failed(self, error: BaseException) -> None:
        now = time.monotonic()
        self._retry_at = now + self.retry_seconds
        if self._since is None:
            self._since = now
            logger.warning("%s is unreachable (%s); carrying on without it", self.name, error)

    def succeeded(self) -> None:
        if self._since is not None:
            logger.info(
                "%s is reachable again after %.0f s", self.name, time.monotonic() - self._since
            )
            self._since = None


class DegradingRedisCache(RedisCache):
    """Django's Redis cache; while Redis is unreachable, reads miss and writes do nothing.

    Each method answers what an empty cache that stores nothing would:
    `get` the default, `add` False, `has_key` False, `get_many` {},
    `set_many` every key as not stored, and `incr` the delta (a counter
    starts again, so a rate limit counted here lets requests through rather
    than refusing them). Bad keys and other Redis errors still raise.
    """

    def __init__(self, server, params):
        super().__init__(server, params)
        self._options = {**CACHE_SOCKET_OPTIONS, **self._options}
        # Host and port only: a URL's password must not reach the logs.
        where = ", ".join(f"{urlsplit(url).hostname}:{urlsplit(url).port}" for url in self._servers)
        self.outage = Outage(
            f"the cache at {where}", retry_seconds=params.get("RETRY_SECONDS", RETRY_SECONDS)
        )

    def _guard(self, method: Callable[..., T], *args: Any, fallback: T) -> T:
        if self.outage.skipping():
            return fallback
        try:
            result = method(*args)
        except CACHE_ERRORS as error:
            self.outage.failed(error)
            return fallback
        self.outage.succeeded()
        return result

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard(super().add, key, value, timeout, version, fallback=False)

    def get(self, key, default=None, version=None):
        return self._guard(super().get, key, default, version, fallback=default)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard(super().set, key, value, timeout, version, fallback=None)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard(super().touch, key, timeout, version, fallback=False)

    def delete(self, key, version=None):
        return self._guard(super().delete, key, version, fallback=False)

    def get_many(self, keys, version=None):
        return self._guard(super().get_many, keys, version, fallback={})

    def has_key(self, key, version=None):
        return self._guard(super().has_key, key, version, fallback=False)

    def incr(self, key, delta=1, version=None):
        return self._guard(super().incr, key, delta, version, fallback=delta)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard(super().set_many, data, timeout, version, fallback=list(data))

    def delete_many(self, keys, version=None):
        return self._guard(super().delete_many, keys, version, fallback=None)

    def clear(self):
        return self._guard(super().clear, fallback=False)


broker_outage = Outage("the task broker")


def enqueue(task, *args: Any, **kwargs: Any) -> bool:
    """Send a follow-up of a committed write; False (logged) when the broker is away.

    Nobody waits for such a task's result, so none is subscribed to: with a
    Redis result backend that subscription alone retries for some twenty
    seconds when Redis is gone, inside the request that sent the task.
    """
    if broker_outage.skipping():
        logger.info("not sending %s: the task broker was unreachable moments ago", task.name)
        return False
    try:
        task.apply_async(args, kwargs, ignore_result=True)
    except OperationalError as error:
        broker_outage.failed(error)
        logger.info("could not send %s: the task broker is unreachable", task.name)
        return False
    broker_outage.succeeded()
    return True
