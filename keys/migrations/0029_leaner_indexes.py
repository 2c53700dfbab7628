"""Five indexes fewer to write: every submission wrote each of them, twice for a key (its INSERT, then its change of
state, which moves the row) and once for its audit row.

- The owner's own index (Django's for a foreign key): key_owner_created begins with the owner and answers every
  lookup by owner, and the check when a user is deleted.
- key_owner_status_created: the same lookups, by owner first too (a member holds tens of keys).
- The index of who asked to revoke a key: now partial (key_revoke_requested_by), holding only the keys someone
  asked to revoke, which is what a deleted user's check looks for.
- audit_fingerprint and audit_title: an admin searches a fingerprint or a title by its start, which on PostgreSQL
  the indexes of migration 0012 answer (text_pattern_ops); nothing looks either up exactly.

On PostgreSQL each index is dropped and built CONCURRENTLY, so the portal keeps writing meanwhile (a table with years
of audit rows is not locked while it happens); hence `atomic = False`, and IF [NOT] EXISTS, so that a run cut short
can run again. The models' state changes as Django's own operations would change it.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

KEYS, AUDIT = "keys_registeredkey", "keys_auditevent"
# Each index dropped: its table and how to build it again (backwards).
DROPPED = {
    "audit_fingerprint": (AUDIT, "(fingerprint)"),
    "audit_title": (AUDIT, "(title)"),
    "key_owner_status_created": (KEYS, "(owner_id, status, created_at DESC)"),
}
# The foreign keys' own indexes, named by Django (schema_editor._create_index_name) when it made them.
FOREIGN_KEY_COLUMNS = ("owner_id", "revoke_requested_by_id")
PARTIAL = (
    "key_revoke_requested_by",
    f"{KEYS} (revoke_requested_by_id) WHERE revoke_requested_by_id IS NOT NULL",
)


def _concurrently(schema_editor) -> str:
    return " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""


def _dropped_indexes(schema_editor) -> dict[str, tuple[str, str]]:
    foreign = {schema_editor._create_index_name(KEYS, [column]): (KEYS, f"({column})") for column in FOREIGN_KEY_COLUMNS}
    return DROPPED | foreign


def forwards(apps, schema_editor):
    concurrently = _concurrently(schema_editor)
    name, definition = PARTIAL
    schema_editor.execute(f"CREATE INDEX{concurrently} IF NOT EXISTS {name} ON {definition}")
    for name in _dropped_indexes(schema_editor):
        schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {name}")


def backwards(apps, schema_editor):
    concurrently = _concurrently(schema_editor)
    for name, (table, columns) in _dropped_indexes(schema_editor).items():
        schema_editor.execute(f"CREATE INDEX{concurrently} IF NOT EXISTS {name} ON {table} {columns}")
    schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {PARTIAL[0]}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("keys", "0028_email_notice_dropped"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
            state_operations=[
                migrations.RemoveIndex(model_name="auditevent", name="audit_fingerprint"),
                migrations.RemoveIndex(model_name="auditevent", name="audit_title"),
                migrations.RemoveIndex(model_name="registeredkey", name="key_owner_status_created"),
                migrations.AlterField(
                    model_name="registeredkey",
                    name="owner",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="registered_keys",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="owner",
                    ),
                ),
                migrations.AlterField(
                    model_name="registeredkey",
                    name="revoke_requested_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="revocation asked by",
                    ),
                ),
                migrations.AddIndex(
                    model_name="registeredkey",
                    index=models.Index(
                        condition=models.Q(("revoke_requested_by__isnull", False)),
                        fields=["revoke_requested_by"],
                        name="key_revoke_requested_by",
                    ),
                ),
            ],
        ),
    ]
