"""SQLite: INSERT OR REPLACE and REPLACE INTO cannot rewrite an audit row.

A replace deletes the old row and inserts the new one, and SQLite fires no DELETE trigger for the
delete half (unless recursive_triggers is on), so 0003's triggers never see it. A BEFORE INSERT
trigger refuses any insert whose id is already taken, before the conflict is resolved.

PostgreSQL needs nothing new: INSERT ... ON CONFLICT DO UPDATE runs 0003's BEFORE UPDATE trigger.
Like 0003's, this trigger goes with the table if a later migration rebuilds keys_auditevent on
SQLite; tests/test_audit_append_only.py fails if it is missing.
"""

from django.db import migrations

TABLE = "keys_auditevent"
MESSAGE = "keys_auditevent is append-only: an audit event cannot be replaced"

SQLITE_CREATE = [
    f"CREATE TRIGGER keys_auditevent_no_replace BEFORE INSERT ON {TABLE} BEGIN "
    f"SELECT RAISE(ABORT, '{MESSAGE}') WHERE EXISTS (SELECT 1 FROM {TABLE} WHERE id = NEW.id); END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS keys_auditevent_no_replace",
]


def install_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_CREATE:
            schema_editor.execute(statement)


def remove_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("keys", "0004_convergence_states"),
    ]

    operations = [
        migrations.RunPython(install_trigger, remove_trigger),
    ]
