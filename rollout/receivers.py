"""Signal receivers of the rollout app: a batch for a candidate version triggers its checkpoint."""

from __future__ import annotations

from core.coalesce import enqueue_coalesced
from registry.signals import metrics_ingested
from rollout.choices import RolloutState
from rollout.models import Rollout
from rollout.tasks import evaluate_rollout


def evaluate_after_ingest(sender, *, version_id=None, **kwargs) -> None:
    """A batch landed (after its commit): a running rollout of that version is judged now.

    Unless that rollout's evaluation is still queued: it will read this batch too
    (core/coalesce.py). Broker down: the minute sweep judges it anyway.
    """
    if version_id is None:
        return
    for rollout_id in Rollout.objects.filter(
        candidate_id=version_id, state=RolloutState.RUNNING
    ).values_list("pk", flat=True):
        enqueue_coalesced(evaluate_rollout, rollout_id, ident=rollout_id)


metrics_ingested.connect(evaluate_after_ingest, dispatch_uid="rollout.evaluate_after_ingest")
