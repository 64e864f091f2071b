"""Create and remove django-celery-beat schedules from data migrations.

Used by each app's schedule migration, so that every schedule is made the
same way: only when missing (an administrator's edits survive), enabled, with a
start time in the past so beat sends the task as soon as it first starts.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

START = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class Schedule:
    """One periodic task: its task name (also the row's name), period, queue and purpose."""

    task: str
    seconds: int
    queue: str
    description: str
    expire_seconds: int | None = None


def schedules_create(apps, schedules: list[Schedule]) -> None:
    """Create each schedule unless a row of that name exists (migration-safe models)."""
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for schedule in schedules:
        every, _ = interval_model.objects.get_or_create(every=schedule.seconds, period="seconds")
        task_model.objects.get_or_create(
            name=schedule.task,
            defaults={
                "task": schedule.task,
                "interval": every,
                "queue": schedule.queue,
                "description": schedule.description,
                "enabled": True,
                "start_time": START,
                "expire_seconds": schedule.expire_seconds,
            },
        )


def schedules_remove(apps, schedules: list[Schedule]) -> None:
    """Delete the rows of these schedules (reverse migration)."""
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    task_model.objects.filter(name__in=[schedule.task for schedule in schedules]).delete()
