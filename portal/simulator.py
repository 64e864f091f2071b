"""The live simulator: demo pipelines pushing through the real REST API, now and then badly.

`manage.py simulate` (started by `make run` unless SIMULATE=0) gives every
demo system a pipeline token of its own and every few seconds pushes a point
per metric for its deployed version and, while a rollout runs, its candidate;
healthy sources get a delivery now and then, so they stay fresh. Every
`breach_every` seconds it sends one bad batch for the rollout's candidate,
large enough to pull the cohort's output quality below its threshold, so a
newcomer sees a checkpoint fail and the rollout pause.

The values come from the same generator as the demo's history; the tokens are
made through the audited service and the previous run's are revoked first.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Q

from portal.demo import DEMO_METRICS, _demo_value
from registry.models import AISystem, ApiToken, DataSource, MetricPoint
from registry.services import api_token_create, api_token_revoke
from rollout.models import Rollout

TOKEN_NAME = "simulator"
# Sources the demo keeps as they are: the stream that stopped stays stopped.
QUIET_SOURCES = frozenset({"branch-scanner-feed"})
DELIVERY_EVERY = timedelta(minutes=10)
MAX_BATCH = 10_000


@dataclass
class Target:
    """A system the simulator pushes for, with its token and its metrics' generators."""

    slug: str
    token: str
    metrics: list[tuple]


@dataclass
class Simulator:
    """Pushes one tick of metrics; sends a breach when one is due."""

    base_url: str
    systems: list[Target]
    sources: dict[str, str]
    log: Callable[[str], None]
    breach_every: timedelta | None
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    last_delivery: datetime | None = None
    last_breach: datetime | None = None

    def post(self, path: str, token: str, body: dict) -> dict | None:
        """POST JSON with the token; log and carry on when the portal refuses or is away."""
        request = urllib.request.Request(
            f"{self.base_url}/api/v1/{path}",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            self.log(f"{path}: {error.code} {error.read()[:300].decode(errors='replace')}")
        except OSError as error:
            self.log(f"{path}: {error}")
        return None

    def tick(self, now: datetime) -> int:
        """One round: every system's metrics, deliveries when due, a breach when due."""
        sent = 0
        for target in self.systems:
            for version in versions_to_feed(target.slug):
                points = [
                    {
                        "metric": metric[0],
                        "value": _demo_value(self.rng, metric, 0, incident=False),
                        "at": now.isoformat(),
                    }
                    for metric in target.metrics
                ]
                result = self.post(
                    f"systems/{target.slug}/metrics/",
                    target.token,
                    {"model_version": version, "points": points},
                )
                sent += result["accepted"] if result else 0
        if self.last_delivery is None or now - self.last_delivery >= DELIVERY_EVERY:
            for slug, token in self.sources.items():
                self.post(
                    f"sources/{slug}/deliveries/",
                    token,
                    {"at": now.isoformat(), "rows": self.rng.randrange(5_000, 50_000)},
                )
            self.last_delivery = now
        if self.breach_every and (
            self.last_breach is None or now - self.last_breach >= self.breach_every
        ):
            if self.last_breach is not None:  # the first breach waits one period
                self.breach(now)
            self.last_breach = now
        return sent

    def breach(self, now: datetime) -> int:
        """A bad batch for each running rollout's candidate: as many bad points as good ones."""
        sent = 0
        for rollout in running_rollouts():
            target = next((t for t in self.systems if t.slug == rollout.system.slug), None)
            step = rollout.steps.filter(index=rollout.current_index).first()
            if target is None or step is None or step.started_at is None:
                continue
            quality = (
                rollout.checkpoint_metrics.select_related("metric")
                .filter(metric__kind="quality")
                .first()
            )
            if quality is None:
                continue
            good = MetricPoint.objects.filter(
                metric_id=quality.metric_id,
                version_key=rollout.candidate_id,
                at__gte=step.started_at,
            ).count()
            bad = max(good + 10, 20)
            value = quality.threshold * 0.5
            for start in range(0, bad, MAX_BATCH):
                points = [
                    {
                        "metric": quality.metric.key,
                        "value": value,
                        "at": (now - timedelta(microseconds=i)).isoformat(),
                    }
                    for i in range(start, min(bad, start + MAX_BATCH))
                ]
                result = self.post(
                    f"systems/{target.slug}/metrics/",
                    target.token,
                    {"model_version": rollout.candidate.version, "points": points},
                )
                sent += result["accepted"] if result else 0
            self.log(
                f"breach: {bad} points of {quality.metric.key}={value:g} for "
                f"{rollout.system.slug} {rollout.candidate.version} at {step.percent}%"
            )
        return sent


def running_rollouts():
    """The running rollouts (not rehearsals) whose candidates the simulator feeds."""
    return Rollout.objects.filter(state="running", is_rehearsal=False).select_related(
        "system", "candidate"
    )


def versions_to_feed(slug: str) -> list[str]:
    """The deployed version, and the candidate of a running or paused rollout."""
    system = AISystem.objects.select_related("deployed_version").get(slug=slug)
    versions = [system.deployed_version.version] if system.deployed_version else []
    rollout = (
        Rollout.objects.filter(system=system, state__in=["running", "paused"], is_rehearsal=False)
        .select_related("candidate")
        .first()
    )
    if rollout is not None and rollout.candidate.version not in versions:
        versions.append(rollout.candidate.version)
    return versions


def simulator_tokens(*, name: str = TOKEN_NAME) -> tuple[list[Target], dict[str, str]]:
    """Fresh tokens for every demo system and healthy source; the previous run's are revoked."""
    simulator_tokens_revoke(name=name)
    metrics = {metric[0]: metric for metric in DEMO_METRICS}
    systems = []
    for system in AISystem.objects.filter(
        Q(deployed_version__isnull=False) | Q(rollouts__state="running")
    ).distinct():
        keys = set(system.metric_specs.values_list("key", flat=True))
        known = [metrics[key] for key in sorted(keys) if key in metrics]
        if not known:
            continue
        _token, secret = api_token_create(by=None, name=name, system=system)
        systems.append(Target(system.slug, secret, known))
    sources = {}
    for source in DataSource.objects.exclude(slug__in=QUIET_SOURCES):
        _token, secret = api_token_create(by=None, name=name, data_source=source)
        sources[source.slug] = secret
    return systems, sources


def simulator_tokens_revoke(*, name: str = TOKEN_NAME) -> int:
    """Revoke the live tokens a simulator run made under `name`."""
    tokens = list(ApiToken.objects.filter(name=name, revoked_at__isnull=True))
    for token in tokens:
        api_token_revoke(token=token, by=None)
    return len(tokens)


def utcnow() -> datetime:
    return datetime.now(UTC)
