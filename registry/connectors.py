"""Pull connectors: Celery beat reads metrics from Prometheus or a JSON endpoint.

Three layers, so that each is tested on its own:

- pure parsers (`parse_prometheus_response`, `parse_json_response`) turn a
  decoded body into values, or raise ConnectorError with a message an
  operator can act on;
- `fetch_json` does the HTTP GET (stdlib urllib, bounded in time and size);
- the service `metric_source_pull` claims a source's slot, fetches, parses,
  stores through registry.writer and records a PullRun. It never raises for a
  failed pull: the failure is the PullRun's error, and it counts as a missed
  interval for pipeline uptime (`pull_intervals`).

Scheduling: `next_pull_at` moves along the source's own grid (previous slot +
n x interval), not from the moment the pull happened to run, so that beat's
15-second tick does not make pulls drift and skip an interval now and then.
"""

from __future__ import annotations

import json
import logging
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from registry.choices import Aggregation, SourceKind
from registry.models import AISystem, MetricSource, MetricSpec, PullRun
from registry.signals import metrics_ingested
from registry.validation import FUTURE_TOLERANCE, ValidPoint
from registry.writer import store_points

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 5 * 1024 * 1024
MAX_ERROR_CHARS = 2000
PROMETHEUS_QUERY_PATH = "/api/v1/query"
USER_AGENT = "ai-governance-portal/1 (metric pull connector)"
_READ_CHUNK = 64 * 1024


class ConnectorError(Exception):
    """A pull that cannot give points: the message is recorded on the PullRun."""


# --- Parsing (pure) ----------------------------------------------------------------


def _sample_value(raw: Any, where: str) -> float:
    """A finite float from a Prometheus sample value (a string such as "0.93")."""
    # bool is an int in Python; a true/false here is not a measurement.
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ConnectorError(f"{where}: the value {raw!r} is not a number")
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        raise ConnectorError(f"{where}: the value {str(raw)[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise ConnectorError(f"{where}: the value is {raw!r}; only finite numbers can be stored")
    return value


def _sample(raw: Any, where: str) -> tuple[datetime, float]:
    """The time and value of one Prometheus sample, `[unix_seconds, "value"]`."""
    if not isinstance(raw, list) or len(raw) != 2:
        raise ConnectorError(f"{where}: expected a sample [timestamp, value], got {raw!r:.80}")
    stamp, value = raw
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not math.isfinite(stamp):
        raise ConnectorError(f"{where}: the timestamp {stamp!r:.40} is not a Unix time")
    try:
        at = datetime.fromtimestamp(stamp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ConnectorError(f"{where}: the timestamp {stamp!r} is out of range") from None
    return at, _sample_value(value, where)


def parse_prometheus_response(
    body: Any, *, metric_label: str | None, default_key: str | None
) -> list[tuple[str, datetime, float]]:
    """(metric key, time, value) for each series of a /api/v1/query answer.

    A series' key is the value of its `metric_label` label when that is set
    (falling back to `default_key` for a series without the label), else
    `default_key`. Raises ConnectorError for an error answer, an unknown
    shape, NaN or infinite values, no series at all, or two series that map
    to the same key (the query must aggregate them).
    """
    if not isinstance(body, dict):
        raise ConnectorError("the answer is not a Prometheus API object")
    status = body.get("status")
    if status == "error":
        kind = body.get("errorType") or "error"
        raise ConnectorError(f"Prometheus answered {kind}: {str(body.get('error', ''))[:500]}")
    if status != "success":
        raise ConnectorError(f"the answer's status is {status!r}, not 'success'")
    data = body.get("data")
    if not isinstance(data, dict):
        raise ConnectorError("the answer has no 'data' object")
    result_type = data.get("resultType")
    result = data.get("result")

    if result_type == "scalar":
        if not default_key:
            raise ConnectorError("the query returned a scalar, but the source names no metric")
        at, value = _sample(result, "scalar")
        return [(default_key, at, value)]
    if result_type != "vector":
        raise ConnectorError(
            f"the query returned a {result_type!r}; an instant query must return a vector "
            "or a scalar (drop any range selector such as [5m] from the outer expression)"
        )
    if not isinstance(result, list):
        raise ConnectorError("the vector's 'result' is not a list")
    if not result:
        raise ConnectorError("the query returned no series")

    points: list[tuple[str, datetime, float]] = []
    seen: dict[str, dict] = {}
    for index, series in enumerate(result):
        where = f"series {index}"
        if not isinstance(series, dict):
            raise ConnectorError(f"{where} is not an object")
        labels = series.get("metric")
        if not isinstance(labels, dict):
            labels = {}
        if "histogram" in series and "value" not in series:
            raise ConnectorError(f"{where} is a native histogram; query a number from it instead")
        key = labels.get(metric_label) if metric_label else None
        key = key or default_key
        if not key:
            raise ConnectorError(
                f"{where} {_labels_text(labels)} has no {metric_label!r} label to name its metric"
            )
        if key in seen:
            raise ConnectorError(
                f"two series map to metric {key!r}: {_labels_text(seen[key])} and "
                f"{_labels_text(labels)}; aggregate them in the query (e.g. avg by (...)) "
                "or set the metric key label"
            )
        seen[key] = labels
        at, value = _sample(series.get("value"), f"{where} {_labels_text(labels)}")
        points.append((str(key), at, value))
    return points


def _labels_text(labels: dict) -> str:
    """Prometheus-style `{a="1", b="2"}`, cut short for error messages."""
    text = ", ".join(f'{name}="{value}"' for name, value in sorted(labels.items()))
    return "{" + (text if len(text) <= 120 else text[:117] + "...") + "}"


def parse_json_response(body: Any, *, path: str) -> float:
    """The number at a dotted `path` in a decoded JSON body, e.g. `items.0.value`.

    A segment of digits indexes a list; an empty path means the body itself.
    A numeric string ("0.93") counts as a number. Raises ConnectorError naming
    the segment where the path stops matching.
    """
    node = body
    walked: list[str] = []
    segments = path.strip().split(".") if path.strip() else []
    for segment in segments:
        here = ".".join(walked) or "the top level"
        if isinstance(node, dict):
            if segment not in node:
                keys = ", ".join(sorted(map(str, node))[:20]) or "none"
                raise ConnectorError(f"no key {segment!r} at {here} (keys there: {keys})")
            node = node[segment]
        elif isinstance(node, list):
            if not segment.isdigit():
                raise ConnectorError(f"{here} is a list; {segment!r} is not an index")
            if int(segment) >= len(node):
                raise ConnectorError(
                    f"index {segment} is out of range at {here} (the list has {len(node)} items)"
                )
            node = node[int(segment)]
        else:
            raise ConnectorError(f"{here} is a {_json_type(node)}, so {segment!r} cannot follow")
        walked.append(segment)
    where = f"at {path.strip()!r}" if path.strip() else "the body"
    if isinstance(node, bool) or not isinstance(node, int | float | str):
        raise ConnectorError(f"{where} is a {_json_type(node)}, not a number")
    return _sample_value(node, where)


def _json_type(node: Any) -> str:
    """The JSON name of a decoded value's type."""
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(node), "number")


# --- HTTP --------------------------------------------------------------------------


def _with_params(url: str, params: dict[str, str] | None) -> str:
    """`url` with `params` added to whatever query string it already has."""
    if not params:
        return url
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def fetch_json(url: str, *, params: dict[str, str] | None = None, timeout: float) -> Any:
    """GET `url` and decode its JSON body; ConnectorError for anything else.

    The whole exchange must finish within `timeout` seconds and the body must
    fit in MAX_RESPONSE_BYTES, so a slow or huge answer cannot hold a worker.
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        # urllib would also open file:// and ftp:// URLs; a source may not read those.
        raise ConnectorError(f"only http and https URLs can be pulled, not {url[:80]!r}")
    full_url = _with_params(url, params)
    request = urllib.request.Request(
        full_url, headers={"Accept": "application/json", "User-Agent": USER_AGENT}
    )
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = _read_capped(response, deadline)
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc)
        raise ConnectorError(f"HTTP {exc.code} from {url}{detail}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise ConnectorError(f"timed out after {timeout:g} s connecting to {url}") from None
        raise ConnectorError(f"cannot reach {url}: {exc.reason}") from None
    except TimeoutError:
        raise ConnectorError(f"timed out after {timeout:g} s waiting for {url}") from None
    except OSError as exc:
        raise ConnectorError(f"connection to {url} failed: {exc}") from None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConnectorError(f"{url} did not answer JSON: {exc}") from None


def _read_capped(response, deadline: float) -> bytes:
    """The response body, refusing more than MAX_RESPONSE_BYTES or reading past the deadline."""
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > MAX_RESPONSE_BYTES:
        raise ConnectorError(
            f"the answer is {int(length):,} bytes; at most {MAX_RESPONSE_BYTES:,} are read"
        )
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(_READ_CHUNK):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise ConnectorError(f"the answer is larger than {MAX_RESPONSE_BYTES:,} bytes")
        # The socket timeout bounds each read; this bounds a server that trickles.
        if time.monotonic() > deadline:
            raise TimeoutError
        chunks.append(chunk)
    return b"".join(chunks)


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """What an error answer said, briefly: Prometheus's `error` field or the body's start."""
    try:
        text = exc.read(4096).decode("utf-8", "replace")
    except OSError:
        return ""
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict) and decoded.get("error"):
        text = f"{decoded.get('errorType', 'error')}: {decoded['error']}"
    text = " ".join(text.split())
    return f": {text[:300]}" if text else ""


def prometheus_query_url(url: str) -> str:
    """The instant-query endpoint under a Prometheus base URL (kept if already given)."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith(PROMETHEUS_QUERY_PATH):
        path += PROMETHEUS_QUERY_PATH
    return urllib.parse.urlunsplit(parts._replace(path=path))


# --- Service -------------------------------------------------------------------------


def metric_sources_due(now: datetime) -> QuerySet[MetricSource]:
    """Enabled sources whose next pull is due (or never scheduled), longest waiting first."""
    return (
        MetricSource.objects.filter(enabled=True)
        .filter(Q(next_pull_at__isnull=True) | Q(next_pull_at__lte=now))
        .order_by(F("next_pull_at").asc(nulls_first=True), "pk")
    )


def _next_slot(previous: datetime | None, now: datetime, interval: timedelta) -> datetime:
    """The first slot after `now` on the grid that `previous` set (now + interval if none)."""
    if previous is None or previous > now:
        return now + interval
    missed = (now - previous) // interval
    return previous + (missed + 1) * interval


def metric_source_pull(*, source_id: int, now: datetime | None = None) -> PullRun | None:
    """Pull one source once, store its points and record the run; None if not ours to pull.

    Returns None, doing nothing, when the source is gone, disabled, not due,
    or another worker has claimed this slot. Every other outcome is a PullRun,
    ok or failed; a failed pull stores nothing and raises nothing.
    """
    now = now or timezone.now()
    source = MetricSource.objects.select_related("system", "metric").filter(pk=source_id).first()
    if source is None or not source.enabled:
        return None
    previous = source.next_pull_at
    if previous is not None and previous > now:
        return None
    # Compare-and-set: of two workers that read the same `previous`, only one
    # moves it on, so a slot is pulled once. The claim commits before the HTTP
    # call, so no transaction stays open while a slow server answers.
    claimed = (
        MetricSource.objects.filter(pk=source.pk, enabled=True, next_pull_at=previous)
        if previous is not None
        else MetricSource.objects.filter(pk=source.pk, enabled=True, next_pull_at__isnull=True)
    ).update(next_pull_at=_next_slot(previous, now, timedelta(seconds=source.interval_seconds)))
    if claimed != 1:
        return None

    started = time.monotonic()
    try:
        points, sketch_ids = _fetch_points(source, now)
        return _store(source, points, sketch_ids, now=now, started=started)
    except ConnectorError as exc:
        error = str(exc)
    except Exception as exc:
        # A bug or a database error must still leave a failed run behind (and
        # not kill the worker): the run list is where an operator looks first.
        logger.exception("pull of metric source %s failed unexpectedly", source.pk)
        error = f"internal error: {type(exc).__name__}: {exc}"
    logger.warning("pull of metric source %s (%s) failed: %s", source.pk, source.name, error)
    return PullRun.objects.create(
        source=source,
        started_at=now,
        duration_ms=_elapsed_ms(started),
        ok=False,
        points=0,
        error=error[:MAX_ERROR_CHARS],
    )


def _elapsed_ms(started: float) -> int:
    """Milliseconds since a time.monotonic() reading."""
    return max(0, round((time.monotonic() - started) * 1000))


def _fetch_points(source: MetricSource, now: datetime) -> tuple[list[ValidPoint], frozenset[int]]:
    """The source's current points and which of their metrics keep a p95 sketch."""
    default_key = source.metric.key if source.metric else None
    timeout = float(source.timeout_seconds or 1)
    if source.kind == SourceKind.PROMETHEUS:
        if not source.query.strip():
            raise ConnectorError("the source has no PromQL query")
        body = fetch_json(
            prometheus_query_url(source.url), params={"query": source.query}, timeout=timeout
        )
        samples = parse_prometheus_response(
            body, metric_label=source.metric_label or None, default_key=default_key
        )
    elif source.kind == SourceKind.JSON:
        if not default_key:
            raise ConnectorError("a JSON source must name the metric it stores")
        value = parse_json_response(fetch_json(source.url, timeout=timeout), path=source.json_path)
        # The endpoint gives a value, not a time: the pull's second is the point's time.
        samples = [(default_key, now.replace(microsecond=0), value)]
    else:
        raise ConnectorError(f"unknown source kind {source.kind!r}")

    specs = list(
        MetricSpec.objects.filter(system_id=source.system_id).values_list(
            "key", "pk", "aggregation"
        )
    )
    metric_ids = {key: pk for key, pk, _ in specs}
    earliest = now - timedelta(days=settings.METRIC_RETENTION_DAYS)
    latest = now + FUTURE_TOLERANCE
    points = []
    for key, at, value in samples:
        if key not in metric_ids:
            declared = ", ".join(sorted(metric_ids)) or "(none declared)"
            raise ConnectorError(
                f"metric {key[:64]!r} is not declared for {source.system.slug}; "
                f"declared: {declared}"
            )
        # The same time window as the push API, so a skewed clock is caught alike.
        if not earliest <= at <= latest:
            raise ConnectorError(
                f"metric {key!r}: the time {at:%Y-%m-%dT%H:%M:%SZ} is more than 5 minutes "
                "in the future or older than the retention period; check the server's clock"
            )
        points.append(ValidPoint(metric_id=metric_ids[key], at=at, value=value))
    sketch_ids = frozenset(pk for _, pk, aggregation in specs if aggregation == Aggregation.P95)
    return points, sketch_ids


def _store(
    source: MetricSource,
    points: list[ValidPoint],
    sketch_ids: frozenset[int],
    *,
    now: datetime,
    started: float,
) -> PullRun:
    """Write the points, their rollups and the ok run in one transaction."""
    with transaction.atomic():
        result = store_points(
            system_id=source.system_id,
            version_id=source.model_version_id,
            points=points,
            received_at=now,
            sketch_metric_ids=sketch_ids,
        )
        run = PullRun.objects.create(
            source=source,
            started_at=now,
            duration_ms=_elapsed_ms(started),
            ok=True,
            points=result.accepted,
        )
        touched = sorted({point.metric_id for point in points})
        # The same announcement as a pushed batch, so evaluation treats both alike.
        transaction.on_commit(
            lambda: metrics_ingested.send(
                sender=AISystem,
                system_id=source.system_id,
                version_id=source.model_version_id,
                metric_ids=touched,
            )
        )
    return run


# --- Uptime (pure) -----------------------------------------------------------------


def pull_intervals(
    runs: Iterable[tuple[datetime, bool]],
    *,
    start: datetime,
    end: datetime,
    interval_seconds: int,
) -> tuple[int, int]:
    """(intervals with an ok pull, whole intervals expected) in [start, end).

    `runs` are (started_at, ok) pairs, e.g. PullRun `values_list("started_at",
    "ok")`. A failed pull counts as a missed interval; two ok pulls in one
    interval count once; a trailing part-interval is not expected yet. Start
    the window on the source's schedule for pulls to fall one per interval.
    """
    if interval_seconds <= 0:
        raise ValueError("interval_seconds must be positive")
    width = timedelta(seconds=interval_seconds)
    expected = max(0, (end - start) // width)
    covered = {
        (started_at - start) // width
        for started_at, ok in runs
        if ok and start <= started_at < start + expected * width
    }
    return len(covered), expected
