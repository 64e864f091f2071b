"""Redis away: the cache misses instead of failing, and a task is dropped instead of the write.

On real servers: a redis-server of the test's own (tests/integration/fault_services.py)
that is stopped and started again, and a port where nothing listens.
"""

from __future__ import annotations

import json
import logging

import pytest
import redis
from celery import Celery

from core import resilience
from core.resilience import DegradingRedisCache, enqueue
from tests import services
from tests.integration import fault_services as fs

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_server(tmp_path):
    try:
        server = fs.RedisServer(tmp_path)
    except fs.ServiceUnavailable as missing:
        if services.require_services():
            pytest.fail(f"REQUIRE_SERVICES=1: {missing}")
        pytest.skip(str(missing))
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def broker_presumed_up():
    """The broker's outage is remembered process-wide: none may leak into another test."""
    resilience.broker_outage.reset()
    yield
    resilience.broker_outage.reset()


@pytest.fixture(autouse=True)
def resilience_logs(caplog):
    """Capture core.resilience's warnings, even after another test reconfigured logging.

    A logging.config.dictConfig elsewhere in the run (a Celery worker's set-up) may have
    disabled the loggers that existed then; the outage warnings are part of the contract.
    """
    logger = logging.getLogger("core.resilience")
    disabled, logger.disabled = logger.disabled, False
    caplog.set_level(logging.INFO, logger="core.resilience")
    yield
    logger.disabled = disabled


def nowhere() -> str:
    return f"redis://127.0.0.1:{fs.free_port()}/0"


def logged(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "core.resilience"]


def test_an_unreachable_cache_misses_and_stores_nothing(caplog):
    cache = DegradingRedisCache(nowhere(), {})
    cache.set("token", "row")
    assert cache.get("token", "from the database") == "from the database"
    assert cache.add("token", "row") is False
    assert cache.get_many(["token", "status"]) == {}
    assert cache.set_many({"token": 1, "status": 2}) == ["token", "status"]
    assert cache.has_key("token") is False
    assert cache.delete("token") is False
    assert cache.incr("requests", 5) == 5  # a counter starts again: a rate limit lets it pass
    assert cache.get_or_set("status", "computed") == "computed"
    [message] = logged(caplog)  # one warning for the outage, not one per call
    assert "is unreachable" in message
    assert "carrying on without it" in message


def test_the_cache_comes_back_by_itself_and_says_so(redis_server, caplog):
    caplog.set_level(logging.INFO, logger="core.resilience")
    cache = DegradingRedisCache(redis_server.url(0), {"RETRY_SECONDS": 0})
    cache.set("token", "row")
    assert cache.get("token") == "row"
    redis_server.stop()
    assert cache.get("token") is None
    redis_server.start()  # empty: it kept nothing
    assert cache.get("token") is None
    cache.set("token", "row again")
    assert cache.get("token") == "row again"
    messages = logged(caplog)
    assert len(messages) == 2
    assert "is unreachable" in messages[0]
    assert "is reachable again" in messages[1]


def test_after_a_failure_the_cache_waits_before_trying_again(redis_server):
    cache = DegradingRedisCache(redis_server.url(0), {"RETRY_SECONDS": 3600})
    redis_server.stop()
    assert cache.get("token") is None
    redis_server.start()
    cache.set("token", "row")  # not even tried: the pause after the failure still runs
    assert redis_server.client().keys("*") == []


def test_a_cache_that_answers_with_an_error_still_raises(redis_server):
    cache = DegradingRedisCache(redis_server.url(0), {})
    cache.set("token", "not a number")
    with pytest.raises(redis.ResponseError):
        cache.incr("token")  # a bug, not an outage


def test_the_cache_url_password_never_reaches_the_log(caplog):
    cache = DegradingRedisCache(f"redis://:s3cret@127.0.0.1:{fs.free_port()}/0", {})
    cache.get("token")
    [message] = logged(caplog)
    assert "s3cret" not in message
    assert "127.0.0.1" in message


@pytest.fixture
def probe_app(monkeypatch):
    """A Celery app of the test's own, on the broker and result backend it names."""
    # Celery prefers this variable (the suite sets it) to any broker the app is given.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    return make_probe_app


def make_probe_app(broker: str, *, results: str | None = None) -> tuple[Celery, object]:
    app = Celery("probe", broker=broker, backend=results, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], task_always_eager=False)

    @app.task(name="tests.core.probe")
    def probe(value: int) -> int:
        return value

    return app, probe


def test_a_task_for_an_unreachable_broker_is_dropped_and_logged(probe_app, caplog):
    caplog.set_level(logging.INFO, logger="core.resilience")
    _app, probe = probe_app(nowhere(), results=nowhere())
    assert enqueue(probe, 1) is False
    assert enqueue(probe, 2) is False  # not tried again for a while
    messages = logged(caplog)
    assert "the task broker is unreachable" in messages[0]
    assert "could not send tests.core.probe: the task broker is unreachable" in messages
    assert messages[-1] == (
        "not sending tests.core.probe: the task broker was unreachable moments ago"
    )


def test_a_task_is_sent_without_asking_for_its_result(probe_app, redis_server):
    # No result subscription: in a portal process with its results on a Redis that is
    # gone, that subscription alone retries for some twenty seconds before failing.
    _app, probe = probe_app(redis_server.url(0), results=redis_server.url(1))
    assert enqueue(probe, 7) is True
    [raw] = redis_server.client().lrange("celery", 0, -1)
    message = json.loads(raw)
    assert message["headers"]["task"] == "tests.core.probe"
    assert message["headers"]["ignore_result"] is True
