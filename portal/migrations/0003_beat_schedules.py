"""The portal's periodic tasks, as django-celery-beat rows (editable in the admin).

Each later app adds its own schedules in its own data migration. Rows are
created only when missing, so an administrator's edits survive re-migration.
"""

import datetime

from django.db import migrations

# A start time in the past makes beat send each task as soon as it first starts,
# instead of one full interval after the migration ran.
START = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)

SCHEDULES = [
    # (task name, seconds, queue, description)
    (
        "portal.tasks.heartbeat",
        60,
        "default",
        "Proves beat, broker and worker work end to end (see `manage.py status`).",
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
            },
        )


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[task for task, *_ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0002_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
