"""Upgrading: migration 0020 stores where each submission a reconcile pass may still settle came from, from the
key's audit, so the pass records it in its member's name and says from where."""

from __future__ import annotations

import pytest

from keys.models import AuditEvent, RegisteredKey
from tests.helpers import latest_migrations, migrate_to, nsml_sync, postgresql_only

BEFORE = [("keys", "0019_revocation_requester")]


@postgresql_only(
    "a migration test flushes its tables after, and SQLite's append-only trigger refuses to delete the "
    "audit rows it wrote; PostgreSQL truncates"
)
@pytest.mark.django_db(transaction=True)
def test_a_submission_left_pending_before_the_upgrade_is_settled_in_its_members_name(nsml, settings):
    settings.NSML_PENDING_GRACE_SECONDS = 0
    old = migrate_to(BEFORE)
    User, Key, Event = (
        old.get_model("auth", "User"),
        old.get_model("keys", "RegisteredKey"),
        old.get_model("keys", "AuditEvent"),
    )
    member = User.objects.create(username="alice")
    pending = Key.objects.create(
        owner=member, title="laptop", fingerprint_md5="aa", nsml_name="k-laptop", status="pending"
    )
    active = Key.objects.create(owner=member, title="desk", fingerprint_md5="bb", nsml_name="k-desk", status="active")
    for key, outcome in ((pending, "unknown"), (active, "success")):
        Event.objects.create(
            action="register",
            outcome=outcome,
            actor=member,
            actor_username="alice",
            subject=member,
            registered_key=key,
            client_ip="10.0.0.7",
            user_agent="Firefox/140",
        )

    migrate_to(latest_migrations())

    key = RegisteredKey.objects.get(pk=pending.pk)
    assert (key.submitted_ip, key.submitted_agent) == ("10.0.0.7", "Firefox/140")
    assert RegisteredKey.objects.get(pk=active.pk).submitted_agent == ""  # settled: nothing to look up
    nsml_sync("--apply")  # NSML does not hold it, and the grace period is over
    row = AuditEvent.objects.get(registered_key_id=pending.pk, action="register", outcome="failed")
    assert row.actor_username == "alice"
    assert row.detail.endswith("; submitted from 10.0.0.7")
