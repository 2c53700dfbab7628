"""Indexes for the key list's search (keys/admin_filters.py key_search), PostgreSQL only.

As for the audit list (0012_audit_search_indexes.py): a title starting with the term (`UPPER(title::text) LIKE
'TERM%'`, what istartswith sends, on a text_pattern_ops expression index), a fingerprint or NSML name starting
with it (text_pattern_ops); the owner by the existing index that begins with the owner. Without them, a search
of 100,000 keys read every row (300-450 ms). Built CONCURRENTLY, so members keep adding keys meanwhile; SQLite
(development, tests) gets none.
"""

from django.db import migrations

TABLE = "keys_registeredkey"
INDEXES = {
    "key_title_prefix": "(UPPER(title::text) text_pattern_ops)",
    "key_fingerprint_sha256_prefix": "(fingerprint_sha256 text_pattern_ops)",
    "key_fingerprint_md5_prefix": "(fingerprint_md5 text_pattern_ops)",
    "key_nsml_name_prefix": "(nsml_name text_pattern_ops)",
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
        ("keys", "0020_submission_origin"),
    ]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
