"""Migration 0029 dropped the indexes no lookup needed; the lookups they served still go through an index."""

import pytest
from django.db import connection

from keys.models import LIVE_STATUSES, RegisteredKey

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the plans are PostgreSQL's"),
]


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # The tables are small here: without this, PostgreSQL would rightly read them whole.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    "lookup",
    [
        lambda member: RegisteredKey.objects.filter(owner=member),
        lambda member: RegisteredKey.objects.filter(owner=member, status__in=LIVE_STATUSES).order_by("-created_at"),
        lambda member: RegisteredKey.objects.filter(owner__in=[member.pk], status=RegisteredKey.Status.ACTIVE),
    ],
)
def test_a_member_s_keys_are_found_by_the_owner_index(member, lookup):
    plan = _plan(lookup(member))

    assert "Seq Scan on keys_registeredkey" not in plan and "key_owner_created" in plan, plan


def test_the_keys_a_user_asked_to_revoke_are_found_by_the_partial_index(member):
    """What deleting a user looks for (PROTECT): the index holds only the keys somebody asked to revoke."""
    plan = _plan(RegisteredKey.objects.filter(revoke_requested_by=member))

    assert "Seq Scan on keys_registeredkey" not in plan and "key_revoke_requested_by" in plan, plan


def test_the_indexes_no_lookup_needed_are_gone():
    """Each was written on every submission (a key's twice: its INSERT, then its change of state)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename IN ('keys_registeredkey', 'keys_auditevent')")
        names = {row[0] for row in cursor.fetchall()}

    assert not names & {"audit_fingerprint", "audit_title", "key_owner_status_created"}
    assert not [name for name in names if name.startswith(("keys_registeredkey_owner_id", "keys_registeredkey_revoke"))]
    assert {"key_owner_created", "key_revoke_requested_by", "audit_fingerprint_prefix", "audit_title_prefix"} <= names
