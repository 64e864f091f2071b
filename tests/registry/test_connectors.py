"""Pull connectors: the parsers on plain bodies, then real pulls from a fake server.

The fake is a real HTTP server on 127.0.0.1, started by the test, that speaks
Prometheus's /api/v1/query and serves a JSON endpoint; it records every
request so a test can check what the connector asked for.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from registry import connectors
from registry.connectors import (
    ConnectorError,
    fetch_json,
    metric_source_pull,
    metric_sources_due,
    parse_json_response,
    parse_prometheus_response,
    prometheus_query_url,
    pull_intervals,
)
from registry.models import (
    AISystem,
    MetricPoint,
    MetricRollup,
    MetricSource,
    MetricSpec,
    ModelVersion,
    PullRun,
)
from registry.signals import metrics_ingested
from registry.tasks import pull_due_sources, pull_source

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
QUERY = 'avg by (metric_key) (model_eval_score{job="scorer"})'


def vector(*series):
    """A Prometheus instant-query answer holding `series` (labels, value) at NOW - 10 s."""
    stamp = NOW.timestamp() - 10
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": labels, "value": [stamp, value]} for labels, value in series],
        },
    }


# --- The fake server -------------------------------------------------------------------


class FakeServer:
    """What the fake answers per path, and the requests it received."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        # Set at teardown, so that a handler told to stall lets go at once.
        self.release = threading.Event()
        self.url = ""

    def answer(self, path, body, *, status=200, delay=0.0):
        """Answer GET `path` with `body` (JSON-encoded unless bytes) after `delay` seconds."""
        self.routes[path] = (status, body, delay)

    def queries(self, path=connectors.PROMETHEUS_QUERY_PATH):
        """The query strings received on `path`, decoded."""
        return [query for got, query in self.requests if got == path]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        """Record the request and play back the answer the test set for its path."""
        fake = self.server.fake
        parts = urlsplit(self.path)
        fake.requests.append((parts.path, parse_qs(parts.query)))
        status, body, delay = fake.routes.get(parts.path, (404, {"error": "no such path"}, 0))
        if delay:
            fake.release.wait(delay)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format, *args):
        """Keep the test output clean."""


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that gave up (the timeout test) is expected, not an error."""


@pytest.fixture
def server():
    """The fake, listening on a free port of 127.0.0.1 for the length of one test."""
    fake = FakeServer()
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.fake = fake
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    # A short poll interval keeps shutdown (which waits for one poll) quick.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    fake.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


# --- Objects -----------------------------------------------------------------------------


@pytest.fixture
def system(db):
    """The AI system whose metrics are pulled."""
    return AISystem.objects.create(
        slug="claims-triage", name="Claims triage", business_unit="Claims", risk_tier="medium"
    )


@pytest.fixture
def quality(system):
    """A mean metric: output quality, higher is better."""
    return MetricSpec.objects.create(
        system=system,
        key="output_quality",
        name="Output quality",
        kind="quality",
        direction="higher_is_better",
        warning=0.9,
        critical=0.8,
        aggregation="mean",
    )


@pytest.fixture
def latency(system):
    """A p95 metric: latency, lower is better."""
    return MetricSpec.objects.create(
        system=system,
        key="latency_ms",
        name="Latency",
        kind="latency",
        direction="lower_is_better",
        warning=800,
        critical=1200,
        aggregation="p95",
    )


def prometheus_source(system, server, **fields):
    """A Prometheus source on the fake server, mapping series by their metric_key label."""
    values = {
        "system": system,
        "name": "Scorer in Prometheus",
        "kind": "prometheus",
        "url": server.url,
        "query": QUERY,
        "metric_label": "metric_key",
        "interval_seconds": 60,
        "timeout_seconds": 1,
        **fields,
    }
    return MetricSource.objects.create(**values)


def json_source(system, server, metric, **fields):
    """A JSON-endpoint source on the fake server."""
    values = {
        "system": system,
        "name": "Scorer status page",
        "kind": "json",
        "url": f"{server.url}/status.json",
        "json_path": "model.scores.0.value",
        "metric": metric,
        "interval_seconds": 60,
        "timeout_seconds": 1,
        **fields,
    }
    return MetricSource.objects.create(**values)


def nothing_stored():
    """Whether no point and no rollup was written."""
    return not MetricPoint.objects.exists() and not MetricRollup.objects.exists()


# --- Parsing Prometheus answers (no database, no network) ------------------------------


def test_it_maps_each_series_to_the_metric_named_by_its_label():
    body = vector(
        ({"metric_key": "output_quality", "job": "scorer"}, "0.93"),
        ({"metric_key": "latency_ms", "job": "scorer"}, "412"),
    )
    points = parse_prometheus_response(body, metric_label="metric_key", default_key=None)
    at = NOW - timedelta(seconds=10)
    assert points == [("output_quality", at, 0.93), ("latency_ms", at, 412.0)]


def test_it_stores_a_lone_series_as_the_sources_metric_without_a_label():
    body = vector(({"__name__": "model_eval_score"}, "0.91"))
    points = parse_prometheus_response(body, metric_label=None, default_key="output_quality")
    assert points == [("output_quality", NOW - timedelta(seconds=10), 0.91)]


def test_it_falls_back_to_the_sources_metric_for_a_series_without_the_label():
    body = vector(({"job": "scorer"}, "0.91"))
    points = parse_prometheus_response(body, metric_label="metric_key", default_key="quality")
    assert [key for key, _, _ in points] == ["quality"]


def test_it_accepts_a_scalar_answer():
    body = {"status": "success", "data": {"resultType": "scalar", "result": [1764072000, "0.5"]}}
    points = parse_prometheus_response(body, metric_label=None, default_key="output_quality")
    assert points == [("output_quality", datetime(2025, 11, 25, 12, 0, tzinfo=UTC), 0.5)]


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-Inf"])
def test_it_refuses_values_that_are_not_finite(value):
    body = vector(({"metric_key": "output_quality"}, value))
    with pytest.raises(ConnectorError, match="only finite numbers"):
        parse_prometheus_response(body, metric_label="metric_key", default_key=None)


def test_it_reports_prometheuss_own_error():
    body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 4"}
    with pytest.raises(ConnectorError, match="bad_data: parse error at char 4"):
        parse_prometheus_response(body, metric_label=None, default_key="output_quality")


def test_it_explains_that_a_range_vector_is_not_an_instant_answer():
    body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    with pytest.raises(ConnectorError, match="must return a vector or a scalar"):
        parse_prometheus_response(body, metric_label=None, default_key="output_quality")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "not a Prometheus API object"),
        ({"status": "success"}, "no 'data' object"),
        ({"status": "success", "data": {"resultType": "vector", "result": {}}}, "not a list"),
        ({"status": "success", "data": {"resultType": "vector", "result": [7]}}, "not an object"),
        (
            {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1]}]}},
            r"expected a sample \[timestamp, value\]",
        ),
        (vector(({}, "high")), "'high' is not a number"),
    ],
)
def test_it_refuses_shapes_it_does_not_know(body, message):
    with pytest.raises(ConnectorError, match=message):
        parse_prometheus_response(body, metric_label=None, default_key="output_quality")


def test_it_fails_a_query_that_returned_no_series():
    with pytest.raises(ConnectorError, match="no series"):
        parse_prometheus_response(vector(), metric_label=None, default_key="output_quality")


def test_it_refuses_two_series_for_one_metric_and_says_to_aggregate():
    body = vector(({"instance": "a"}, "0.9"), ({"instance": "b"}, "0.8"))
    with pytest.raises(ConnectorError, match="two series map to metric 'output_quality'"):
        parse_prometheus_response(body, metric_label=None, default_key="output_quality")


def test_it_names_the_missing_label_when_a_series_cannot_be_mapped():
    body = vector(({"job": "scorer"}, "0.9"))
    with pytest.raises(ConnectorError, match="no 'metric_key' label"):
        parse_prometheus_response(body, metric_label="metric_key", default_key=None)


# --- Parsing JSON answers ----------------------------------------------------------------


def test_it_follows_a_dotted_path_through_objects():
    body = {"data": {"quality": {"value": 0.93}}}
    assert parse_json_response(body, path="data.quality.value") == 0.93


def test_it_follows_list_indices_in_the_path():
    body = {"items": [{"value": 1}, {"value": 2.5}]}
    assert parse_json_response(body, path="items.1.value") == 2.5


def test_it_reads_the_whole_body_when_the_path_is_empty():
    assert parse_json_response(42, path="") == 42.0


def test_it_accepts_a_number_sent_as_a_string():
    assert parse_json_response({"value": "0.75"}, path="value") == 0.75


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"data": {"other": 1}}, "data.quality", r"no key 'quality' at data \(keys there: other\)"),
        ({"items": [1]}, "items.3", "index 3 is out of range at items"),
        ({"items": [1]}, "items.first", "items is a list; 'first' is not an index"),
        ({"value": 3}, "value.deeper", "value is a number, so 'deeper' cannot follow"),
        ({"value": True}, "value", "is a boolean, not a number"),
        ({"value": None}, "value", "is a null, not a number"),
        ({"value": {"a": 1}}, "value", "is a object, not a number"),
        ({"value": "n/a"}, "value", "is not a number"),
        ({"value": "NaN"}, "value", "only finite numbers"),
    ],
)
def test_it_says_where_a_json_path_stops_matching(body, path, message):
    with pytest.raises(ConnectorError, match=message):
        parse_json_response(body, path=path)


# --- HTTP --------------------------------------------------------------------------------


def test_it_finds_the_query_endpoint_under_a_prometheus_base_url():
    assert prometheus_query_url("http://prom:9090") == "http://prom:9090/api/v1/query"
    assert prometheus_query_url("http://h/prom/") == "http://h/prom/api/v1/query"
    assert prometheus_query_url("http://h/api/v1/query") == "http://h/api/v1/query"


def test_it_keeps_the_urls_own_query_string_when_adding_parameters(server):
    server.answer("/status.json", {"ok": 1})
    assert fetch_json(f"{server.url}/status.json?env=prod", params={"x": "1"}, timeout=1)
    assert server.queries("/status.json") == [{"env": ["prod"], "x": ["1"]}]


def test_it_refuses_urls_that_are_not_http():
    with pytest.raises(ConnectorError, match="only http and https"):
        fetch_json("file:///etc/passwd", timeout=1)


def test_it_reports_an_answer_that_is_not_json(server):
    server.answer("/status.json", b"<html>Service Unavailable</html>")
    with pytest.raises(ConnectorError, match="did not answer JSON"):
        fetch_json(f"{server.url}/status.json", timeout=1)


def test_it_refuses_an_answer_over_the_size_cap(server, monkeypatch):
    monkeypatch.setattr(connectors, "MAX_RESPONSE_BYTES", 100)
    server.answer("/status.json", {"padding": "x" * 200})
    with pytest.raises(ConnectorError, match="at most 100 are read"):
        fetch_json(f"{server.url}/status.json", timeout=1)


def test_it_reports_a_server_that_does_not_listen():
    # A port the system just handed out and took back: nothing listens on it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectorError, match="cannot reach"):
        fetch_json(f"http://127.0.0.1:{port}/", timeout=1)


# --- Pulling: the service ----------------------------------------------------------------


def test_it_stores_a_prometheus_pull_with_its_rollups_and_records_an_ok_run(
    server, quality, latency
):
    server.answer(
        "/api/v1/query",
        vector(({"metric_key": "output_quality"}, "0.93"), ({"metric_key": "latency_ms"}, "412")),
    )
    source = prometheus_source(quality.system, server)

    run = metric_source_pull(source_id=source.pk, now=NOW)

    assert server.queries() == [{"query": [QUERY]}]
    assert (run.ok, run.points, run.error, run.started_at) == (True, 2, "", NOW)
    assert run.duration_ms >= 0
    stored = dict(MetricPoint.objects.values_list("metric__key", "value"))
    assert stored == {"output_quality": 0.93, "latency_ms": 412.0}
    assert MetricPoint.objects.filter(at=NOW - timedelta(seconds=10), received_at=NOW).count() == 2
    rollups = MetricRollup.objects.filter(metric=latency)
    assert sorted(rollups.values_list("granularity", flat=True)) == ["day", "hour"]
    # p95 metrics keep a sketch in their rollups; a mean metric does not need one.
    assert all(rollup.sketch for rollup in rollups)
    assert not MetricRollup.objects.filter(metric=quality, sketch__isnull=False).exists()
    source.refresh_from_db()
    assert source.next_pull_at == NOW + timedelta(seconds=60)


def test_it_announces_pulled_metrics_like_a_pushed_batch(
    server, quality, latency, django_capture_on_commit_callbacks
):
    server.answer("/api/v1/query", vector(({"metric_key": "latency_ms"}, "412")))
    source = prometheus_source(quality.system, server)
    heard = []

    def receiver(sender, **kwargs):
        """Note what the signal carried."""
        heard.append(kwargs)

    metrics_ingested.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            metric_source_pull(source_id=source.pk, now=NOW)
    finally:
        metrics_ingested.disconnect(receiver)

    assert len(heard) == 1
    assert heard[0]["system_id"] == quality.system_id
    assert heard[0]["metric_ids"] == [latency.pk]


def test_it_stores_a_json_pull_at_the_pulls_second_for_the_sources_model_version(server, quality):
    version = ModelVersion.objects.create(
        system=quality.system, version="2.1.0", artifact_uri="s3://m/2.1.0", content_hash="x"
    )
    server.answer("/status.json", {"model": {"scores": [{"name": "quality", "value": 0.91}]}})
    source = json_source(quality.system, server, quality, model_version=version)
    now = NOW.replace(second=7, microsecond=654321)

    run = metric_source_pull(source_id=source.pk, now=now)

    assert (run.ok, run.points) == (True, 1)
    point = MetricPoint.objects.get()
    assert (point.metric, point.value, point.model_version) == (quality, 0.91, version)
    assert point.at == NOW.replace(second=7)


def test_it_records_a_failed_pull_when_prometheus_answers_500(server, quality):
    server.answer(
        "/api/v1/query",
        {"status": "error", "errorType": "internal", "error": "query engine exploded"},
        status=500,
    )
    source = prometheus_source(quality.system, server)

    run = metric_source_pull(source_id=source.pk, now=NOW)

    assert (run.ok, run.points) == (False, 0)
    assert "HTTP 500" in run.error
    assert "query engine exploded" in run.error
    assert nothing_stored()
    # A failed pull still uses up its slot: the next try is one interval later.
    source.refresh_from_db()
    assert source.next_pull_at == NOW + timedelta(seconds=60)


def test_it_records_a_failed_pull_when_the_server_is_slower_than_the_timeout(server, quality):
    server.answer("/status.json", {"model": {"scores": [{"value": 0.9}]}}, delay=5)
    source = json_source(quality.system, server, quality, timeout_seconds=1)

    run = metric_source_pull(source_id=source.pk, now=NOW)

    assert not run.ok
    assert "timed out after 1 s" in run.error
    assert 900 <= run.duration_ms < 4000
    assert nothing_stored()


def test_it_fails_the_whole_pull_when_a_series_names_an_undeclared_metric(server, quality):
    server.answer(
        "/api/v1/query",
        vector(({"metric_key": "output_quality"}, "0.93"), ({"metric_key": "toxicity"}, "0.02")),
    )
    source = prometheus_source(quality.system, server)

    run = metric_source_pull(source_id=source.pk, now=NOW)

    assert not run.ok
    assert "metric 'toxicity' is not declared for claims-triage" in run.error
    assert "declared: output_quality" in run.error
    assert nothing_stored()


def test_it_fails_a_pull_whose_points_lie_in_the_future(server, quality):
    future = {"status": "success", "data": {"resultType": "scalar", "result": [2e9, "0.9"]}}
    server.answer("/api/v1/query", future)
    source = prometheus_source(quality.system, server, metric=quality, metric_label="")

    run = metric_source_pull(source_id=source.pk, now=NOW)

    assert not run.ok
    assert "check the server's clock" in run.error
    assert nothing_stored()


def test_it_pulls_a_slot_once_when_called_twice(server, quality):
    server.answer("/api/v1/query", vector(({"metric_key": "output_quality"}, "0.93")))
    source = prometheus_source(quality.system, server)

    first = metric_source_pull(source_id=source.pk, now=NOW)
    second = metric_source_pull(source_id=source.pk, now=NOW + timedelta(seconds=30))

    assert first.ok
    assert second is None
    assert len(server.queries()) == 1
    assert PullRun.objects.count() == 1
    assert MetricPoint.objects.count() == 1


def test_it_keeps_a_late_pull_on_the_sources_schedule(server, quality):
    server.answer("/api/v1/query", vector(({"metric_key": "output_quality"}, "0.93")))
    source = prometheus_source(quality.system, server, next_pull_at=NOW)

    metric_source_pull(source_id=source.pk, now=NOW + timedelta(seconds=20))
    source.refresh_from_db()
    assert source.next_pull_at == NOW + timedelta(seconds=60)

    # After an outage the schedule skips the missed slots instead of catching up on them.
    metric_source_pull(source_id=source.pk, now=NOW + timedelta(minutes=10, seconds=5))
    source.refresh_from_db()
    assert source.next_pull_at == NOW + timedelta(minutes=11)


def test_it_leaves_a_disabled_or_deleted_source_alone(server, quality):
    source = json_source(quality.system, server, quality, enabled=False)

    assert metric_source_pull(source_id=source.pk, now=NOW) is None
    assert metric_source_pull(source_id=source.pk + 1000, now=NOW) is None
    assert server.requests == []
    assert not PullRun.objects.exists()


# --- Pulling: the beat task -----------------------------------------------------------


def test_the_beat_task_pulls_every_due_source_and_no_other(server, quality):
    server.answer("/status.json", {"model": {"scores": [{"value": 0.95}]}})
    never_pulled = json_source(quality.system, server, quality, name="never pulled")
    overdue = json_source(
        quality.system, server, quality, name="overdue", next_pull_at=NOW - timedelta(seconds=5)
    )
    json_source(
        quality.system, server, quality, name="not yet", next_pull_at=NOW + timedelta(seconds=30)
    )
    json_source(quality.system, server, quality, name="disabled", enabled=False)

    with time_machine.travel(NOW, tick=False):
        assert list(metric_sources_due(NOW)) == [never_pulled, overdue]
        result = pull_due_sources.delay()

    assert result.get() == 2
    runs = PullRun.objects.order_by("source__name")
    assert [(run.source.name, run.ok, run.started_at) for run in runs] == [
        ("never pulled", True, NOW),
        ("overdue", True, NOW),
    ]
    assert len(server.queries("/status.json")) == 2


@pytest.mark.django_db
def test_beat_looks_for_due_sources_every_15_seconds_on_the_ingest_queue():
    from django_celery_beat.models import PeriodicTask

    from portal.celery import app

    task = PeriodicTask.objects.get(name="registry.tasks.pull_due_sources")
    assert (task.task, task.queue, task.enabled) == (
        "registry.tasks.pull_due_sources",
        "ingest",
        True,
    )
    assert (task.interval.every, task.interval.period) == (15, "seconds")
    assert {"registry.tasks.pull_due_sources", "registry.tasks.pull_source"} <= set(app.tasks)


def test_the_pull_task_returns_quietly_for_a_source_that_is_gone(db):
    pull_source.delay(123456).get()
    assert not PullRun.objects.exists()


# --- Uptime ------------------------------------------------------------------------------


def at(minutes, seconds=0):
    """NOW plus a few minutes and seconds."""
    return NOW + timedelta(minutes=minutes, seconds=seconds)


def test_pull_intervals_count_failed_pulls_as_missed():
    runs = [
        (at(0, 10), True),
        (at(1, 10), False),  # failed, nothing else in minute 1: missed
        (at(2, 5), True),
        (at(2, 50), True),  # a second ok pull in one interval counts once
        (at(3, 10), False),
        (at(3, 40), True),  # an ok retry after a failure makes the interval ok
        (at(5, 10), True),  # in the part-interval at the end: not expected yet
        (at(-1), True),  # before the window
    ]
    counted = pull_intervals(runs, start=NOW, end=at(5, 30), interval_seconds=60)
    assert counted == (3, 5)


def test_pull_intervals_of_an_empty_window_are_zero():
    assert pull_intervals([(NOW, True)], start=NOW, end=NOW, interval_seconds=60) == (0, 0)
    with pytest.raises(ValueError, match="positive"):
        pull_intervals([], start=NOW, end=NOW, interval_seconds=0)


def test_a_failed_pull_leaves_a_missed_interval_in_the_recorded_runs(server, quality):
    source = prometheus_source(quality.system, server)
    server.answer("/api/v1/query", vector(({"metric_key": "output_quality"}, "0.93")))
    metric_source_pull(source_id=source.pk, now=NOW)
    server.answer("/api/v1/query", {"status": "error", "error": "overloaded"}, status=503)
    metric_source_pull(source_id=source.pk, now=NOW + timedelta(seconds=60))

    runs = source.runs.values_list("started_at", "ok")
    assert pull_intervals(runs, start=NOW, end=NOW + timedelta(minutes=2), interval_seconds=60) == (
        1,
        2,
    )
