"""Beat schedules of the governance app: alert evaluation and escalation levels, every minute."""

from django.db import migrations

from core.beat import Schedule, schedules_create, schedules_remove

SCHEDULES = [
    Schedule(
        task="governance.tasks.evaluate_alerts",
        seconds=60,
        queue="gates",
        description="Steps every metric's threshold and no-data rules; firing rules escalate.",
        expire_seconds=60,
    ),
    Schedule(
        task="governance.tasks.escalate_due",
        seconds=60,
        queue="gates",
        description="Raises the level of escalations not acknowledged within their timeout.",
        expire_seconds=60,
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0004_escalations"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: schedules_create(apps, SCHEDULES),
            lambda apps, schema_editor: schedules_remove(apps, SCHEDULES),
        )
    ]
