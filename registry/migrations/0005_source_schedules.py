"""Beat schedules of the data-quality checks: freshness every minute, everything hourly."""

from django.db import migrations

from core.beat import Schedule, schedules_create, schedules_remove

SCHEDULES = [
    Schedule(
        task="registry.tasks.sweep_source_freshness",
        seconds=60,
        queue="ingest",
        description="Re-judges every data source's freshness, so a silent source turns red; "
        "fully re-evaluates the sources whose freshness changed.",
        expire_seconds=60,
    ),
    Schedule(
        task="registry.tasks.evaluate_all_sources",
        seconds=3600,
        queue="ingest",
        description="Runs every data-quality check of every source (the 30-day windows of uptime "
        "and integration tests move on without any push).",
        expire_seconds=3600,
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0004_data_sources"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: schedules_create(apps, SCHEDULES),
            lambda apps, schema_editor: schedules_remove(apps, SCHEDULES),
        )
    ]
