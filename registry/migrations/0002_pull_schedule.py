"""The registry's periodic task: beat looks for due metric sources every 15 seconds."""

from django.db import migrations

from core.beat import Schedule, schedules_create, schedules_remove

SCHEDULES = [
    Schedule(
        task="registry.tasks.pull_due_sources",
        seconds=15,
        queue="ingest",
        description="Enqueues a pull for each enabled metric source whose next pull is due.",
        # A sweep not taken within one tick is superseded by the next one; without
        # this, stopped workers come back to a pile of stale sweeps.
        expire_seconds=15,
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: schedules_create(apps, SCHEDULES),
            lambda apps, schema_editor: schedules_remove(apps, SCHEDULES),
        )
    ]
