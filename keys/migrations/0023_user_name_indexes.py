"""Indexes for finding a member by user name or email in any case, PostgreSQL only.

The key list's owner filter matches the name in any case (`UPPER(username::text) = UPPER('Alice')`, what iexact
sends) and the key search an owner's name or email starting with the term (`UPPER(...) LIKE 'TERM%'`,
istartswith; keys/admin_filters.py). Django's own indexes on auth_user are on the name as typed, so each read
every member (10,000 at the scale the bench loads). A text_pattern_ops expression index answers both the equality
and the prefix. Built CONCURRENTLY, as 0021_key_search_indexes.py; SQLite (development, tests) gets none.
"""

from django.conf import settings
from django.db import migrations

INDEXES = {
    "user_username_upper": "(UPPER(username::text) text_pattern_ops)",
    "user_email_upper": "(UPPER(email::text) text_pattern_ops)",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("keys", "0022_session_owner"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
