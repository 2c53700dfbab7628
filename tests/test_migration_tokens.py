"""Upgrading: migration 0015 revokes the live tokens of users deactivated before deactivation did."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.helpers import latest_migrations, migrate_to, postgresql_only

BEFORE = [("keys", "0014_reconcile_pass_report")]


@postgresql_only(
    "a migration test flushes its tables after, and SQLite's append-only trigger refuses to delete the "
    "audit row it wrote; PostgreSQL truncates"
)
@pytest.mark.django_db(transaction=True)
def test_an_upgrade_revokes_the_tokens_a_deactivated_user_still_held_and_audits_it():
    old = migrate_to(BEFORE)
    User, ApiToken = old.get_model("auth", "User"), old.get_model("keys", "ApiToken")
    leaver = User.objects.create(username="leaver", is_active=False)
    staying = User.objects.create(username="staying", is_active=True)
    expires = timezone.now() + timedelta(days=30)
    ApiToken.objects.create(user=leaver, name="old-ci", prefix="nsmlk_aaaa", secret_sha256="a" * 64, expires_at=expires)
    ApiToken.objects.create(user=staying, name="ci", prefix="nsmlk_bbbb", secret_sha256="b" * 64, expires_at=expires)

    new = migrate_to(latest_migrations())

    ApiToken, AuditEvent = new.get_model("keys", "ApiToken"), new.get_model("keys", "AuditEvent")
    assert ApiToken.objects.get(name="old-ci").revoked_at is not None
    assert ApiToken.objects.get(name="ci").revoked_at is None
    [row] = AuditEvent.objects.all()
    assert (row.action, row.subject.username, row.title, row.reason, row.actor_username) == (
        "token_revoke",
        "leaver",
        "old-ci",
        "owner_deactivated",
        "manage.py migrate",
    )
