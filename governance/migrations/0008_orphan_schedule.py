"""Beat schedule: every hour, orphaned systems go to the operations directors' inbox."""

from django.db import migrations

from core.beat import Schedule, schedules_create, schedules_remove

SCHEDULES = [
    Schedule(
        task="governance.tasks.notify_orphans",
        seconds=3600,
        queue="notify",
        description="Puts systems whose owner is inactive or whose signature lapsed in the "
        "operations directors' inbox (once until read).",
        expire_seconds=3600,
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0007_webhook_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: schedules_create(apps, SCHEDULES),
            lambda apps, schema_editor: schedules_remove(apps, SCHEDULES),
        )
    ]
