"""Beat schedule: send webhook deliveries that are due (first tries and retries)."""

from django.db import migrations

from core.beat import Schedule, schedules_create, schedules_remove

SCHEDULES = [
    Schedule(
        task="governance.tasks.notify_webhooks_due",
        seconds=60,
        queue="notify",
        description="Sends webhook deliveries whose next attempt is due, with backoff.",
        expire_seconds=60,
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0006_webhooks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: schedules_create(apps, SCHEDULES),
            lambda apps, schema_editor: schedules_remove(apps, SCHEDULES),
        )
    ]
