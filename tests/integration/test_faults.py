"""Faults the portal survives on real services: Redis stopped, worker killed, PostgreSQL restarted.

Gunicorn, Celery workers and Celery beat run as the real programs, on a
PostgreSQL cluster and a Redis of this module's own (tests/integration/
fault_services.py), since the faults are made by stopping and restarting
those servers. The portal is "faults", owned by Olivia, with quality metrics
whose thresholds are warning 0.9 and critical 0.8 (firing at once), and the
data source "crm-feed" that feeds it, last profiled and evaluated as healthy.

What the database holds is read with plain SQL over a fresh connection each
time: a PostgreSQL restart must not break the test's own reads.
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests import services
from tests.integration import fault_services as fs

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

# Kombu's keys for messages a worker has taken but not acknowledged (acks_late).
UNACKED = ("unacked", "unacked_index")
QUEUES = ("ingest", "gates", "notify", "default")
# A killed worker's task is handed out again once it has been unacknowledged this long.
VISIBILITY_TIMEOUT = "2"

SEED = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from governance.models import SystemOwnership
from registry.services import (
    ai_system_create, api_token_create, data_source_create, metric_spec_create,
    profile_batch_record,
)

call_command("migrate", verbosity=0)
olivia = get_user_model().objects.create_user(username="olivia", email="olivia@example.com")
system = ai_system_create(
    by=None, slug="faults", name="Faults", purpose="fault tests", business_unit="Ops",
    risk_tier="medium",
)
SystemOwnership.objects.create(system=system, owner=olivia, statement="I answer for it.")
metrics = {}
for key in ("accuracy", "coverage", "precision", "throughput"):
    metrics[key] = metric_spec_create(
        system=system, by=None, key=key, name=key.title(), kind="quality",
        direction="higher_is_better", warning=0.9, critical=0.8, aggregation="mean",
        pending_seconds=0,
    ).pk
source = data_source_create(
    by=None, slug="crm-feed", systems=[system], name="CRM feed", kind="crm",
    expected_interval_seconds=3600, expected_schema={"amount": "float"},
)
# Evaluated inline (CELERY_TASK_ALWAYS_EAGER): every check of the source is green.
profile_batch_record(source=source, by=None, body={
    "at": (timezone.now() - timedelta(minutes=5)).isoformat(),
    "rows": 1000,
    "fields": [{"name": "amount", "type": "float", "missing_share": 0.0}],
})
_token, secret = api_token_create(by=None, name="fault tests", system=system)
print(json.dumps({"token": secret, "system": system.pk, "source": source.pk, "metrics": metrics}))
"""


class Portal:
    """The private servers, the web process, and the worker and beat that tests start and stop."""

    def __init__(self, work: Path, postgres: fs.PostgresServer, redis: fs.RedisServer) -> None:
        self.work = work
        self.postgres = postgres
        self.redis = redis
        self.env = fs.portal_env(
            database_url=postgres.url("portal"),
            redis_url=redis.url(0),
            var_dir=work,
            CELERY_VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT,
            # With results on Redis, a task sent while Redis is away also waits for a
            # result subscription: the harder case for a push that must not hang.
            CELERY_RESULT_BACKEND=redis.url(1),
        )
        self.web_port = fs.free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.web = None
        self.worker = None
        self.beat = None
        self.worker_name = ""
        self._workers = 0
        self.seed: dict = {}

    # --- programs ---------------------------------------------------------------------------

    def start_web(self) -> None:
        self.web = fs.spawn(fs.web_argv(self.web_port), env=self.env, log=self.work / "web.log")

    def wait_for_web(self) -> None:
        fs.wait_until(self._web_answers, timeout=90, what="gunicorn to answer")

    def _web_answers(self) -> bool:
        try:
            return fs.http("GET", f"{self.base_url}/healthz", timeout=2).status == 200
        except OSError:
            return False

    def start_worker(self, *, wait: bool = True) -> None:
        """A fresh worker; by default, once it consumes from the broker."""
        self._workers += 1
        self.worker_name = f"faults{self._workers}"
        self.worker = fs.spawn(
            fs.worker_argv(self.worker_name),
            env=self.env,
            log=self.work / f"{self.worker_name}.log",
        )
        if wait:
            self.wait_for_worker()

    def wait_for_worker(self) -> None:
        fs.wait_until(self._worker_ready, timeout=90, what=f"worker {self.worker_name} to start")

    def _worker_ready(self) -> bool:
        log = self.log(f"{self.worker_name}.log")
        assert self.worker.poll() is None, log
        return f"{self.worker_name}@" in log and " ready." in log

    def ensure_worker(self) -> None:
        if self.worker is None or self.worker.poll() is not None:
            self.start_worker()

    def start_beat(self) -> None:
        self.beat = fs.spawn(fs.beat_argv(self.work), env=self.env, log=self.work / "beat.log")

    def stop(self, name: str, *, sig: int = signal.SIGTERM) -> None:
        process = getattr(self, name)
        if process is not None:
            fs.stop_process(process, sig=sig)
            setattr(self, name, None)

    def log(self, name: str) -> str:
        path = self.work / name
        return path.read_text(errors="replace") if path.exists() else ""

    # --- the API and the database ---------------------------------------------------------------

    def post(self, path: str, body: dict) -> fs.Response:
        return fs.http("POST", self.base_url + path, token=self.seed["token"], body=body)

    def get(self, path: str) -> fs.Response:
        return fs.http("GET", self.base_url + path, token=self.seed["token"])

    def push(self, metric: str, value: float, at: datetime) -> fs.Response:
        point = {"metric": metric, "value": value, "at": at.isoformat()}
        return self.post("/api/v1/systems/faults/metrics/", {"points": [point]})

    def sql(self, query: str, *params) -> list[tuple]:
        with self.postgres.connect("portal") as conn:
            return conn.execute(query, params).fetchall()

    def one(self, query: str, *params):
        rows = self.sql(query, *params)
        return rows[0][0] if rows else None

    def rule(self, metric: str) -> tuple | None:
        """(status, severity, last_value, evaluated_at) of a metric's threshold rule."""
        rows = self.sql(
            "SELECT status, severity, last_value, evaluated_at FROM governance_alertrulestate"
            " WHERE metric_id = %s AND kind = 'threshold'",
            self.seed["metrics"][metric],
        )
        return rows[0] if rows else None

    def escalations(self, dedup_key: str) -> list[tuple]:
        """(id, occurrences) of the system's escalations with that key."""
        return self.sql(
            "SELECT id, occurrences FROM governance_escalation WHERE dedup_key = %s ORDER BY id",
            dedup_key,
        )

    def check(self, kind: str) -> str | None:
        return self.one(
            "SELECT status FROM registry_sourcecheck WHERE source_id = %s AND kind = %s",
            self.seed["source"],
            kind,
        )

    def broker_idle(self) -> bool:
        """Nothing queued and nothing taken but unacknowledged: no task is left to run."""
        client = self.redis.client()
        return not any(client.llen(queue) for queue in QUEUES) and not any(
            client.exists(key) for key in UNACKED
        )


@pytest.fixture(scope="module")
def portal():
    work = Path(tempfile.mkdtemp(prefix="portal-faults-"))
    try:
        redis = fs.RedisServer(work)
        postgres = fs.PostgresServer()
    except fs.ServiceUnavailable as missing:
        shutil.rmtree(work, ignore_errors=True)
        if services.require_services():
            pytest.fail(f"REQUIRE_SERVICES=1: {missing}")
        pytest.skip(str(missing))
    portal = Portal(work, postgres, redis)
    try:
        postgres.init()
        postgres.start()
        postgres.create_database("portal")
        redis.start()
        # Web and worker boot while the database is migrated: neither reads it before
        # its first request or task.
        portal.start_web()
        portal.start_worker(wait=False)
        out = fs.manage("shell", "-c", SEED, env={**portal.env, "CELERY_TASK_ALWAYS_EAGER": "1"})
        portal.seed = json.loads(out.strip().splitlines()[-1])
        portal.wait_for_web()
        portal.wait_for_worker()
        yield portal
    finally:
        try:
            for name in ("beat", "worker", "web"):
                portal.stop(name, sig=signal.SIGKILL)
            redis.stop()
        finally:
            postgres.remove()
            shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def idle_broker(portal):
    """Redis up and empty: no message of an earlier test may be consumed in this one."""
    if portal.redis.process is None:
        portal.redis.start()
    client = portal.redis.client()
    # Every message and cache key goes, but not kombu's exchange bindings: a running worker
    # declared them once, and without them the web's next task would be routed nowhere.
    for key in client.scan_iter():
        if not key.startswith(b"_kombu.binding."):
            client.delete(key)
    return portal


def this_hour(second: int) -> datetime:
    """A moment early in the current hour: the points of one test share an hourly rollup."""
    return datetime.now(UTC).replace(minute=0, second=second, microsecond=0)


def test_a_worker_killed_mid_evaluation_runs_the_task_again_and_applies_it_once(idle_broker):
    portal = idle_broker
    portal.ensure_worker()
    healthy = {"metric": "coverage", "value": 0.95, "at": this_hour(10).isoformat()}
    batch = [healthy, {**healthy, "metric": "precision"}]
    batch_keys = ("coverage", "precision")
    response = portal.post("/api/v1/systems/faults/metrics/", {"points": batch})
    assert response.status == 201, response
    fs.wait_until(
        lambda: all(portal.rule(key) and portal.rule(key)[2] == 0.95 for key in batch_keys),
        timeout=30,
        what="the first evaluation of coverage and precision",
    )
    assert portal.rule("precision")[0] == "inactive"  # healthy: the rule does not fire

    # The test holds precision's rule row: the worker evaluates coverage (key order),
    # commits its escalation, then waits for the row, mid-task, until it is killed.
    holder = psycopg.connect(
        host="127.0.0.1", port=portal.postgres.port, user="postgres", dbname="portal"
    )
    try:
        holder.execute(
            "SELECT id FROM governance_alertrulestate WHERE metric_id = %s AND kind = 'threshold'"
            " FOR UPDATE",
            (portal.seed["metrics"]["precision"],),
        )
        breach = [{**point, "value": 0.1, "at": this_hour(11).isoformat()} for point in batch]
        response = portal.post("/api/v1/systems/faults/metrics/", {"points": breach})
        assert response.status == 201, response
        fs.wait_until(
            lambda: (
                portal.escalations("threshold:coverage")
                and portal.one(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE %s",
                    "%governance_alertrulestate%",
                )
            ),
            timeout=30,
            what="the task to open coverage's escalation and block on precision's row",
        )
        first_run = portal.rule("coverage")[3]
        portal.stop("worker", sig=signal.SIGKILL)  # the worker and its pool child, at once
        # Taken, never acknowledged: still in the unacknowledged set (or back in its queue,
        # had the worker's periodic scan passed the visibility timeout meanwhile).
        client = portal.redis.client()
        assert client.hlen("unacked") + client.llen("gates") == 1
    finally:
        holder.rollback()
        holder.close()

    # Kombu gives an unacknowledged message back when a worker starts, but only one older
    # than the visibility timeout (else its next scan is minutes away): let that pass first.
    time.sleep(float(VISIBILITY_TIMEOUT) + 1)
    portal.start_worker()
    fs.wait_until(
        lambda: portal.escalations("threshold:precision") and portal.broker_idle(),
        timeout=60,
        what="the redelivered task to finish and the queues to drain",
    )
    # It ran again: coverage was evaluated a second time, precision for the first time.
    assert portal.rule("coverage")[3] > first_run
    assert portal.rule("precision")[:2] == ("firing", "critical")
    # ...and its effect is there once: one escalation per metric, opened once, raised
    # once, its owner told once.
    for key in ("threshold:coverage", "threshold:precision"):
        [(escalation_id, occurrences)] = portal.escalations(key)
        assert occurrences == 1
        opened = portal.one(
            "SELECT count(*) FROM governance_auditevent WHERE action = 'escalation.open'"
            " AND object_type = 'governance.escalation' AND object_id = %s",
            str(escalation_id),
        )
        notified = portal.one(
            "SELECT count(*) FROM governance_notification WHERE escalation_id = %s",
            escalation_id,
        )
        assert (opened, notified) == (1, 1), key


def test_web_and_worker_carry_on_after_postgresql_restarts(idle_broker):
    portal = idle_broker
    portal.ensure_worker()
    web, worker = portal.web.pid, portal.worker.pid
    response = portal.push("throughput", 0.95, this_hour(20))
    assert response.status == 201, response
    fs.wait_until(lambda: portal.rule("throughput"), timeout=30, what="the first evaluation")
    first = portal.rule("throughput")

    portal.postgres.restart()  # every session of web and worker is cut

    # The next request reconnects by itself (conn_health_checks); no retry is needed.
    response = portal.push("throughput", 0.97, this_hour(21))
    assert (response.status, response.body) == (201, {"accepted": 1, "duplicates": 0})
    assert portal.get("/api/v1/systems/faults/rollout/").status == 200
    # ...and so does the worker's next task, the evaluation that push enqueued.
    fs.wait_until(
        lambda: portal.rule("throughput")[3] > first[3],
        timeout=30,
        what="the worker to evaluate again after the restart",
    )
    assert portal.rule("throughput")[2] == pytest.approx(0.96)
    # Neither program was restarted.
    assert (portal.web.pid, portal.worker.pid) == (web, worker)
    assert portal.web.poll() is None and portal.worker.poll() is None


# Last in the module: after this outage, the web process's own per-push evaluations were seen
# not to resume within the next test (the minute sweep still evaluates everything); see
# docs/reliability.md, "Open question". The tests before it run on a broker that never failed.
def test_pushes_made_while_redis_is_down_are_stored_and_the_beat_sweep_evaluates_them(portal):
    portal.ensure_worker()
    web, worker = portal.web.pid, portal.worker.pid
    now = datetime.now(UTC).replace(microsecond=0)
    portal.redis.stop()  # web and worker keep running
    try:
        # Three batches of a breaching accuracy: each answered at once (the request
        # timeout of fault_services.http is 10 s), none with a 500.
        for second, value in ((1, 0.5), (2, 0.55), (3, 0.6)):
            response = portal.push("accuracy", value, this_hour(second))
            assert (response.status, response.body) == (201, {"accepted": 1, "duplicates": 0})
        # A resend is still recognised (the database, not the cache, deduplicates).
        response = portal.push("accuracy", 0.6, this_hour(3))
        assert (response.status, response.body) == (201, {"accepted": 0, "duplicates": 1})
        # The source's newest profile has "amount" retyped: its schema check must turn red.
        profile = {
            "at": now.isoformat(),
            "rows": 1000,
            "fields": [{"name": "amount", "type": "string", "missing_share": 0.0}],
        }
        response = portal.post("/api/v1/sources/crm-feed/profiles/", profile)
        assert (response.status, response.body) == (201, {"accepted": 1, "duplicates": 0})
        report = {"title": "Unreadable scans", "severity": "warning", "dedup_key": "ocr:0412"}
        response = portal.post("/api/v1/systems/faults/escalations/", report)
        assert response.status == 201, response
        # The routers' poll falls back to the database as well.
        response = portal.get("/api/v1/systems/faults/rollout/")
        assert (response.status, response.body["state"]) == (200, "none")
    finally:
        portal.redis.start()

    stored = portal.sql(
        "SELECT p.value FROM registry_metricpoint p JOIN registry_metricspec s"
        " ON s.id = p.metric_id WHERE s.key = 'accuracy' ORDER BY p.at"
    )
    assert stored == [(0.5,), (0.55,), (0.6,)]
    rollup_points = portal.one(
        "SELECT sum(r.count) FROM registry_metricrollup r JOIN registry_metricspec s"
        " ON s.id = r.metric_id WHERE s.key = 'accuracy' AND r.granularity = 'day'"
    )
    assert rollup_points == 3  # folded into the rollups in the pushes' own transactions
    # Nothing evaluated them yet, and Redis came back empty: no task survived that
    # could, so whatever evaluates them now is the beat sweep.
    assert portal.rule("accuracy") is None
    assert portal.check("schema") == "ok"
    assert portal.broker_idle()

    # The hourly full evaluation of the sources would catch the profile too, within the
    # hour; off here, so that the minute sweep has to.
    disabled = portal.sql(
        "UPDATE django_celery_beat_periodictask SET enabled = false"
        " WHERE task = 'registry.tasks.evaluate_all_sources' RETURNING id"
    )
    assert len(disabled) == 1
    portal.start_beat()  # its first tick after Redis is back; every sweep is due at start
    try:
        fs.wait_until(
            lambda: portal.rule("accuracy") and portal.check("schema") == "fail",
            timeout=60,
            what="the beat sweep to evaluate the pushes",
        )
        fs.wait_until(
            lambda: (
                portal.escalations("threshold:accuracy")
                and portal.escalations("data_quality:crm-feed:schema")
            ),
            timeout=30,
            what="the escalations of the sweep",
        )
    finally:
        portal.stop("beat")
    status, severity, value, _at = portal.rule("accuracy")
    assert (status, severity) == ("firing", "critical")
    assert value == pytest.approx(0.55)  # the hour's mean of the three points
    assert [count for _id, count in portal.escalations("threshold:accuracy")] == [1]
    assert portal.check("freshness") == "ok"  # unchanged: only the news made the sweep look
    beat = portal.log("beat.log")
    for task in ("governance.tasks.evaluate_alerts", "registry.tasks.sweep_source_freshness"):
        assert f"Sending due task {task}" in beat
    # The worker rode out the outage: it reconnected by itself and ran the sweep.
    assert (portal.web.pid, portal.worker.pid) == (web, worker)
    assert portal.web.poll() is None and portal.worker.poll() is None
