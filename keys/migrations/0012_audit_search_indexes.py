"""Indexes for the audit list's search (keys/admin_filters.py audit_search), PostgreSQL only.

Each search an admin runs is answered by one of them: a user name or title starting with the term
(`UPPER(col::text) LIKE 'TERM%'`, what Django's istartswith sends, on a text_pattern_ops expression
index), a fingerprint starting with it (text_pattern_ops), an NSML trace id or request id exactly.
Built CONCURRENTLY, so a portal with years of history keeps writing audit rows (log-ins) meanwhile;
hence `atomic = False`. SQLite (development, tests) gets none: its tables are small.

Not in the models' Meta: expression indexes with an operator class are PostgreSQL's alone.
"""

from django.db import migrations

TABLE = "keys_auditevent"
INDEXES = {
    "audit_actor_username_prefix": "(UPPER(actor_username::text) text_pattern_ops)",
    "audit_title_prefix": "(UPPER(title::text) text_pattern_ops)",
    "audit_fingerprint_prefix": "(fingerprint text_pattern_ops)",
    "audit_trace_id": "(trace_id) WHERE trace_id <> ''",
    "audit_request_id": "(request_id) WHERE request_id <> ''",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {TABLE} {definition}")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("keys", "0011_audit_request_id"),
    ]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
