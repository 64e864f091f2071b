"""On PostgreSQL, a trigger refuses UPDATE and DELETE of audit events.

No TRUNCATE trigger: the test runner empties tables with TRUNCATE, and
truncating needs the table owner's rights, which the application's own
changes never use. Other databases (SQLite for `make run`) rely on the code
having no update or delete path, and on `manage.py audit_verify`.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION governance_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused on governance_auditevent)', TG_OP;
END;
$$;
DROP TRIGGER IF EXISTS governance_auditevent_append_only ON governance_auditevent;
CREATE TRIGGER governance_auditevent_append_only
    BEFORE UPDATE OR DELETE ON governance_auditevent
    FOR EACH ROW EXECUTE FUNCTION governance_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS governance_auditevent_append_only ON governance_auditevent;
DROP FUNCTION IF EXISTS governance_auditevent_append_only();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("governance", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_trigger, drop_trigger),
    ]
