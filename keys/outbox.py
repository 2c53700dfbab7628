"""The email outbox: a notice (`EmailNotice`) is stored when the change it tells of commits, and sent once the
member's response has gone (Django's `request_finished`, which gunicorn sends when it closes the response), or at
once outside a request (a command). A mail server that is slow or hangs no longer holds the member's page; one that
is down or refuses leaves the notice in the outbox, and each `nsml_sync` pass sends what is due again: after 1 minute,
doubling with each failure up to an hour, until it goes or GIVE_UP_AFTER has passed since it was written. An expiry
reminder whose key was revoked, or whose expiry changed, before it could go is dropped, not sent. Each
`nsml_sync --apply` pass deletes the notices done with past EMAIL_NOTICE_RETENTION_DAYS."""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import mail
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from keys.audit import Origin, record_event
from keys.models import EMAIL_NOTICE_WAITING, AuditEvent, EmailNotice, RegisteredKey

logger = logging.getLogger("keys.outbox")

RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 3600
GIVE_UP_AFTER = timedelta(days=2)
# While one process sends a notice, no nsml_sync pass takes it up; after this, one does (the process may have stopped).
HOLD = timedelta(minutes=5)
# Notices one pass sends at most: a pass stays short however long the mail server was away.
BATCH = 500
# Old notices one pass deletes at most, in batches of PRUNE_BATCH: short however many built up; the next pass goes on.
PRUNE_BATCH = 1000
PRUNE_BATCHES = 10
# What the mail server refused about one message (an address, its content): the next may still go on that connection.
MESSAGE_REFUSALS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)

_request = threading.local()


def queue(notice: EmailNotice, *, origin: Origin | None = None) -> bool:
    """Store `notice` in the outbox and send it: after the response inside a request, at once outside one. True when
    it went out now (outside a request, and the mail server took it). `origin`: what ran the change, for a reminder's
    audit row when it goes out from here."""
    notice.audit_origin = origin
    notice.next_attempt_at = timezone.now() + HOLD  # this process sends it; a pass takes it up only if it did not
    try:
        notice.save(force_insert=True)
    except DatabaseError:
        # The change is committed all the same: the notice is sent without its row, as before the outbox.
        logger.exception(
            "could not store the %s notice about key %s; sending it without a row",
            notice.kind,
            notice.registered_key_id,
        )
        notice.pk = None
    waiting = getattr(_request, "notices", None)
    if waiting is not None and notice.pk is not None:
        waiting.append(notice)
        return False
    return send([notice]).sent == 1


def start_request(**kwargs) -> None:
    """request_started: notices committed in this request wait for its response to go."""
    _request.notices = []


def finish_request(**kwargs) -> None:
    """request_finished: the response has gone; send what the request queued. Never raises (it would only reach
    gunicorn): a notice not sent stays in the outbox."""
    notices, _request.notices = getattr(_request, "notices", None), None
    if not notices:
        return
    try:
        send(notices)
    except Exception:
        logger.exception("could not send %d notice(s) after the response; nsml_sync sends them", len(notices))


@dataclass
class Delivery:
    """What one `send` or `send_due` did."""

    sent: int = 0
    failed: int = 0
    given_up: int = 0
    dropped: int = 0

    def lines(self) -> list[str]:
        lines = []
        if self.sent:
            lines.append(f"email notices sent from the outbox: {self.sent}")
        if self.failed:
            lines.append(f"email notices the mail server did not take (tried again after a backoff): {self.failed}")
        if self.given_up:
            lines.append(
                f"email notices given up on (not sent within {GIVE_UP_AFTER.days} days; in Admin > Email notices): "
                f"{self.given_up}"
            )
        if self.dropped:
            lines.append(
                f"expiry reminders dropped, not sent (their key was revoked or rotated, or its expiry changed, since): "
                f"{self.dropped}"
            )
        return lines


def send_due(*, origin: Origin) -> Delivery:
    """nsml_sync's part: send the notices whose next attempt is due, oldest first, each taken by one pass only."""
    due = EmailNotice.objects.filter(waiting(), next_attempt_at__lte=timezone.now())
    due = list(due.select_related("expiry_notice").order_by("next_attempt_at", "id")[:BATCH])
    # Each is taken as its turn comes, not the batch at once: over a slow mail server a batch can outlast HOLD, and
    # the notices held since it began would be free for another pass (a second loop) to send too.
    return send((notice for notice in due if _take(notice)), origin=origin)


def waiting() -> Q:
    """A notice neither sent, given up on nor dropped."""
    return EMAIL_NOTICE_WAITING


def _take(notice: EmailNotice) -> bool:
    """Hold `notice` for this pass, unless another process took it first."""
    hold = timezone.now() + HOLD
    taken = EmailNotice.objects.filter(waiting(), pk=notice.pk, next_attempt_at=notice.next_attempt_at).update(
        next_attempt_at=hold
    )
    notice.next_attempt_at = hold
    return bool(taken)


def send(notices: Iterable[EmailNotice], *, origin: Origin | None = None) -> Delivery:
    """Send `notices` on one connection to the mail server (opened for the first one that is to go), marking each
    sent, failed or dropped (a stale expiry reminder). When the server cannot be reached, or drops the connection,
    the rest fail with the same reason, without each waiting EMAIL_TIMEOUT again. `origin`: the pass sending them,
    for a reminder's audit row (else what queued it, else nsml_sync)."""
    delivery = Delivery()
    connection = None
    broken: Exception | None = None  # why the connection cannot be used: every notice after fails with it
    try:
        for notice in notices:
            if (reason := stale_reminder(notice)) is not None:
                _dropped(notice, reason, delivery)
                continue
            if broken is None and connection is None:
                connection = mail.get_connection()
                try:
                    connection.open()
                except Exception as error:
                    broken = error
            if broken is not None:
                _failed(notice, broken, delivery, origin)
                continue
            try:
                connection.send_messages([_message(notice, connection)])
            except Exception as error:
                _failed(notice, error, delivery, origin)
                if not isinstance(error, MESSAGE_REFUSALS):
                    broken = error
                continue
            _sent(notice, delivery, origin)
    finally:
        if connection is not None:
            try:
                connection.close()
            except Exception:  # the server went away after taking the messages: they are sent
                pass
    return delivery


# Why a reminder was dropped (in its last_error; Admin > Email notices shows it translated, keys/admin.py).
DROPPED_NOT_ACTIVE = "dropped: the key is no longer active (revoked or rotated) since the reminder was written"
DROPPED_EXPIRY_CHANGED = "dropped: the key's expiry changed since the reminder was written (the new one has its own)"
DROPPED_EXPIRED = "dropped: the key's expiry passed before the reminder could go"


def stale_reminder(notice: EmailNotice) -> str | None:
    """Why an expiry reminder must not go now (a DROPPED_ reason), or None: its key is no longer active, or no longer
    expires when the reminder says, or already has. Read from the database at send time: a reminder may have waited
    in the outbox for hours while its member revoked, rotated or extended the key."""
    if notice.kind != EmailNotice.Kind.EXPIRY_REMINDER:
        return None
    key = RegisteredKey.objects.filter(pk=notice.registered_key_id).values("status", "expires_at").first()
    if key is None or key["status"] != RegisteredKey.Status.ACTIVE:
        return DROPPED_NOT_ACTIVE
    reminder = notice.expiry_notice
    if reminder is None or key["expires_at"] != reminder.expires_at:
        return DROPPED_EXPIRY_CHANGED
    if key["expires_at"] <= timezone.now():
        return DROPPED_EXPIRED
    return None


def _message(notice: EmailNotice, connection) -> mail.EmailMessage:
    return mail.EmailMessage(
        notice.subject,
        notice.body,
        None,
        notice.to,
        bcc=notice.bcc,
        headers=notice.headers,
        connection=connection,
    )


def _sent(notice: EmailNotice, delivery: Delivery, origin: Origin | None) -> None:
    notice.attempts += 1
    notice.sent_at, notice.next_attempt_at, notice.last_error = timezone.now(), None, ""
    _save(notice, "sent_at", "next_attempt_at", "last_error", "attempts")
    delivery.sent += 1
    if notice.attempts > 1:
        logger.info(
            "notice %s (%s, key %s) sent on attempt %d",
            notice.pk,
            notice.kind,
            notice.registered_key_id,
            notice.attempts,
        )
    _audit_reminder(notice, origin, AuditEvent.Outcome.SUCCESS)


def _dropped(notice: EmailNotice, reason: str, delivery: Delivery) -> None:
    # No audit row: the key's own history says what happened to it (revoked, rotated, a new expiry with its reminders).
    notice.dropped_at, notice.next_attempt_at, notice.last_error = timezone.now(), None, reason
    _save(notice, "dropped_at", "next_attempt_at", "last_error")
    delivery.dropped += 1
    logger.info("dropped notice %s (%s, key %s): %s", notice.pk, notice.kind, notice.registered_key_id, reason)


def _failed(notice: EmailNotice, error: Exception, delivery: Delivery, origin: Origin | None) -> None:
    now = timezone.now()
    notice.attempts += 1
    notice.last_error = failure_reason(error)[:255]
    if now - notice.created_at >= GIVE_UP_AFTER:
        notice.gave_up_at, notice.next_attempt_at = now, None
        delivery.given_up += 1
        logger.warning(
            "gave up on notice %s (%s, key %s) after %d attempts: %s",
            notice.pk,
            notice.kind,
            notice.registered_key_id,
            notice.attempts,
            notice.last_error,
        )
        _audit_reminder(notice, origin, AuditEvent.Outcome.FAILED)
    else:
        notice.next_attempt_at = now + retry_delay(notice.attempts)
        delivery.failed += 1
        logger.warning(
            "could not send notice %s (%s, key %s), attempt %d: %s; next attempt at %s UTC",
            notice.pk,
            notice.kind,
            notice.registered_key_id,
            notice.attempts,
            notice.last_error,
            f"{notice.next_attempt_at:%Y-%m-%d %H:%M:%S}",
        )
    _save(notice, "attempts", "last_error", "next_attempt_at", "gave_up_at")


def prune() -> int:
    """Delete the notices done with (sent, given up on, dropped) written more than EMAIL_NOTICE_RETENTION_DAYS ago:
    their bodies hold keys' titles, fingerprints and the addresses changes came from. By id in batches, at most
    PRUNE_BATCHES of them, so a pass after a long pause stays short (the next pass goes on). How many went."""
    cutoff = timezone.now() - timedelta(days=settings.EMAIL_NOTICE_RETENTION_DAYS)
    # created_at's index finds the old ones; the few still waiting among them are left to send or give up on.
    done = EmailNotice.objects.filter(created_at__lt=cutoff).exclude(waiting()).order_by("created_at", "id")
    deleted = 0
    for _batch in range(PRUNE_BATCHES):
        ids = list(done.values_list("id", flat=True)[:PRUNE_BATCH])
        if ids:
            deleted += EmailNotice.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < PRUNE_BATCH:
            break
    return deleted


def retry_delay(attempts: int) -> timedelta:
    """The wait after `attempts` failed attempts in a row: 1 minute, doubling, at most an hour."""
    return timedelta(seconds=min(RETRY_SECONDS * 2 ** min(attempts - 1, 16), MAX_RETRY_SECONDS))


def _save(notice: EmailNotice, *fields: str) -> None:
    if notice.pk is None:
        return  # sent without a row (the database refused it): nothing to mark
    try:
        EmailNotice.objects.filter(pk=notice.pk).update(**{name: getattr(notice, name) for name in fields})
    except DatabaseError:
        # Sent, but not marked: the next pass may send it again, better than never.
        logger.exception("could not record the outcome of notice %s", notice.pk)


def failure_reason(error: Exception) -> str:
    """Why a notice did not go, short and without secrets: the SMTP reply code and the server's first words (never
    what was sent: addresses, the log-in), or the kind of network error."""
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return f"SMTP {error.smtp_code}: the mail server refused the log-in (EMAIL_URL's user and password)"
    if isinstance(error, smtplib.SMTPResponseException):
        text = (
            error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
        )
        return f"SMTP {error.smtp_code}: {text.splitlines()[0][:120] if text else type(error).__name__}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _text in error.recipients.values()})
        return f"SMTP recipients refused ({', '.join(codes)})"
    # smtplib reports a read that timed out as the server closing the connection; the timeout is its cause.
    if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
        return "the mail server did not answer in time (EMAIL_TIMEOUT)"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "the mail server closed the connection"
    if isinstance(error, OSError) and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"
    return type(error).__name__


def _audit_reminder(notice: EmailNotice, origin: Origin | None, outcome: str) -> None:
    """An expiry reminder's audit row is written when it goes out (or is given up on), so a row with outcome success
    says the member was sent the warning, not that it was queued."""
    if notice.kind != EmailNotice.Kind.EXPIRY_REMINDER or notice.expiry_notice is None:
        return
    reminder = notice.expiry_notice
    origin = origin or getattr(notice, "audit_origin", None) or Origin.command("nsml_sync")
    key = reminder.registered_key
    expires = f"expires {reminder.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    detail = expires if outcome == AuditEvent.Outcome.SUCCESS else f"{NOT_SENT_GIVEN_UP}; {expires}"
    if outcome == AuditEvent.Outcome.SUCCESS and notice.attempts > 1:
        detail = f"{expires}; {SENT_LATE}"
    record_event(
        action=AuditEvent.Action.EXPIRY_REMINDER,
        outcome=outcome,
        origin=origin,
        actor_username=origin.runner,
        subject=key.owner,
        registered_key=key,
        title=key.title,
        fingerprint=key.fingerprint,
        reason=reminder.kind,
        detail=detail,
    )


# The audit's details for a reminder the mail server did not take at first (keys.audit_display translates them).
SENT_LATE = "sent from the outbox after the mail server refused it"
NOT_SENT_GIVEN_UP = "not sent: the mail server did not take it within 2 days"
