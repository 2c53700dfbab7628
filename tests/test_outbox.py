"""The email outbox (keys/outbox.py): a notice goes out after the member's response, not inside it; one the mail
server did not take waits, and nsml_sync sends it later, with a backoff, until it gives up after two days.

The mail servers here are real sockets: one that accepts and never answers (a hung server), none at all (down), and
aiosmtpd (up)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.core.mail.backends import locmem
from django.urls import reverse
from django.utils import timezone

from keys import outbox
from keys.audit import Origin
from keys.models import AuditEvent, EmailNotice, ExpiryNotice, RegisteredKey
from tests.helpers import free_port, generate_private_key, nsml_sync, public_line
from tests.live_portal import (
    Gunicorn,
    Member,
    create_members,
    live_simulator,
    manage,
    portal_database,
    portal_env,
    read_rows,
)

pytestmark = pytest.mark.django_db

SUBJECT = "An SSH key was added to your NSML account"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A mail server that accepts connections and never answers (a hung server, a dropped route)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # connections complete in the kernel's backlog; nobody reads them
        yield listener.getsockname()[1]


class Received:
    """aiosmtpd's handler: every message the server took."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def smtp_server(port: int) -> tuple[Controller, Received]:
    received = Received()
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, received


def notice_rows(database_url: str, env: dict[str, str]) -> list[dict]:
    return read_rows(
        database_url,
        "from keys.models import EmailNotice\n"
        "rows = list(EmailNotice.objects.values('kind', 'to', 'attempts', 'last_error', 'sent_at'))\n",
        env=env,
    )


def wait_for_attempt(database_url: str, env: dict[str, str], timeout: float = 20) -> dict:
    """The notice once its first attempt, after the response, has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = notice_rows(database_url, env)
        if rows and rows[0]["attempts"]:
            return rows[0]
        time.sleep(0.3)
    raise AssertionError(f"the notice was not tried within {timeout} s: {rows}")


def portal_with_mail_server(database_url: str, smtp_port: int, simulator, tmp_path: Path) -> tuple[Gunicorn, dict]:
    create_members(database_url, ["dora"])
    read_rows(
        database_url,
        "from django.contrib.auth.models import User\n"
        "User.objects.filter(username='dora').update(email='dora@example.com')\nrows = []\n",
    )
    env = portal_env(
        database_url,
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        EMAIL_TIMEOUT="3",
        NSML_API_URL=simulator.base_url,
    )
    return Gunicorn(env, tmp_path / "gunicorn.log", workers=1, threads=4), env


def test_a_hanging_mail_server_does_not_hold_the_members_submission(tmp_path: Path, silent_port):
    """Found with a mail server that accepted connections and never answered: the member's key submission took
    EMAIL_TIMEOUT (10 s by default) to answer, the notice being sent inside the request."""
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        portal, env = portal_with_mail_server(database_url, silent_port, simulator, tmp_path)
        try:
            member = Member(portal.url, "dora")
            member.log_in()
            started = time.monotonic()
            response = member.post("/keys/new/", {"title": "dora-laptop", "key": public_line(generate_private_key())})
            elapsed = time.monotonic() - started
            notice = wait_for_attempt(database_url, env)
        finally:
            portal.stop()

    assert response.status_code == 302
    assert elapsed < 1.5  # EMAIL_TIMEOUT is 3 s: the page did not wait for the mail server
    assert (notice["kind"], notice["to"], notice["sent_at"]) == ("key_added", ["dora@example.com"], None)
    assert notice["last_error"] == "the mail server did not answer in time (EMAIL_TIMEOUT)"


def test_a_notice_the_mail_server_was_down_for_is_sent_by_a_later_nsml_sync_pass(tmp_path: Path):
    """Found with the mail server down while a member added a key: the security notice was logged as failed and never
    sent, though the server was back minutes later."""
    smtp_port = free_port()  # nothing listens there yet: the server is down
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        portal, env = portal_with_mail_server(database_url, smtp_port, simulator, tmp_path)
        try:
            member = Member(portal.url, "dora")
            member.log_in()
            response = member.post("/keys/new/", {"title": "dora-laptop", "key": public_line(generate_private_key())})
            failed = wait_for_attempt(database_url, env)
        finally:
            portal.stop()
        controller, received = smtp_server(smtp_port)  # the server is back
        try:
            # A dry run sends them too: mail is not NSML's drift. Within the first backoff (a minute): not yet.
            early = manage(database_url, "nsml_sync", env=env, check=False)
            read_rows(
                database_url,
                "from django.utils import timezone\nfrom keys.models import EmailNotice\n"
                "EmailNotice.objects.update(next_attempt_at=timezone.now())\nrows = []\n",
                env=env,
            )
            later = manage(database_url, "nsml_sync", env=env, check=False)
            [sent] = notice_rows(database_url, env)
        finally:
            controller.stop()

    assert response.status_code == 302
    assert (failed["attempts"], failed["sent_at"]) == (1, None)
    assert failed["last_error"] == "ConnectionRefusedError: Connection refused"
    assert "email notices" not in early.stdout
    assert "email notices sent from the outbox: 1" in later.stdout, later.stdout + later.stderr
    [(recipients, content)] = received.messages
    message = message_from_bytes(content)
    assert recipients == ["dora@example.com"]
    assert (message["Subject"], message["Content-Language"]) == (SUBJECT, "en")
    assert "dora-laptop" in message.get_payload(decode=True).decode()
    assert (sent["attempts"], sent["last_error"]) == (2, "")
    assert sent["sent_at"] is not None


@pytest.fixture
def refusing_mail_server(settings) -> int:
    """The portal's mail server is down: SMTP to a loopback port nothing listens on."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2.0
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "mailer", "Mail-Pass-123"
    return settings.EMAIL_PORT


def test_each_attempt_waits_twice_as_long_as_the_one_before_up_to_an_hour(
    member, register, refusing_mail_server, django_capture_on_commit_callbacks
):
    member.email = "alice@example.com"
    member.save()
    with django_capture_on_commit_callbacks(execute=True):
        register(member, "laptop")  # outside a request: tried at once, and refused
    waits = []
    for _attempt in range(3):
        notice = EmailNotice.objects.get()
        waits.append(round((notice.next_attempt_at - timezone.now()).total_seconds() / 60))
        EmailNotice.objects.update(next_attempt_at=timezone.now())  # as if the wait were over
        _status, out = nsml_sync()

    assert waits == [1, 2, 4]
    assert "email notices the mail server did not take (tried again after a backoff): 1" in out
    assert EmailNotice.objects.get().attempts == 4
    assert [outbox.retry_delay(attempts) for attempts in (7, 8, 100)] == [timedelta(hours=1)] * 3


def test_a_reminder_not_sent_within_two_days_is_given_up_counted_and_audited(
    member, register, refusing_mail_server, caplog
):
    member.email = "alice@example.com"
    member.save()
    key = register(member, "laptop")
    RegisteredKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() + timedelta(hours=5))
    _status, first = nsml_sync("--apply")  # the reminder is due: refused, kept in the outbox
    EmailNotice.objects.update(created_at=timezone.now() - timedelta(days=2, minutes=1), next_attempt_at=timezone.now())
    caplog.set_level(logging.WARNING, logger="keys.outbox")

    _status, out = nsml_sync()

    assert "expiry reminders the mail server did not take (in the outbox: later passes send them)" in first
    assert "email notices given up on (not sent within 2 days; in Admin > Email notices): 1" in out
    notice = EmailNotice.objects.get()
    assert (notice.sent_at, notice.next_attempt_at, notice.attempts) == (None, None, 2)
    assert notice.gave_up_at is not None
    row = AuditEvent.objects.get(action="expiry_reminder")
    assert (row.outcome, row.reason, row.registered_key) == ("failed", "1d", key)
    assert row.detail.startswith("not sent: the mail server did not take it within 2 days; expires ")
    [warning] = [record.getMessage() for record in caplog.records if "gave up" in record.getMessage()]
    assert "ConnectionRefusedError" in warning
    for secret in ("Mail-Pass-123", "alice@example.com"):
        assert secret not in warning + notice.last_error
    _status, again = nsml_sync()
    assert "email notices" not in again  # given up once, not every pass
    assert ExpiryNotice.objects.count() == 1  # and no new reminder in its place


def test_an_active_members_revocation_still_reaches_them_with_securitys_blind_copy(
    member, admin_user, nsml, register, settings, django_capture_on_commit_callbacks
):
    from keys.services import revoke_key

    settings.SECURITY_NOTIFY_EMAIL = "security@example.com"
    member.email = "alice@example.com"
    member.save()
    key = register(member, "alice-laptop")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        revoke_key(key=key, actor=member, origin=Origin(ip="10.0.0.7"))

    [notice] = mail.outbox
    assert (notice.to, notice.bcc) == (["alice@example.com"], ["security@example.com"])
    assert EmailNotice.objects.get(kind="key_revoked").sent_at is not None


def test_the_admin_shows_the_outbox_read_only_in_the_readers_language(
    admin_client, member, register, refusing_mail_server, django_capture_on_commit_callbacks
):
    member.email = "alice@example.com"
    member.save()
    with django_capture_on_commit_callbacks(execute=True):
        register(member, "alice-laptop")
    notice = EmailNotice.objects.get()
    changelist = reverse("admin:keys_emailnotice_changelist")

    listed = admin_client.get(changelist + "?state=waiting", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    page = admin_client.get(
        reverse("admin:keys_emailnotice_change", args=[notice.pk]), HTTP_ACCEPT_LANGUAGE="ko"
    ).content.decode()
    sent = admin_client.get(changelist + "?state=sent").content.decode()
    edit = admin_client.post(reverse("admin:keys_emailnotice_change", args=[notice.pk]), {"subject": "changed"})

    assert "이메일 알림" in listed and "대기 중" in listed and "키 추가됨" in listed
    assert "ConnectionRefusedError" in listed
    assert "alice@example.com" in page and "alice-laptop" in page and "다음 시도" in page
    assert "Mail-Pass-123" not in listed + page
    assert "0 email notices" in sent
    assert reverse("admin:keys_emailnotice_add") not in listed
    assert edit.status_code == 403
    assert EmailNotice.objects.get().subject == SUBJECT


REMINDER = "Your SSH key expires soon: rotate it"


def reminder_waiting(member, register) -> RegisteredKey:
    """A key expiring in 5 hours whose 1-day reminder the mail server (down) did not take: it waits in the outbox."""
    member.email = "alice@example.com"
    member.save()
    key = register(member, "laptop")
    RegisteredKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() + timedelta(hours=5))
    nsml_sync("--apply")
    assert EmailNotice.objects.get(kind="expiry_reminder").sent_at is None
    key.refresh_from_db()
    return key


def mail_server_back(settings) -> tuple[Controller, Received]:
    """The mail server is up again at the port it was down on; every waiting notice is due."""
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""  # aiosmtpd offers no log-in
    EmailNotice.objects.filter(outbox.waiting()).update(next_attempt_at=timezone.now())
    return smtp_server(settings.EMAIL_PORT)


def subjects(received: Received) -> list[str]:
    return [message_from_bytes(content)["Subject"] for _recipients, content in received.messages]


@pytest.mark.parametrize("change", ["revoke", "rotate"])
def test_a_reminder_waiting_when_its_key_is_revoked_or_rotated_is_dropped_not_sent(
    change, member, register, new_public_key, refusing_mail_server, settings, django_capture_on_commit_callbacks
):
    """Found with the mail server down for an hour: a member rotated the key a reminder was about, and once the
    server was back the outbox sent "Your SSH key expires soon: rotate it" about the key already rotated away."""
    from keys.services import revoke_key, rotate_key

    key = reminder_waiting(member, register)
    with django_capture_on_commit_callbacks(execute=True):
        if change == "revoke":
            revoke_key(key=key, actor=member, origin=Origin(ip="10.0.0.7"))
        else:
            rotate_key(old=key, title="laptop-2", key_text=new_public_key(), actor=member, origin=Origin(ip="10.0.0.7"))
    controller, received = mail_server_back(settings)
    try:
        _status, out = nsml_sync()
    finally:
        controller.stop()

    assert REMINDER not in subjects(received)
    assert "An SSH key was revoked from your NSML account" in subjects(received)  # the change's own notice went
    reminder = EmailNotice.objects.get(kind="expiry_reminder")
    assert (reminder.sent_at, reminder.gave_up_at, reminder.next_attempt_at) == (None, None, None)
    assert reminder.dropped_at is not None
    assert reminder.last_error == outbox.DROPPED_NOT_ACTIVE
    assert (
        "expiry reminders dropped, not sent (their key was revoked or rotated, or its expiry changed, since): 1" in out
    )
    assert not AuditEvent.objects.filter(action="expiry_reminder").exists()  # no row: the key's history has the change
    _status, again = nsml_sync()
    assert "dropped" not in again  # once


def test_a_reminder_of_an_expiry_since_changed_is_dropped_and_the_new_expirys_own_is_sent(
    member, admin_user, register, refusing_mail_server, settings
):
    """Found with the mail server down while an admin gave a key three more days: the reminder "expires in a day"
    waiting in the outbox went out once the server was back, about an expiry the key no longer had."""
    from keys.services import set_expiry

    key = reminder_waiting(member, register)
    [changed] = set_expiry(keys=[key], day=timezone.localdate() + timedelta(days=3), actor=admin_user, origin=Origin())
    controller, received = mail_server_back(settings)
    try:
        _status, out = nsml_sync("--apply")  # the new expiry's 7-day reminder is due, and goes at once
    finally:
        controller.stop()

    assert subjects(received) == [REMINDER]
    stale = EmailNotice.objects.get(kind="expiry_reminder", dropped_at__isnull=False)
    assert stale.last_error == outbox.DROPPED_EXPIRY_CHANGED
    [row] = AuditEvent.objects.filter(action="expiry_reminder")
    assert (row.outcome, row.reason) == ("success", "7d")
    assert row.detail == f"expires {changed.expires_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


class SlowMailServer(locmem.EmailBackend):
    """A mail server taking two minutes a message (the clock moves on as it sends); five minutes into the first pass's
    batch a second pass, another reconciler loop, runs."""

    clock: list = []
    second_pass: list = []

    def send_messages(self, messages):
        self.clock[0] += timedelta(minutes=2)
        if self.clock[0] - self.clock[1] >= timedelta(minutes=5) and not self.second_pass:
            self.second_pass.append(outbox.send_due(origin=Origin.command("nsml_sync")))
        return super().send_messages(messages)


def test_two_passes_over_a_slow_mail_server_never_send_a_notice_twice(settings, monkeypatch):
    """Found with two reconciler loops (nsml_sync --apply --every 5) and a mail server slow after an outage: the first
    pass held its whole batch for 5 minutes from its start, so the second, 5 minutes in, took the notices the first
    had not reached yet, and both sent them: members got the same security notice twice."""
    start = timezone.now()
    monkeypatch.setattr(SlowMailServer, "clock", [start, start])
    monkeypatch.setattr(SlowMailServer, "second_pass", [])
    monkeypatch.setattr(timezone, "now", lambda: SlowMailServer.clock[0])
    settings.EMAIL_BACKEND = "tests.test_outbox.SlowMailServer"
    for number in range(3):
        EmailNotice.objects.create(
            kind="key_added", to=["alice@example.com"], subject=f"notice {number}", body="-", next_attempt_at=start
        )

    first = outbox.send_due(origin=Origin.command("nsml_sync"))

    assert sorted(message.subject for message in mail.outbox) == ["notice 0", "notice 1", "notice 2"]
    [second] = SlowMailServer.second_pass
    assert (first.sent, second.sent) == (3, 0)
    assert EmailNotice.objects.filter(sent_at__isnull=False).count() == 3


def notice_written(days_ago: float, **state) -> EmailNotice:
    return EmailNotice.objects.create(
        kind="key_added",
        to=["alice@example.com"],
        subject="s",
        body="laptop SHA256:abc from 10.0.0.7",
        created_at=timezone.now() - timedelta(days=days_ago),
        **state,
    )


def test_an_apply_pass_deletes_the_notices_done_with_past_the_retention_a_batch_at_a_time(nsml, settings, monkeypatch):
    """Found reading the outbox a month on: every notice ever sent was kept, each body holding a key's title, its
    fingerprint and the address the change came from."""
    settings.EMAIL_NOTICE_RETENTION_DAYS = 30
    monkeypatch.setattr(outbox, "PRUNE_BATCH", 2)
    monkeypatch.setattr(outbox, "PRUNE_BATCHES", 1)
    now = timezone.now()
    old = [
        notice_written(31, sent_at=now - timedelta(days=31)),
        notice_written(33, gave_up_at=now - timedelta(days=31)),
        notice_written(40, dropped_at=now - timedelta(days=39)),
    ]
    kept = [
        notice_written(29, sent_at=now - timedelta(days=29)),
        # Still waiting (written long ago, a backoff under way): sent or given up on first, deleted later.
        notice_written(31, next_attempt_at=now + timedelta(hours=1)),
    ]

    _status, dry = nsml_sync()  # a dry run deletes nothing
    after_dry = EmailNotice.objects.count()
    _status, first = nsml_sync("--apply")
    after_first = EmailNotice.objects.count()
    _status, second = nsml_sync("--apply")

    assert after_dry == 5 and "deleted" not in dry
    assert after_first == 3  # one batch of 2 a pass here
    assert "email notices deleted (sent, given up on or dropped, written more than 30 days ago): 2" in first
    assert "email notices deleted (sent, given up on or dropped, written more than 30 days ago): 1" in second
    assert set(EmailNotice.objects.values_list("pk", flat=True)) == {notice.pk for notice in kept}
    assert not EmailNotice.objects.filter(pk__in=[notice.pk for notice in old]).exists()
    _status, third = nsml_sync("--apply")
    assert "deleted" not in third


@pytest.mark.parametrize(
    ("value", "says"),
    [(0, "EMAIL_NOTICE_RETENTION_DAYS must be at least 1, not 0."), (36_501, "must be at most 36,500, not 36,501.")],
)
def test_a_retention_that_cannot_work_stops_the_portal(settings, value, says):
    from keys.checks import check_numbers

    settings.EMAIL_NOTICE_RETENTION_DAYS = value

    [error] = [error for error in check_numbers(None) if "EMAIL_NOTICE_RETENTION_DAYS" in error.msg]
    assert says in error.msg and error.id == "keys.E007"


def test_the_admin_lists_a_dropped_reminder_and_why_in_the_readers_language(admin_client):
    EmailNotice.objects.create(
        kind="expiry_reminder",
        to=["alice@example.com"],
        subject=REMINDER,
        body="-",
        dropped_at=timezone.now(),
        last_error=outbox.DROPPED_EXPIRY_CHANGED,
    )
    changelist = reverse("admin:keys_emailnotice_changelist")

    dropped = admin_client.get(changelist + "?state=dropped", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    waiting = admin_client.get(changelist + "?state=waiting").content.decode()

    assert "취소됨" in dropped and "알림을 작성한 뒤 키의 만료일이 바뀌었습니다" in dropped
    assert "0 email notices" in waiting
