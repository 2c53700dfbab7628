"""On PostgreSQL the portal binds parameters on the server and prepares what a connection runs again and
again (DATABASE_PREPARED_STATEMENTS, on by default), so PostgreSQL plans a page's queries once per
connection; an operator behind a pooler in transaction mode turns it off and nothing is prepared."""

from __future__ import annotations

import pytest
from django.db import connection

from keys.models import RegisteredKey
from tests.helpers import shell_in_fresh_process

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")

# The same query six times on one connection (psycopg prepares it at the fifth), then what PostgreSQL
# holds prepared for this session.
PROBE = """
from django.db import connection
with connection.cursor() as cursor:
    for user_id in range(6):
        cursor.execute("SELECT id FROM auth_user WHERE id = %s", [user_id])
    cursor.execute("SELECT count(*) FROM pg_prepared_statements")
    print("prepared", cursor.fetchone()[0])
"""


def prepared_in_fresh_process(**environment: str) -> int:
    """How many statements a fresh portal process has prepared after running one query six times."""
    database = connection.settings_dict
    host, port = database["HOST"] or "127.0.0.1", database["PORT"] or 5432
    url = f"postgres://{database['USER']}@{host}:{port}/{database['NAME']}"
    answered = shell_in_fresh_process(PROBE, DATABASE_URL=url, **environment)
    return int(answered.split("prepared", 1)[1].split()[0])


@pytest.mark.django_db(transaction=True)
def test_a_page_viewed_again_and_again_is_planned_once_per_connection(member_client, member):
    RegisteredKey.objects.create(
        owner=member,
        title="alice-laptop",
        key_type="ssh-ed25519",
        bits=256,
        public_key="ssh-ed25519 AAAA",
        fingerprint_sha256="SHA256:alice",
        fingerprint_md5="00:" * 15 + "00",
        nsml_name="0" * 32,
        status=RegisteredKey.Status.ACTIVE,
    )

    for _ in range(6):
        page = member_client.get("/keys/")
        assert page.status_code == 200
        assert "alice-laptop" in page.content.decode()

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("keys_registeredkey" in statement for statement in prepared), prepared


@pytest.mark.django_db(transaction=True)
def test_prepared_statements_are_on_unless_the_operator_turns_them_off():
    assert prepared_in_fresh_process() >= 1
    assert prepared_in_fresh_process(DATABASE_PREPARED_STATEMENTS="false") == 0
