"""Models of the portal shell."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """The last time a Celery worker ran the beat-scheduled heartbeat task.

    One row per worker node name; a fresh row proves that beat schedules,
    the broker delivers and a worker executes, end to end.
    """

    hostname = models.CharField(_("worker"), max_length=255, unique=True)
    seen_at = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"
