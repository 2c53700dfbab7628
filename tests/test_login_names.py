"""A password typed into the name field is kept nowhere: a failed log-in keeps a name only if it is an account's.

Found as a member would do it: the password typed into the user name box, then submitted. It was kept as the
failed log-in's name in the append-only audit log, in the lock-out counts and their POST copy, in the log and
on the admin's pages.
"""

from __future__ import annotations

import logging

import pytest
from axes.models import AccessAttempt
from django.db import connection
from django.urls import reverse

from keys.models import AuditEvent, RefusalWindow

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
PASSWORD_IN_NAME_BOX = "Tr0ub4dor&3-correct-horse"


def typed_at_login(client, username: str, *, ip: str = "10.9.8.7"):
    return client.post(LOGIN, {"username": username, "password": "whatever-was-in-the-other-box"}, REMOTE_ADDR=ip)


def everything_stored() -> str:
    """Every row of the tables a failed log-in writes, as text."""
    rows = []
    with connection.cursor() as cursor:
        for table in (AuditEvent._meta.db_table, AccessAttempt._meta.db_table, RefusalWindow._meta.db_table):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows)


def test_a_password_typed_as_the_name_is_kept_nowhere(client, admin_client, caplog):
    caplog.set_level(logging.INFO)
    # Five times from one address: failed log-ins, then the lock-out, its refusal window and its log lines.
    for _ in range(6):
        typed_at_login(client, PASSWORD_IN_NAME_BOX)

    assert AuditEvent.objects.filter(action="login_failed").exists()
    assert AuditEvent.objects.filter(action="lockout").exists()
    assert AccessAttempt.objects.exists() and RefusalWindow.objects.exists()
    assert PASSWORD_IN_NAME_BOX not in everything_stored()
    assert PASSWORD_IN_NAME_BOX not in caplog.text
    for page in ("keys_auditevent", "keys_loginlockout", "keys_refusalwindow"):
        shown = admin_client.get(reverse(f"admin:{page}_changelist")).content.decode()
        assert PASSWORD_IN_NAME_BOX not in shown
        assert "not an account&#x27;s name" in shown or "not an account's name" in shown, page


def test_the_same_unknown_name_still_counts_towards_its_lock_out(client):
    """Kept as a digest, one name typed from five addresses is still one name: the sixth try is refused."""
    answers = [typed_at_login(client, "no-such-person", ip=f"10.0.0.{n}").status_code for n in range(1, 7)]

    assert answers == [200, 200, 200, 200, 429, 429]


def test_the_log_in_page_still_says_how_many_tries_an_unknown_name_has_left(client):
    pages = [typed_at_login(client, "no-such-person", ip=f"10.0.1.{n}").content.decode() for n in range(1, 4)]

    assert "2 tries are left for this name" in pages[2]


def test_an_admin_finds_an_unknown_name_by_typing_it(client, admin_client):
    for n in range(1, 6):
        typed_at_login(client, "root", ip=f"10.0.2.{n}")
    typed_at_login(client, "someone-else", ip="10.0.3.1")

    for page, rows in (("keys_auditevent", 6), ("keys_loginlockout", 5), ("keys_refusalwindow", 0)):
        shown = admin_client.get(reverse(f"admin:{page}_changelist"), {"q": "root"}).content.decode()
        if rows:
            assert "not an account" in shown, page
        assert shown.count("10.0.3.1") == 0, page
    audit = admin_client.get(reverse("admin:keys_auditevent_changelist"), {"q": "root"})
    assert len(audit.context["cl"].result_list) == 6  # five failures and the lock-out
    lockouts = admin_client.get(reverse("admin:keys_loginlockout_changelist"), {"q": "root"})
    assert len(lockouts.context["cl"].result_list) == 5  # one count per address


def test_a_members_own_name_is_kept_as_typed(client, member):
    """Whose account someone is guessing at is what an admin needs to see: an account's name is no secret."""
    typed_at_login(client, member.username)

    failed = AuditEvent.objects.get(action="login_failed")
    assert failed.actor_username == member.username
    assert AccessAttempt.objects.get().username == member.username


def test_the_admin_says_so_in_korean(client, admin_client):
    typed_at_login(client, "no-such-person")

    page = admin_client.get(reverse("admin:keys_auditevent_changelist"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert "계정이 없는 이름" in page
