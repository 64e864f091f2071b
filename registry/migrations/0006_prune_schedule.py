"""Beat schedule of the retention: raw metric points past the retention are pruned daily."""

from django.db import migrations

from core.beat import Schedule, schedules_create, schedules_remove

SCHEDULES = [
    Schedule(
        task="registry.tasks.prune_metric_points",
        seconds=86400,
        queue="ingest",
        description="Deletes raw metric points older than METRIC_RETENTION_DAYS in bounded "
        "batches, after checking (and if need be rebuilding) their days' rollups, which stay.",
        # A run not taken within half a day is superseded by the next day's one.
        expire_seconds=43200,
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0005_source_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: schedules_create(apps, SCHEDULES),
            lambda apps, schema_editor: schedules_remove(apps, SCHEDULES),
        )
    ]
