"""Deactivating a user revokes their keys, in the admin or anywhere else; audited with who did it.

The admin's actions (with their confirmation pages) are in tests/test_admin_*.py."""

from __future__ import annotations

import io
import threading
import time

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from keys.audit import Origin
from keys.models import AuditEvent, RegisteredKey
from keys.offboarding import offboard
from keys.services import register_key
from nsml.client import NsmlClient
from nsml.simulator import Faults
from tests.helpers import nsml_sync, postgresql_only

pytestmark = pytest.mark.django_db


def revoke_events():
    return AuditEvent.objects.filter(action="revoke").order_by("id")


def test_deactivating_a_user_in_the_admin_revokes_their_keys(
    admin_client, admin_user, member, nsml, register, django_capture_on_commit_callbacks
):
    register(member)
    url = reverse("admin:auth_user_change", args=[member.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update({"is_active": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00", "last_login_0": ""})
    data.pop("groups", None)
    data.pop("user_permissions", None)
    data.pop("date_joined", None)
    data.pop("last_login", None)

    with django_capture_on_commit_callbacks(execute=True):  # the DELETEs go out once the deactivation commits
        response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    member.refresh_from_db()
    assert not member.is_active
    assert nsml.held_keys() == []
    assert revoke_events().get().actor == admin_user
    assert f"1 key of {member.username} revoked." in [str(message) for message in response.wsgi_request._messages]


def test_nsml_hears_of_no_revocation_a_rolled_back_deactivation_asked_for(member, nsml, register):
    """Found in QA by killing the gunicorn worker while the admin's change form deactivated a member: the form saves
    inside a transaction, and the DELETE went out before it committed. The deactivation was lost with the worker (the
    member still active), NSML had deleted the key, and the next pass told the member and the audit that NSML no
    longer had it, not that an admin had revoked it."""
    key = register(member)

    with pytest.raises(RuntimeError), transaction.atomic():
        member.is_active = False
        member.save()
        raise RuntimeError("the worker is killed before the commit")

    key.refresh_from_db()
    assert key.status == "active"
    assert len(nsml.held_keys()) == 1
    assert not revoke_events().exists()


def test_an_offboarding_stopped_before_its_deletes_is_finished_by_a_pass_in_the_admins_name(
    admin_user, member, nsml, register, settings, monkeypatch, event
):
    """Found in QA by killing the worker during an offboarding's first DELETE: the member's other keys stayed
    active. With KEYS_REVOKE_ON_DEACTIVATE off no pass revoked them ever; with it on, a pass did, as the portal's
    doing ("member deactivated"), the admin's name and reason lost. The keys are now recorded as being revoked with
    the deactivation, before NSML hears of any."""
    settings.KEYS_REVOKE_ON_DEACTIVATE = False
    keys = [register(member, "alice-laptop"), register(member, "alice-desktop")]

    def killed(*args, **kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr(NsmlClient, "delete_key", killed)
    with pytest.raises(SystemExit):
        offboard(member, actor=admin_user, origin=Origin(ip="10.0.0.9"), reason="left the team")
    monkeypatch.undo()
    assert [RegisteredKey.objects.get(pk=key.pk).status for key in keys] == ["revoking", "revoking"]

    status, out = nsml_sync("--apply")

    assert status == 0 and nsml.held_keys() == []  # the admin's own revocations, confirmed: no drift
    for key in keys:
        key.refresh_from_db()
        row = event(action="revoke", registered_key=key)
        assert (key.status, row.actor, row.reason) == ("revoked", admin_user, "confirmed_absent")
        assert "asked from 10.0.0.9" in row.detail and row.detail.endswith("reason given: left the team")


def test_deactivating_a_user_anywhere_revokes_their_keys(member, nsml, register, django_capture_on_commit_callbacks):
    key = register(member)

    with django_capture_on_commit_callbacks(execute=True):
        member.is_active = False
        member.save()

    key.refresh_from_db()
    assert key.status == "revoked"
    assert nsml.held_keys() == []
    event = revoke_events().get()
    assert (event.actor, event.actor_username, event.subject) == (None, "manage.py deactivation", member)


def test_a_member_deactivated_without_the_signal_keeps_no_key_after_a_pass(member, other_member, nsml, register, event):
    """Found in QA after offboarding a member while NSML throttled DELETEs: the keys left active stayed so, and
    every reconcile pass said "In sync". A user deactivated by a queryset update (a directory sync script;
    Django sends no signal for it) kept their keys the same way."""
    key = register(member, "alice-laptop")
    register(other_member, "bob-laptop")
    type(member).objects.filter(pk=member.pk).update(is_active=False)
    assert RegisteredKey.objects.get(pk=key.pk).status == "active"

    status, out = nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == "revoked"
    assert [held["title"] for held in nsml.held_keys()] == ["bob-laptop"]
    assert status == 1 and "revocations confirmed: alice-laptop (alice)" in out
    assert "active keys of deactivated members, now being revoked: alice-laptop (alice)" in out
    row = event(action="revoke", registered_key=key)
    assert (row.outcome, row.actor, row.actor_username, row.reason) == (
        "success",
        None,
        "manage.py nsml_sync",
        "confirmed_absent",
    )
    assert row.detail.endswith("reason given: member deactivated")


def test_the_reason_a_pass_gives_for_a_deactivated_members_key_reads_in_korean(
    admin_client, member, nsml, register, mailoutbox, django_capture_on_commit_callbacks, settings
):
    """Found in the Korean admin: a key a reconcile pass revoked because its member was deactivated showed its
    revocation reason as "member deactivated" on its page and in its audit row ("입력한 사유: member deactivated"),
    and the member's email, in Korean, gave it as "사유: member deactivated". (The email now goes to security's
    copy alone, still in the member's language: a deactivated member is not written to.)"""
    from keys import services
    from keys.services.members import remember_language

    settings.SECURITY_NOTIFY_EMAIL = "security@example.com"

    type(member).objects.filter(pk=member.pk).update(email="alice@example.com")
    member.refresh_from_db()
    remember_language(member, "ko")
    key = register(member, "alice-laptop")
    type(member).objects.filter(pk=member.pk).update(is_active=False)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.reconcile(origin=Origin.command("nsml_sync"))

    key.refresh_from_db()
    assert (key.status, key.revoke_reason) == ("revoked", "member deactivated")  # stored in English, as before
    row = AuditEvent.objects.get(registered_key=key, action="revoke")
    key_page = admin_client.get(
        reverse("admin:keys_registeredkey_change", args=[key.pk]), HTTP_ACCEPT_LANGUAGE="ko"
    ).content.decode()
    audit_page = admin_client.get(
        reverse("admin:keys_auditevent_change", args=[row.pk]), HTTP_ACCEPT_LANGUAGE="ko"
    ).content.decode()
    [notice] = mailoutbox
    assert notice.to == ["security@example.com"]
    assert '<div class="readonly">구성원이 비활성화됨</div>' in key_page
    assert "입력한 사유: 구성원이 비활성화됨" in audit_page
    assert "사유: 구성원이 비활성화됨" in notice.body
    assert "member deactivated" not in key_page + notice.body
    english = admin_client.get(
        reverse("admin:keys_registeredkey_change", args=[key.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert '<div class="readonly">member deactivated</div>' in english
    assert "Why an admin revoked the key." in english  # the field's help, as before


def test_a_pass_leaves_a_deactivated_members_keys_when_the_setting_is_off(member, nsml, register, settings):
    settings.KEYS_REVOKE_ON_DEACTIVATE = False
    key = register(member, "alice-laptop")
    type(member).objects.filter(pk=member.pk).update(is_active=False)

    nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == "active"
    assert len(nsml.held_keys()) == 1


def test_deactivation_keeps_keys_when_the_setting_is_off(member, nsml, register, settings):
    settings.KEYS_REVOKE_ON_DEACTIVATE = False
    key = register(member)

    member.is_active = False
    member.save()

    key.refresh_from_db()
    assert key.is_active
    assert len(nsml.held_keys()) == 1


def test_a_login_does_not_trigger_offboarding_queries(member, nsml, register, django_assert_num_queries):
    register(member)
    member.last_login = None

    with django_assert_num_queries(1):
        member.save(update_fields=["last_login"])


@pytest.mark.parametrize("revoke_keys", [True, False])
def test_deactivating_a_user_anywhere_revokes_their_tokens(member, token_for, client, settings, event, revoke_keys):
    settings.KEYS_REVOKE_ON_DEACTIVATE = revoke_keys  # NSML's keys; a token is the portal's own credential
    secret = token_for(member, name="ci")

    member.is_active = False
    member.save()
    member.is_active = True
    member.save()

    assert client.get("/api/v1/keys", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    revocation = event(action="token_revoke")
    assert (revocation.actor_username, revocation.subject, revocation.reason) == (
        "manage.py deactivation",
        member,
        "owner_deactivated",
    )


@postgresql_only(
    "two connections committing at once; the suite's SQLite cannot empty an append-only audit table after such a test"
)
@pytest.mark.django_db(transaction=True)
def test_a_member_offboarded_while_nsml_registers_their_key_keeps_no_key_in_nsml(
    member, admin_user, nsml, new_public_key
):
    """Found offboarding a member on one instance while their submission waited for NSML on another: the
    offboarding revoked the active keys it found, then the 201 made the pending key active, and the leaver
    kept a working key in NSML that no reconcile pass touched."""
    nsml.set_faults(Faults(slow_commit=1.5))  # NSML holds the key 1.5 s before it answers 201

    def submit() -> None:
        try:
            register_key(owner=member, title="laptop", key_text=new_public_key(), origin=Origin(ip="10.0.0.7"))
        finally:
            connection.close()

    submission = threading.Thread(target=submit)
    submission.start()
    deadline = time.monotonic() + 10
    while not nsml.held_keys() and time.monotonic() < deadline:
        time.sleep(0.02)
    offboard(member, actor=admin_user, origin=Origin(ip="10.0.0.8"), reason="left the team")
    submission.join(timeout=30)

    key = RegisteredKey.objects.get()
    assert key.status == "pending"  # never active for a deactivated member
    nsml.set_faults(Faults())
    nsml_sync("--apply")
    key.refresh_from_db()
    assert key.status == "revoked"
    assert nsml.held_keys() == []
    assert AuditEvent.objects.filter(registered_key=key, action="register", outcome="success").count() == 0


@pytest.mark.parametrize("revoke_keys", [True, False])
def test_deactivating_a_user_ends_their_sessions_for_good(
    member, other_member, settings, django_capture_on_commit_callbacks, revoke_keys
):
    """Found in QA pass 3: a deactivated member's session was only ignored, so reactivating the account
    (an offboarding undone, a return) let that browser, or whoever had its cookie, straight back in."""
    settings.KEYS_REVOKE_ON_DEACTIVATE = revoke_keys
    leaver, colleague = Client(), Client()
    leaver.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})
    colleague.post(reverse("login"), {"username": "bob", "password": "bob-password-1"})
    assert leaver.get(reverse("keys:list")).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        member.is_active = False
        member.save()
    member.is_active = True
    member.save()

    response = leaver.get(reverse("keys:list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert colleague.get(reverse("keys:list")).status_code == 200


def test_offboarding_ends_the_leavers_sessions(member, admin_user, django_capture_on_commit_callbacks):
    leaver = Client()
    leaver.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})

    with django_capture_on_commit_callbacks(execute=True):
        offboard(member, actor=admin_user, origin=Origin.command("test"), reason="left the team")
    member.is_active = True
    member.save()

    assert leaver.get(reverse("keys:list")).status_code == 302


def test_a_deactivation_that_sends_no_signal_has_its_tokens_and_sessions_ended_by_the_next_pass(
    member, other_member, nsml
):
    """Found in QA pass 4: deactivated by a queryset update (a directory sync), a member's browser session and
    access token were ignored while the account was inactive, and worked again once it was reactivated."""
    from django.contrib.auth.models import User

    from keys.models import ApiToken
    from keys.services import tokens

    secret = tokens.create_token(user=member, name="ci", days=30, origin=Origin.command("test")).secret
    colleague_secret = tokens.create_token(user=other_member, name="ci", days=30, origin=Origin.command("test")).secret
    leaver, colleague = Client(), Client()
    leaver.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})
    colleague.post(reverse("login"), {"username": "bob", "password": "bob-password-1"})

    User.objects.filter(pk=member.pk).update(is_active=False)
    status, output = nsml_sync("--apply")
    User.objects.filter(pk=member.pk).update(is_active=True)

    assert status == 0 and "Deactivated users: 1 access token(s) revoked, 1 session(s) ended." in output
    assert leaver.get(reverse("keys:list")).status_code == 302
    assert Client().get("/api/v1/keys", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert colleague.get(reverse("keys:list")).status_code == 200
    assert Client().get("/api/v1/keys", HTTP_AUTHORIZATION=f"Bearer {colleague_secret}").status_code == 200
    revoked = AuditEvent.objects.get(action="token_revoke")
    assert (revoked.subject, revoked.reason, revoked.actor_username) == (
        member,
        "owner_deactivated",
        "manage.py nsml_sync",
    )
    assert ApiToken.objects.get(user=member).revoked_at is not None


def test_a_pass_with_the_cache_gone_settles_the_keys_and_ends_the_sessions_once_it_is_back(
    member, other_member, nsml, settings, monkeypatch
):
    """Found in QA by stopping Redis under the reconciler: ending a deactivated member's sessions raised Redis's
    ConnectionError, and nsml_sync --apply ended with a traceback (exit status 1, read as drift), after the pass had
    changed keys and before it printed what. Django's session store had deleted the database row (and the session's
    recorded owner) before the cache failed: the cached session outlived it, and nothing ever ended it."""
    import redis.exceptions
    from django.contrib.auth.models import User
    from django.core.cache import caches
    from django.core.management import call_command

    settings.SESSION_ENGINE = "keys.sessions.cached_db"
    leaver = Client()
    leaver.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})
    User.objects.filter(pk=member.pk).update(is_active=False)

    def unreachable(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(caches["default"], "delete", unreachable)
    out, err = io.StringIO(), io.StringIO()
    call_command("nsml_sync", "--apply", stdout=out, stderr=err)  # no CommandError: the pass found no drift
    monkeypatch.undo()

    assert "In sync" in out.getvalue()
    assert "Could not end the sessions of deactivated users: the cache (CACHE_URL) cannot be reached" in err.getvalue()
    status, output = nsml_sync("--apply")
    assert "1 session(s) ended" in output
    User.objects.filter(pk=member.pk).update(is_active=True)
    assert leaver.get(reverse("keys:list")).status_code == 302


def test_a_revocation_of_an_offboarded_members_key_goes_to_security_alone(
    member, admin_user, nsml, register, settings, django_capture_on_commit_callbacks
):
    """Found reading the outbox after an offboarding: the departed member was sent the notice of each key an admin
    revoked, as if they could still act on it; an expired key's notice already went to security alone."""
    settings.SECURITY_NOTIFY_EMAIL = "security@example.com"
    member.email = "alice@example.com"
    member.save()
    register(member, "alice-laptop")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        offboard(member, actor=admin_user, origin=Origin(ip="10.0.0.8"), reason="left the team")

    [notice] = mail.outbox
    assert (notice.to, notice.bcc) == (["security@example.com"], [])
    assert notice.subject == "An SSH key was revoked from your NSML account"
    assert "Reason: left the team" in notice.body
