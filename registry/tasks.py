"""Celery tasks of the registry: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from registry.connectors import metric_source_pull, metric_sources_due
from registry.services import data_source_evaluate, data_sources_evaluate, data_sources_sweep
from registry.services.retention import metric_points_prune


@shared_task(name="registry.tasks.pull_due_sources", ignore_result=True)
def pull_due_sources() -> int:
    """Beat sends this every 15 s: enqueue one pull per source that is due."""
    source_ids = list(metric_sources_due(timezone.now()).values_list("pk", flat=True))
    # Enqueuing a source twice (beat ticks before a busy worker pulls it) is
    # harmless: the service's compare-and-set claim lets only one pull run.
    for source_id in source_ids:
        pull_source.delay(source_id)
    return len(source_ids)


@shared_task(name="registry.tasks.pull_source", ignore_result=True)
def pull_source(source_id: int) -> None:
    """Pull one source; does nothing if it is gone, disabled, not due or already claimed."""
    metric_source_pull(source_id=source_id)


@shared_task(name="registry.tasks.evaluate_source", acks_late=True)
def evaluate_source(source_id: int) -> dict:
    """Run a data source's checks (enqueued after each push); nothing if the source is gone."""
    return data_source_evaluate(source_id=source_id)


@shared_task(name="registry.tasks.sweep_source_freshness", ignore_result=True)
def sweep_source_freshness() -> int:
    """Beat, every minute: a silent source turns red; a push whose task was lost is evaluated."""
    return data_sources_sweep()


@shared_task(name="registry.tasks.evaluate_all_sources", ignore_result=True)
def evaluate_all_sources() -> int:
    """Beat, hourly: every check again, since the 30-day windows move on by themselves."""
    return data_sources_evaluate()


# A first prune of a large backlog may take long; a run stopped by the limit keeps the
# batches it committed, and the next day's run continues from there.
@shared_task(
    name="registry.tasks.prune_metric_points",
    ignore_result=True,
    soft_time_limit=1800,
    time_limit=1860,
)
def prune_metric_points() -> int:
    """Beat, daily: delete raw points past METRIC_RETENTION_DAYS; the rollups stay."""
    return metric_points_prune().deleted
