"""The email outbox (keys/outbox.py): a notice goes out after the member's response, not inside it; one the mail
server did not take waits, and nsml_sync sends it later, with a backoff, until it gives up after two days.

The mail servers here are real sockets: one that accepts and never answers (a hung server), none at all (down), and
aiosmtpd (up)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
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
