"""Whose each signed-in session is, recorded as it is saved (keys/sessions/): deactivating a member ends
their sessions by looking them up, without reading every other member's session (seconds per member at ten
thousand live sessions; an admin offboarding a team ran into gunicorn's timeout)."""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from keys.audit import Origin
from keys.models import SessionOwner
from keys.offboarding import offboard
from tests.helpers import latest_migrations, migrate_to, postgresql_only

pytestmark = pytest.mark.django_db

BY_KEY = re.compile(r'WHERE .*"django_session"\."session_key" (=|IN)')


def log_in(username: str, password: str) -> Client:
    browser = Client()
    assert browser.post(reverse("login"), {"username": username, "password": password}).status_code == 302
    return browser


def owners() -> dict[str, int]:
    return dict(SessionOwner.objects.values_list("session_id", "user_id"))


def test_a_log_in_records_its_session_and_a_log_out_removes_it(member, other_member):
    alice, bob = log_in("alice", "alice-password-1"), log_in("bob", "bob-password-1")
    assert owners() == {alice.session.session_key: member.pk, bob.session.session_key: other_member.pk}

    alice.post(reverse("logout"))
    assert owners() == {bob.session.session_key: other_member.pk}
    assert not Session.objects.filter(session_key=alice.cookies["sessionid"].value).exists()


def test_a_new_key_for_the_session_is_recorded_and_the_old_one_goes(admin_user):
    """A password change (here an admin changing their own) gives the session a new key."""
    admin_user.set_password("admin-password-1")
    admin_user.save()
    browser = log_in(admin_user.username, "admin-password-1")
    before = browser.session.session_key

    response = browser.post(
        reverse("admin:password_change"),
        {
            "old_password": "admin-password-1",
            "new_password1": "a-new-long-pass-42",
            "new_password2": "a-new-long-pass-42",
        },
    )

    assert response.status_code == 302
    after = browser.session.session_key
    assert after != before
    assert owners() == {after: admin_user.pk}


def test_offboarding_ends_every_session_of_the_leaver_and_reads_no_one_elses(
    member, other_member, admin_user, django_capture_on_commit_callbacks
):
    laptop, phone = log_in("alice", "alice-password-1"), log_in("alice", "alice-password-1")
    colleagues = [log_in("bob", "bob-password-1") for _ in range(3)]

    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        offboard(member, actor=admin_user, origin=Origin.command("test"), reason="left the team")
    session_reads = [q["sql"] for q in queries.captured_queries if 'FROM "django_session"' in q["sql"]]

    member.is_active = True
    member.save()
    assert laptop.get(reverse("keys:list")).status_code == 302
    assert phone.get(reverse("keys:list")).status_code == 302
    assert all(browser.get(reverse("keys:list")).status_code == 200 for browser in colleagues)
    # Each session touched is named by its key: none is read to find out whose it is.
    assert len(session_reads) >= 2 and all(BY_KEY.search(sql) for sql in session_reads), session_reads
    assert set(owners().values()) == {other_member.pk}


@postgresql_only(
    "a migration test flushes its tables after, and SQLite's append-only trigger refuses to delete the "
    "audit rows it wrote; PostgreSQL truncates"
)
@pytest.mark.django_db(transaction=True)
def test_sessions_signed_in_before_the_upgrade_are_ended_at_deactivation(settings):
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    migrate_to([("keys", "0021_key_search_indexes")])
    carol = User.objects.create_user(username="carol", password="carol-password-1")
    # Signed in before the upgrade, by Django's own store: nothing recorded whose it is.
    session = SessionStore()
    session.update(
        {
            SESSION_KEY: str(carol.pk),
            BACKEND_SESSION_KEY: "keys.oidc.PasswordBackend",
            HASH_SESSION_KEY: carol.get_session_auth_hash(),
        }
    )
    session.create()
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    assert browser.get(reverse("keys:list")).status_code == 200

    migrate_to(latest_migrations())

    assert owners() == {session.session_key: carol.pk}
    carol.is_active = False
    carol.save()
    carol.is_active = True
    carol.save()
    assert browser.get(reverse("keys:list")).status_code == 302


def test_a_session_saved_for_a_user_deleted_meanwhile_is_no_error(member, settings):
    from importlib import import_module

    from django.contrib.auth import SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(member.pk + 1000)  # no such user
    store.save()

    assert Session.objects.filter(session_key=store.session_key).exists()
    assert owners() == {}
