"""The portal's periodic tasks, as django-celery-beat rows (editable in the admin).

Each app adds its own schedules in its own data migration, through core.beat.
"""

from django.db import migrations

from core.beat import Schedule, schedules_create, schedules_remove

SCHEDULES = [
    Schedule(
        task="portal.tasks.heartbeat",
        seconds=60,
        queue="default",
        description="Proves beat, broker and worker work end to end (see `manage.py status`).",
        expire_seconds=60,
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0002_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: schedules_create(apps, SCHEDULES),
            lambda apps, schema_editor: schedules_remove(apps, SCHEDULES),
        )
    ]
