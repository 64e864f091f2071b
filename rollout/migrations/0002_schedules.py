"""Beat schedules of the gates: checkpoints every minute, stage gates every five minutes."""

from django.db import migrations

from core.beat import Schedule, schedules_create, schedules_remove

SCHEDULES = [
    Schedule(
        task="rollout.tasks.evaluate_checkpoints",
        seconds=60,
        queue="gates",
        description="Judges the running cohort of every rollout; a failing checkpoint pauses it.",
        expire_seconds=60,
    ),
    Schedule(
        task="rollout.tasks.evaluate_gates",
        seconds=300,
        queue="gates",
        description="Evaluates every system's stage exit criteria and readiness indicators and "
        "keeps today's snapshot for the history charts.",
        expire_seconds=300,
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("rollout", "0001_rollouts"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: schedules_create(apps, SCHEDULES),
            lambda apps, schema_editor: schedules_remove(apps, SCHEDULES),
        )
    ]
