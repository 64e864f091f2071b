"""Celery tasks of the registry: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from registry.connectors import metric_source_pull, metric_sources_due


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
