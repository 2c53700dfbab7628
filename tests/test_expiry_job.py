"""nsml_sync --apply revokes keys past their expiry and sends the reminders (7 days and 1 day before, once
each, even across runs) and the notice once revoked, in the member's language."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from keys import selectors, services
from keys.audit import Origin
from keys.models import AuditEvent, EmailNotice, ExpiryNotice, MemberProfile, RegisteredKey
from nsml.simulator import Faults
from tests.helpers import nsml_sync, postgresql_only

pytestmark = pytest.mark.django_db


@pytest.fixture
def emailed_member(member):
    member.email = "alice@example.com"
    member.save()
    return member


def expire_in(key: RegisteredKey, delta: timedelta) -> RegisteredKey:
    """The key's expiry moved as if time had passed: `delta` from now (negative: already past)."""
    RegisteredKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() + delta)
    key.refresh_from_db()
    return key


def sync(capture):
    with capture(execute=True):
        return nsml_sync("--apply")


def test_it_revokes_only_the_keys_whose_expiry_has_passed(
    member, nsml, register, event, django_capture_on_commit_callbacks
):
    expired = expire_in(register(member, "expired"), timedelta(minutes=-1))
    tomorrow = expire_in(register(member, "tomorrow"), timedelta(hours=20))
    forever = register(member, "forever")
    RegisteredKey.objects.filter(pk=forever.pk).update(expires_at=None)

    status, out = sync(django_capture_on_commit_callbacks)

    assert status == 0
    assert "expired keys revoked: expired (alice)" in out
    assert sorted(held["title"] for held in nsml.held_keys()) == ["forever", "tomorrow"]
    assert [(k.title, k.status) for k in RegisteredKey.objects.order_by("title")] == [
        ("expired", "revoked"),
        ("forever", "active"),
        ("tomorrow", "active"),
    ]
    row = event(action="revoke", registered_key=expired)
    assert (row.outcome, row.reason, row.actor, row.actor_username) == (
        "success",
        "expired",
        None,
        "manage.py nsml_sync",
    )
    assert ("DELETE", f"/nsml/v1/auth-keys/title/expired/name/{expired.nsml_name}") in nsml.requests_seen
    assert tomorrow.status == "active"


def deletes_of(nsml, key: RegisteredKey) -> int:
    return nsml.requests_seen.count(("DELETE", f"/nsml/v1/auth-keys/title/{key.title}/name/{key.nsml_name}"))


def refusals_of(key: RegisteredKey) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(registered_key=key, action="revoke").exclude(outcome="success"))


def test_an_expired_key_nsml_will_not_delete_stays_active_and_is_tried_again(
    member, admin_client, nsml, register, django_capture_on_commit_callbacks
):
    """Found in QA: a key NSML refused was sent a DELETE and given an audit row every pass, 1,440 a day with
    --every 60, and a throttling NSML was hit as often. It waits 30 s, doubling, as the reconciler's retries do."""
    key = expire_in(register(member, "expired"), timedelta(minutes=-1))
    nsml.set_faults(Faults(fail_status=429, fail_methods=frozenset({"DELETE"})))

    _status, out = sync(django_capture_on_commit_callbacks)

    key.refresh_from_db()
    assert key.status == "active"
    assert "expired keys NSML refused to revoke (tried again after a backoff): expired (alice)" in out
    (refusal,) = refusals_of(key)
    assert key.revoke_attempts == 1
    assert timedelta(seconds=25) < key.next_attempt_at - timezone.now() <= timedelta(seconds=30)
    assert refusal.detail.endswith(
        f"the expiry job sends the DELETE again after {key.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    page = admin_client.get(reverse("admin:keys_auditevent_change", args=[refusal.pk]), HTTP_ACCEPT_LANGUAGE="ko")
    assert (
        f"만료 작업이 {key.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC 이후에 삭제 요청을 다시 보냄" in page.content.decode()
    )
    sent = deletes_of(nsml, key)

    _status, out = sync(django_capture_on_commit_callbacks)  # within the backoff: NSML is not asked again

    assert deletes_of(nsml, key) == sent
    assert len(refusals_of(key)) == 1
    assert "refused to revoke" not in out

    RegisteredKey.objects.filter(pk=key.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    sync(django_capture_on_commit_callbacks)  # refused again: the wait doubles

    key.refresh_from_db()
    assert deletes_of(nsml, key) > sent
    assert len(refusals_of(key)) == 2
    assert key.revoke_attempts == 2
    assert timedelta(seconds=55) < key.next_attempt_at - timezone.now() <= timedelta(seconds=60)

    nsml.set_faults(Faults())
    RegisteredKey.objects.filter(pk=key.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    sync(django_capture_on_commit_callbacks)

    key.refresh_from_db()
    assert key.status == "revoked"
    assert [held["title"] for held in nsml.held_keys()] == []


def test_a_new_expiry_ends_the_wait_after_a_refusal(member, nsml, register, django_capture_on_commit_callbacks):
    key = expire_in(register(member, "expired"), timedelta(minutes=-1))
    nsml.set_faults(Faults(fail_status=403, fail_methods=frozenset({"DELETE"})))
    sync(django_capture_on_commit_callbacks)
    key.refresh_from_db()
    assert key.next_attempt_at is not None

    # Its member moves the expiry to today (still the same day, so it is past again within minutes): no wait is left.
    services.change_expiry(key=key, value=timezone.localdate(), actor=member, origin=Origin())

    key.refresh_from_db()
    assert (key.revoke_attempts, key.next_attempt_at) == (0, None)
    nsml.set_faults(Faults())
    expire_in(key, timedelta(minutes=-1))
    sync(django_capture_on_commit_callbacks)
    key.refresh_from_db()
    assert key.status == "revoked"


def test_an_admins_new_expiry_ends_the_wait_too(member, admin_user, nsml, register, django_capture_on_commit_callbacks):
    key = expire_in(register(member, "expired"), timedelta(minutes=-1))
    nsml.set_faults(Faults(fail_status=403, fail_methods=frozenset({"DELETE"})))
    sync(django_capture_on_commit_callbacks)

    key.refresh_from_db()
    assert key.next_attempt_at is not None

    services.set_expiry(keys=[key], day=timezone.localdate() + timedelta(days=3), actor=admin_user, origin=Origin())

    key.refresh_from_db()
    assert (key.revoke_attempts, key.next_attempt_at) == (0, None)


@postgresql_only("PostgreSQL's plan")
def test_the_expired_keys_are_found_without_reading_every_key():
    """The expiry job's query at 100,000 keys: the (status, expires) index, not a scan, however many keys wait."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (username, password, is_superuser, is_staff, is_active, first_name, "
            "last_name, email, date_joined) VALUES ('bulk', '', false, false, true, '', '', '', now()) "
            "RETURNING id"
        )
        (owner,) = cursor.fetchone()
        # Active keys expiring over the next year, a few expired (one backing off), and revoked ones.
        cursor.execute(
            "INSERT INTO keys_registeredkey (owner_id, title, key_type, public_key, comment, fingerprint_sha256, "
            "fingerprint_md5, nsml_name, status, source, status_changed_at, revoke_attempts, next_attempt_at, "
            "created_at, revoked_note, failure, revoke_reason, revoke_requested_agent, submitted_agent, expires_at) "
            "SELECT %s, 'k' || n, '', '', '', '', '', md5(n::text), CASE WHEN n %% 4 = 0 THEN 'revoked' ELSE "
            "'active' END, 'portal', now(), CASE WHEN n <= 10 THEN 1 ELSE 0 END, CASE WHEN n <= 10 THEN now() + "
            "interval '1 minute' END, now(), '', '', '', '', '', now() + (n - 20) * interval '5 minutes' "
            "FROM generate_series(1, 100000) AS n",
            [owner],
        )
        cursor.execute("ANALYZE keys_registeredkey")
    now = timezone.now()
    expired = selectors.expired_active_keys(now)

    sql, params = expired.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Seq Scan on keys_registeredkey" not in plan, plan
    assert "key_status_expires" in plan, plan
    # The 20 expired keys, 5 of them revoked: 15 active, of which those waiting out a refusal are left out.
    assert len(list(expired)) == 15 - len([n for n in range(1, 11) if n % 4])


def test_each_reminder_is_sent_once_across_runs(emailed_member, nsml, register, django_capture_on_commit_callbacks):
    key = expire_in(register(emailed_member, "laptop"), timedelta(days=6, hours=23))
    mail.outbox.clear()

    sync(django_capture_on_commit_callbacks)
    sync(django_capture_on_commit_callbacks)  # a restarted job: nothing new is due

    assert [m.subject for m in mail.outbox] == ["Your SSH key expires soon: rotate it"]
    week = mail.outbox[0]
    assert "laptop" in week.body and key.fingerprint_sha256 in week.body
    assert f"http://127.0.0.1:8000{reverse('keys:rotate', args=[key.pk])}" in week.body
    assert "(Asia/Seoul)" in week.body

    expire_in(key, timedelta(hours=23))
    sync(django_capture_on_commit_callbacks)
    sync(django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 2
    assert sorted(ExpiryNotice.objects.values_list("kind", flat=True)) == ["1d", "7d"]


def test_an_admin_sees_in_the_audit_log_that_the_member_was_warned_before_the_revocation(
    emailed_member, admin_client, nsml, register, django_capture_on_commit_callbacks
):
    """Found in QA: the reminders were invisible to an admin, who could not tell whether a member whose key the
    expiry job revoked had been warned. Each reminder sent is an audit row of the portal's, beside the revocation."""
    key = expire_in(register(emailed_member, "laptop"), timedelta(days=6, hours=23))
    expiry = f"{key.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    sync(django_capture_on_commit_callbacks)
    sync(django_capture_on_commit_callbacks)  # nothing new is due: no second row
    expire_in(key, timedelta(hours=23))
    sync(django_capture_on_commit_callbacks)
    expire_in(key, timedelta(minutes=-1))
    sync(django_capture_on_commit_callbacks)

    rows = AuditEvent.objects.filter(registered_key=key).exclude(action="register").order_by("id")
    assert [(row.action, row.outcome, row.reason) for row in rows] == [
        ("expiry_reminder", "success", "7d"),
        ("expiry_reminder", "success", "1d"),
        ("revoke", "success", "expired"),
    ]
    week = rows[0]
    assert (week.actor, week.actor_username, week.subject, week.title) == (
        None,
        "manage.py nsml_sync",
        emailed_member,
        "laptop",
    )
    assert week.detail == f"expires {expiry}"  # the expiry it warned of
    listed = admin_client.get(
        reverse("admin:keys_auditevent_changelist"), {"q": "laptop"}, HTTP_ACCEPT_LANGUAGE="ko"
    ).content.decode()
    assert listed.count("만료 알림 보내기") >= 2
    page = admin_client.get(reverse("admin:keys_auditevent_change", args=[week.pk]), HTTP_ACCEPT_LANGUAGE="ko")
    shown = page.content.decode()
    assert "만료 알림 보내기" in shown and "7일 전" in shown and f"만료 {expiry}" in shown


def test_a_reminder_a_member_has_no_address_for_is_an_audit_row_once(
    member, admin_client, nsml, register, django_capture_on_commit_callbacks
):
    key = expire_in(register(member, "laptop"), timedelta(hours=5))

    sync(django_capture_on_commit_callbacks)
    sync(django_capture_on_commit_callbacks)

    (row,) = AuditEvent.objects.filter(action="expiry_reminder")
    assert (row.outcome, row.reason, row.registered_key, row.subject) == ("failed", "1d", key, member)
    assert row.detail.startswith("not sent: the member has no email address; expires ")
    page = admin_client.get(reverse("admin:keys_auditevent_change", args=[row.pk]), HTTP_ACCEPT_LANGUAGE="ko")
    assert "보내지 않음: 구성원에게 이메일 주소가 없음" in page.content.decode()


def test_a_key_first_seen_within_a_day_gets_only_the_last_reminder(
    emailed_member, nsml, register, django_capture_on_commit_callbacks
):
    expire_in(register(emailed_member, "laptop"), timedelta(hours=5))
    mail.outbox.clear()

    sync(django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1
    assert list(ExpiryNotice.objects.values_list("kind", flat=True)) == ["1d"]


def test_a_deactivated_member_gets_no_reminder_to_rotate_a_key_they_cannot_reach(
    emailed_member, nsml, register, django_capture_on_commit_callbacks
):
    key = expire_in(register(emailed_member, "laptop"), timedelta(hours=5))
    # Deactivated by a directory sync (no signal), and NSML cannot be listed: the pass revokes nothing.
    type(emailed_member).objects.filter(pk=emailed_member.pk).update(is_active=False)
    nsml.set_faults(Faults(fail_status=503, fail_methods=frozenset({"GET"})))
    mail.outbox.clear()

    status, out = sync(django_capture_on_commit_callbacks)

    assert status == 2
    assert "reminder" not in out
    assert mail.outbox == []
    assert not ExpiryNotice.objects.filter(registered_key=key).exists()


def test_a_member_without_an_email_address_is_not_said_to_be_reminded(
    member, nsml, register, django_capture_on_commit_callbacks
):
    expire_in(register(member, "laptop"), timedelta(hours=5))
    mail.outbox.clear()

    _status, out = sync(django_capture_on_commit_callbacks)
    _status, again = sync(django_capture_on_commit_callbacks)

    assert mail.outbox == []
    assert "expiry reminders sent" not in out
    assert "expiry reminders not sent: the member has no email address: laptop (alice) (1d)" in out
    assert "reminder" not in again  # said once, not every pass


def test_a_reminder_the_mail_server_refused_is_sent_by_a_pass_after_the_backoff(
    emailed_member, nsml, register, django_capture_on_commit_callbacks, monkeypatch
):
    from django.core.mail.backends.locmem import EmailBackend

    key = expire_in(register(emailed_member, "laptop"), timedelta(hours=5))
    mail.outbox.clear()
    send_messages = EmailBackend.send_messages

    def refused(self, messages):
        raise ConnectionRefusedError("the mail server is down")

    monkeypatch.setattr(EmailBackend, "send_messages", refused)
    _status, out = sync(django_capture_on_commit_callbacks)
    assert not AuditEvent.objects.filter(action="expiry_reminder").exists()  # not sent: no row, and no row per pass
    monkeypatch.setattr(EmailBackend, "send_messages", send_messages)
    _status, soon = sync(django_capture_on_commit_callbacks)  # within the minute's backoff: not tried again yet
    assert mail.outbox == []
    EmailNotice.objects.update(next_attempt_at=timezone.now())  # as if the minute had passed
    _status, again = sync(django_capture_on_commit_callbacks)
    sync(django_capture_on_commit_callbacks)

    assert "expiry reminders sent" not in out
    assert (
        "expiry reminders the mail server did not take (in the outbox: later passes send them): laptop (alice) (1d)"
        in out
    )
    assert "reminder" not in soon  # one reminder, not a new one each pass
    assert "email notices sent from the outbox: 1" in again
    assert [m.subject for m in mail.outbox] == ["Your SSH key expires soon: rotate it"]
    assert ExpiryNotice.objects.count() == 1
    row = AuditEvent.objects.get(action="expiry_reminder")  # written as it went out, not when it was queued
    assert (row.outcome, row.reason, row.registered_key, row.actor_username) == (
        "success",
        "1d",
        key,
        "manage.py nsml_sync",
    )
    assert (
        row.detail
        == f"expires {key.expires_at:%Y-%m-%d %H:%M:%S} UTC; sent from the outbox after the mail server refused it"
    )


def test_a_key_far_from_expiry_gets_no_reminder(emailed_member, nsml, register, django_capture_on_commit_callbacks):
    expire_in(register(emailed_member, "laptop"), timedelta(days=7, hours=1))
    mail.outbox.clear()

    sync(django_capture_on_commit_callbacks)

    assert mail.outbox == []


def test_a_new_expiry_makes_the_reminders_due_again(emailed_member, nsml, register, django_capture_on_commit_callbacks):
    key = expire_in(register(emailed_member, "laptop"), timedelta(days=6))
    sync(django_capture_on_commit_callbacks)
    mail.outbox.clear()

    expire_in(key, timedelta(days=5))  # an admin moved it: the reminder is about the new date
    sync(django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1


def test_the_member_is_told_once_the_expired_key_is_revoked(
    emailed_member, nsml, register, django_capture_on_commit_callbacks
):
    key = expire_in(register(emailed_member, "laptop"), timedelta(seconds=-5))
    mail.outbox.clear()

    sync(django_capture_on_commit_callbacks)
    sync(django_capture_on_commit_callbacks)

    assert [m.subject for m in mail.outbox] == ["Your SSH key expired and was revoked"]
    notice = mail.outbox[0]
    assert "laptop" in notice.body and key.fingerprint_sha256 in notice.body
    assert f"http://127.0.0.1:8000{reverse('keys:new')}" in notice.body


def test_a_deactivated_member_whose_keys_were_kept_is_not_told_their_expired_key_was_revoked(
    emailed_member, nsml, register, settings, django_capture_on_commit_callbacks
):
    """Found with KEYS_REVOKE_ON_DEACTIVATE off: a leaver's key stays active until its expiry, when the job revokes
    it, and the leaver got "Your SSH key expired and was revoked ... add a new key" from a portal they can no
    longer log in to. The security team still gets its copy of the revocation."""
    settings.KEYS_REVOKE_ON_DEACTIVATE = False
    settings.SECURITY_NOTIFY_EMAIL = "security@example.com"
    key = expire_in(register(emailed_member, "laptop"), timedelta(seconds=-5))
    emailed_member.is_active = False
    emailed_member.save()
    mail.outbox.clear()

    _status, out = sync(django_capture_on_commit_callbacks)

    key.refresh_from_db()
    assert key.status == "revoked" and "expired keys revoked: laptop (alice)" in out
    [copy] = mail.outbox
    assert (copy.to, copy.bcc) == (["security@example.com"], [])
    assert emailed_member.email not in copy.to + copy.cc + copy.bcc


def test_emails_go_out_in_english_for_an_english_member(
    emailed_member, nsml, register, django_capture_on_commit_callbacks
):
    MemberProfile.objects.create(user=emailed_member, language="en")
    expire_in(register(emailed_member, "laptop"), timedelta(days=3))
    mail.outbox.clear()

    sync(django_capture_on_commit_callbacks)

    (reminder,) = mail.outbox
    assert reminder.extra_headers["Content-Language"] == "en"
    assert "Expires: " in reminder.body
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d KST", reminder.body)  # the one clock: end of the day, local


def test_emails_go_out_in_korean_for_a_korean_member(
    emailed_member, nsml, register, django_capture_on_commit_callbacks
):
    MemberProfile.objects.create(user=emailed_member, language="ko")
    key = expire_in(register(emailed_member, "laptop"), timedelta(days=3))
    mail.outbox.clear()

    sync(django_capture_on_commit_callbacks)
    expire_in(key, timedelta(seconds=-1))
    sync(django_capture_on_commit_callbacks)

    assert [m.extra_headers["Content-Language"] for m in mail.outbox] == ["ko", "ko"]
    for message in mail.outbox:
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d KST", message.body)
        assert "Hello" not in message.body  # written in Korean
        assert "laptop" in message.body and key.fingerprint_sha256 in message.body


def test_the_language_of_the_log_in_is_remembered(client, member, settings):
    client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"}, HTTP_ACCEPT_LANGUAGE="ko")

    assert MemberProfile.objects.get(user=member).language == "ko"


def test_the_language_of_a_key_submission_is_remembered(member_client, member, nsml, new_public_key):
    member_client.post(reverse("keys:new"), {"title": "laptop", "key": new_public_key()}, HTTP_ACCEPT_LANGUAGE="ko")

    assert MemberProfile.objects.get(user=member).language == "ko"


@postgresql_only(
    "two connections committing at once; the suite's SQLite cannot empty an append-only audit table after such a test"
)
@pytest.mark.django_db(transaction=True)
def test_a_key_its_member_gives_a_later_expiry_while_the_job_runs_is_not_revoked(member, member_client, nsml, register):
    """Found with two expired keys and a slow NSML: the member moved one key's expiry a month on, the page said
    so, and a moment later the job, which had listed the expired keys before, revoked it as expired."""
    first = expire_in(register(member, "first"), timedelta(minutes=-1))
    second = expire_in(register(member, "second"), timedelta(minutes=-1))
    nsml.set_faults(Faults(latency=0.5))
    job = threading.Thread(target=lambda: (nsml_sync("--apply"), connection.close()))
    job.start()
    deadline = time.monotonic() + 10
    while not RegisteredKey.objects.filter(status="revoking").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    revoking = RegisteredKey.objects.get(status="revoking")
    kept = second if revoking.pk == first.pk else first
    later = (timezone.localdate() + timedelta(days=30)).isoformat()

    changed = member_client.post(reverse("keys:expiry", args=[kept.pk]), {"expires_at": later})
    job.join(timeout=60)

    assert changed.status_code == 302
    kept.refresh_from_db()
    assert (kept.status, timezone.localdate(kept.expires_at).isoformat()) == ("active", later)
    assert [held["title"] for held in nsml.held_keys()] == [kept.title]
    assert not AuditEvent.objects.filter(registered_key=kept, action="revoke").exists()


def test_the_language_chosen_with_the_header_switch_is_remembered(
    client, emailed_member, nsml, register, django_capture_on_commit_callbacks
):
    """A member who logged in in English and then chose 한국어 in the header reads the job's emails in Korean."""
    client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"}, HTTP_ACCEPT_LANGUAGE="en")
    client.post(reverse("set_language"), {"language": "ko", "next": reverse("keys:list")})
    expire_in(register(emailed_member, "laptop"), timedelta(days=3))
    mail.outbox.clear()

    sync(django_capture_on_commit_callbacks)

    (reminder,) = mail.outbox
    assert reminder.extra_headers["Content-Language"] == "ko"
    assert "Hello" not in reminder.body


def test_a_revoke_after_switching_language_is_notified_in_the_new_language(
    client, emailed_member, nsml, register, django_capture_on_commit_callbacks
):
    client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"}, HTTP_ACCEPT_LANGUAGE="en")
    key = register(emailed_member, "laptop")
    client.post(reverse("set_language"), {"language": "ko", "next": reverse("keys:list")})
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("keys:revoke", args=[key.pk]))

    (notice,) = mail.outbox
    assert notice.extra_headers["Content-Language"] == "ko"
    assert "Hello" not in notice.body


def test_the_header_switch_remembers_nothing_for_a_visitor_not_logged_in(client):
    response = client.post(reverse("set_language"), {"language": "ko", "next": "/"})

    assert response.status_code == 302
    assert not MemberProfile.objects.exists()


def test_an_expired_key_nsml_refused_to_delete_is_audited_in_the_jobs_name(
    member, nsml, register, event, django_capture_on_commit_callbacks
):
    # The refusal's row named nobody (an empty actor) while the same job's successful revocation names itself.
    key = expire_in(register(member, "expired"), timedelta(minutes=-1))
    nsml.set_faults(Faults(fail_status=403, fail_methods=frozenset({"DELETE"})))

    sync(django_capture_on_commit_callbacks)

    row = event(action="revoke", registered_key=key)
    assert (row.outcome, row.reason, row.actor, row.actor_username) == (
        "failed",
        "permission",
        None,
        "manage.py nsml_sync",
    )
