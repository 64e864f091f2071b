"""One beat cycle of gate and checkpoint evaluation over N systems with running rollouts.

    .venv/bin/python bench/gates.py                    # 100, 1,000 and 5,000 systems
    .venv/bin/python bench/gates.py --systems 1000     # one size

For each size, against a throw-away database (`portal_bench_gates`, dropped first):

1. migrate; seed N systems in Stage 4, each with three required metrics
   (quality, error rate, adoption), a deployed and a candidate version, 30 days
   of hourly and daily rollups per metric, a data source with its checks,
   ownership, and a running rollout at 10% whose candidate has reported every
   five minutes for the last 24 hours (864 raw points per system);
2. VACUUM ANALYZE (what autovacuum does after a bulk load);
3. time, three times each, what beat runs every cycle: `gates_evaluate()`
   (every system's exit criteria, the seven indicators, today's snapshot) and
   `rollouts_evaluate()` (every running rollout's checkpoint), in one Django
   process as a worker runs them; report the median and the slowest.

Target (issue 6): under 10 s for the two together at 1,000 systems.
One JSON line per figure on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

DB = "portal_bench_gates"
RUNS = 3


def seed_inner(systems: int) -> None:
    """Bulk-create the systems and what the gates read; raw SQL for the large tables."""
    common.django_setup()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.utils import timezone

    from governance.models import AccountabilitySignature, AiOpsMember, SystemOwnership
    from registry.models import (
        AISystem,
        DataSource,
        MetricSpec,
        ModelVersion,
        SourceCheck,
    )
    from rollout.models import CheckpointMetric, CohortStep, Rollout

    now = timezone.now()
    users = get_user_model()
    director = users.objects.create_user(username="bench-director")
    director.groups.add(Group.objects.get_or_create(name="Operations director")[0])
    owner = users.objects.create_user(username="bench-owner")
    with transaction.atomic():
        made = AISystem.objects.bulk_create(
            AISystem(
                slug=f"bench-{i}",
                name=f"Bench system {i}",
                business_unit="Benchmarks",
                risk_tier="medium",
                stage="staged_rollout",
            )
            for i in range(systems)
        )
        deployed = ModelVersion.objects.bulk_create(
            ModelVersion(
                system=s,
                version="1.0.0",
                artifact_uri="s3://b/1",
                status="deployed",
                content_hash="0" * 64,
            )
            for s in made
        )
        candidates = ModelVersion.objects.bulk_create(
            ModelVersion(system=s, version="2.0.0", artifact_uri="s3://b/2", content_hash="1" * 64)
            for s in made
        )
        for system, version in zip(made, deployed, strict=True):
            system.deployed_version = version
        AISystem.objects.bulk_update(made, ["deployed_version"])
        specs = MetricSpec.objects.bulk_create(
            MetricSpec(
                system=s,
                key=key,
                name=key,
                kind=kind,
                direction=direction,
                warning=warning,
                critical=critical,
                aggregation="mean",
            )
            for s in made
            for key, kind, direction, warning, critical in (
                ("output_quality", "quality", "higher_is_better", 0.9, 0.85),
                ("error_rate", "error_rate", "lower_is_better", 0.01, 0.02),
                ("adoption", "adoption", "higher_is_better", 0.3, 0.15),
            )
        )
        sources = DataSource.objects.bulk_create(
            DataSource(
                slug=f"bench-source-{i}",
                name=f"Source {i}",
                kind="database",
                owner=owner,
                expected_schema={"a": "float"},
            )
            for i in range(systems)
        )
        DataSource.systems.through.objects.bulk_create(
            DataSource.systems.through(datasource=source, aisystem=system)
            for source, system in zip(sources, made, strict=True)
        )
        SourceCheck.objects.bulk_create(
            SourceCheck(
                source=source,
                kind=kind,
                status="ok",
                value=value,
                detail="",
                fields=fields,
                since=now,
                evaluated_at=now,
            )
            for source in sources
            for kind, value, fields in (
                ("freshness", 60.0, []),
                ("uptime", 1.0, [{"up": 720, "expected": 720}]),
                ("integration", 0.001, [{"passed": 999, "failed": 1}]),
            )
        )
        SystemOwnership.objects.bulk_create(
            SystemOwnership(system=s, owner=owner, budget_authority="HKD 1m", statement="x")
            for s in made
        )
        AccountabilitySignature.objects.bulk_create(
            AccountabilitySignature(
                system=s,
                signer=owner,
                statement_text="x",
                statement_hash="0" * 64,
                budget_authority="HKD 1m",
                signed_at=now,
                expires_at=now + timedelta(days=365),
            )
            for s in made
        )
        AiOpsMember.objects.bulk_create(AiOpsMember(system=s, user=owner) for s in made)
        rollouts = Rollout.objects.bulk_create(
            Rollout(
                system=s,
                candidate=c,
                previous=d,
                state="running",
                cohorts=[10, 25, 50, 100],
                observation_seconds=7 * 86400,
                min_points=30,
                created_by=director,
                created_at=now - timedelta(days=1),
                started_at=now - timedelta(days=1),
                updated_at=now,
            )
            for s, c, d in zip(made, candidates, deployed, strict=True)
        )
        CohortStep.objects.bulk_create(
            CohortStep(
                rollout=r,
                index=i,
                percent=p,
                state="observing" if i == 0 else "pending",
                started_at=now - timedelta(days=1) if i == 0 else None,
            )
            for r in rollouts
            for i, p in enumerate([10, 25, 50, 100])
        )
        by_system = {}
        for spec in specs:
            by_system.setdefault(spec.system_id, []).append(spec)
        CheckpointMetric.objects.bulk_create(
            CheckpointMetric(rollout=r, metric=spec, threshold=spec.critical)
            for r in rollouts
            for spec in by_system[r.system_id]
        )
    common.log(f"seeded {systems} systems; writing rollups and candidate points")
    with connection.cursor() as cursor:
        # 30 days of hourly and daily rollups per metric for the deployed version.
        cursor.execute(
            """
            INSERT INTO registry_metricrollup
                (metric_id, model_version_id, version_key, granularity, bucket_start,
                 count, sum, min, max, last_at, last_value, sketch)
            SELECT m.id, s.deployed_version_id, s.deployed_version_id, 'hour', b,
                   60, 60 * 0.93, 0.9, 0.96, b + interval '59 minutes', 0.93, NULL
            FROM registry_metricspec m JOIN registry_aisystem s ON s.id = m.system_id,
                 generate_series(date_trunc('hour', now()) - interval '30 days',
                                 date_trunc('hour', now()), interval '1 hour') b
            """
        )
        cursor.execute(
            """
            INSERT INTO registry_metricrollup
                (metric_id, model_version_id, version_key, granularity, bucket_start,
                 count, sum, min, max, last_at, last_value, sketch)
            SELECT m.id, s.deployed_version_id, s.deployed_version_id, 'day', b,
                   1440, 1440 * 0.93, 0.9, 0.96, b + interval '23 hours', 0.93, NULL
            FROM registry_metricspec m JOIN registry_aisystem s ON s.id = m.system_id,
                 generate_series(date_trunc('day', now()) - interval '30 days',
                                 date_trunc('day', now()), interval '1 day') b
            """
        )
        # The candidate's raw points since its cohort began: every 5 minutes for 24 h.
        cursor.execute(
            """
            INSERT INTO registry_metricpoint
                (system_id, metric_id, model_version_id, version_key, at, value, received_at)
            SELECT m.system_id, m.id, v.id, v.id, t,
                   CASE m.key WHEN 'output_quality' THEN 0.93 WHEN 'error_rate' THEN 0.004
                        ELSE 0.45 END,
                   now()
            FROM registry_metricspec m
                 JOIN registry_modelversion v ON v.system_id = m.system_id AND v.version = '2.0.0',
                 generate_series(now() - interval '24 hours', now(), interval '5 minutes') t
            """
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM registry_metricrollup")
        rollups = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM registry_metricpoint")
        points = cursor.fetchone()[0]
    print(json.dumps({"rollups": rollups, "points": points}))


def measure_inner(systems: int) -> None:
    """Time what one beat cycle runs, RUNS times, in this one process."""
    common.django_setup()
    from django.db import connection

    from rollout import services

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    gates, checkpoints = [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        count = services.gates_evaluate()
        gates.append(time.perf_counter() - started)
        started = time.perf_counter()
        evaluated = services.rollouts_evaluate()
        checkpoints.append(time.perf_counter() - started)
        assert count == systems and evaluated == systems, (count, evaluated)
    cycles = [g + c for g, c in zip(gates, checkpoints, strict=True)]
    print(
        json.dumps(
            {
                "gates_s": round(statistics.median(gates), 3),
                "checkpoints_s": round(statistics.median(checkpoints), 3),
                "cycle_s": round(statistics.median(cycles), 3),
                "cycle_max_s": round(max(cycles), 3),
            }
        )
    )


def run(systems: int) -> dict:
    common.drop_database(DB)
    common.create_database(DB)
    try:
        common.migrate(DB)
        started = time.perf_counter()
        seeded = json.loads(
            common.run_django(Path(__file__), ["seed", str(systems)], db=DB)
            .strip()
            .splitlines()[-1]
        )
        common.log(f"seeded in {time.perf_counter() - started:.0f} s: {seeded}")
        figures = json.loads(
            common.run_django(Path(__file__), ["measure", str(systems)], db=DB)
            .strip()
            .splitlines()[-1]
        )
    finally:
        common.drop_database(DB)
    return {"bench": "gates", "systems": systems, **seeded, **figures, "target_s": 10}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="?", choices=["seed", "measure"])
    parser.add_argument("arg", nargs="?")
    parser.add_argument("--systems", type=int, action="append")
    args = parser.parse_args()
    if args.inner:
        (seed_inner if args.command == "seed" else measure_inner)(int(args.arg))
        return
    common.emit(common.machine())
    for systems in args.systems or [100, 1000, 5000]:
        common.log(f"{systems} systems")
        common.emit(run(systems))


if __name__ == "__main__":
    main()
