"""The registry's periodic task: beat looks for due metric sources every 15 seconds.

The row is created only when missing, so an administrator's edits survive
re-migration (same pattern as portal/migrations/0003_beat_schedules.py).
"""

import datetime

from django.db import migrations

# A start time in the past makes beat send the task as soon as it first starts,
# instead of one full interval after the migration ran.
START = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)

SCHEDULES = [
    # (task name, seconds, queue, description)
    (
        "registry.tasks.pull_due_sources",
        15,
        "ingest",
        "Enqueues a pull for each enabled metric source whose next pull is due.",
    ),
]


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for task, seconds, queue, description in SCHEDULES:
        every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        PeriodicTask.objects.get_or_create(
            name=task,
            defaults={
                "task": task,
                "interval": every,
                "queue": queue,
                "description": description,
                "enabled": True,
                "start_time": START,
                # A sweep not taken within one tick is superseded by the next one;
                # without this, stopped workers come back to a pile of stale sweeps.
                "expire_seconds": seconds,
            },
        )


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[task for task, *_ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
