"""Upgrading: migration 0019 stores who asked for each revocation still under way, from the key's audit, so the
reconciler that confirms it records it in their name."""

from __future__ import annotations

import pytest

from keys.models import AuditEvent, RegisteredKey
from tests.helpers import latest_migrations, migrate_to, nsml_sync, postgresql_only

BEFORE = [("keys", "0018_refusalwindow_staff_sso_user")]


@postgresql_only(
    "a migration test flushes its tables after, and SQLite's append-only trigger refuses to delete the "
    "audit rows it wrote; PostgreSQL truncates"
)
@pytest.mark.django_db(transaction=True)
def test_a_revocation_left_unconfirmed_before_the_upgrade_is_confirmed_in_its_members_name(nsml):
    old = migrate_to(BEFORE)
    User, Key, Event = (
        old.get_model("auth", "User"),
        old.get_model("keys", "RegisteredKey"),
        old.get_model("keys", "AuditEvent"),
    )
    member = User.objects.create(username="alice")
    asked = Key.objects.create(
        owner=member, title="laptop", fingerprint_md5="aa", nsml_name="k-laptop", status="revoking"
    )
    unasked = Key.objects.create(
        owner=member, title="desk", fingerprint_md5="bb", nsml_name="k-desk", status="revoking"
    )
    Event.objects.create(
        action="revoke",
        outcome="unknown",
        actor=member,
        actor_username="alice",
        subject=member,
        registered_key=asked,
        client_ip="10.0.0.7",
        user_agent="Firefox/140",
        reason="unconfirmed",
    )

    migrate_to(latest_migrations())

    key = RegisteredKey.objects.get(pk=asked.pk)
    assert (key.revoke_requested_by.username, key.revoke_requested_ip) == ("alice", "10.0.0.7")
    assert key.revoke_requested_agent == "Firefox/140"
    nsml_sync("--apply")  # NSML holds neither key
    confirmed = AuditEvent.objects.filter(action="revoke", outcome="success")
    assert confirmed.get(registered_key_id=asked.pk).actor_username == "alice"
    assert confirmed.get(registered_key_id=unasked.pk).actor_username == "manage.py nsml_sync"  # the portal's own
