"""Signal receivers of the rollout app: a batch for a candidate version triggers its checkpoint."""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError

from registry.signals import metrics_ingested
from rollout.choices import RolloutState
from rollout.models import Rollout
from rollout.tasks import evaluate_rollout

logger = logging.getLogger(__name__)


def evaluate_after_ingest(sender, *, version_id=None, **kwargs) -> None:
    """A batch landed (after its commit): a running rollout of that version is judged now."""
    if version_id is None:
        return
    for rollout_id in Rollout.objects.filter(
        candidate_id=version_id, state=RolloutState.RUNNING
    ).values_list("pk", flat=True):
        try:
            evaluate_rollout.delay(rollout_id)
        except OperationalError:  # broker down: the minute sweep judges it anyway
            logger.warning("could not enqueue the checkpoint of rollout %s", rollout_id)


metrics_ingested.connect(evaluate_after_ingest, dispatch_uid="rollout.evaluate_after_ingest")
