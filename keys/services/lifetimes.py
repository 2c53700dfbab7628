"""A key's lifetime: the expiry a member or an admin may choose, and what the periodic job does about it.

A key expires at the end of its day in TIME_ZONE (expires 2026-12-31: 2026-12-31 23:59:59.999999 KST).
`nsml_sync --apply` calls `apply_lifetimes` after its reconcile pass: keys past their expiry are revoked
through the same path as any revoke (audit reason `expired`; one NSML refuses is tried again after a backoff, not
every pass), and reminders go out 7 days and 1 day
before, each recorded (`ExpiryNotice`) before it is sent, so a restarted job never sends one twice (one the
mail server did not take waits in the outbox, keys/outbox.py, and later passes send it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from keys import member_messages, selectors
from keys.audit import Origin, record_change
from keys.models import AuditEvent, ExpiryNotice, RegisteredKey
from keys.notifications import notify_expiry_reminder
from keys.services import states
from keys.services.failures import RevocationFailed
from keys.services.revocation import revoke_key
from keys.upstream import nsml_client
from nsml.client import NsmlClient

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Status = RegisteredKey.Status
REMINDERS = ((ExpiryNotice.Kind.DAY, timedelta(days=1)), (ExpiryNotice.Kind.WEEK, timedelta(days=7)))
NEVER = "never"
# The last day whose end, in any time zone, is still a moment Python and the database can hold in UTC: the end
# of 9999-12-31 west of Greenwich falls in the year 10000.
LAST_DAY = date(9999, 12, 30)


def local_today() -> date:
    return timezone.localdate(timezone=timezone.get_default_timezone())


def end_of_day(day: date) -> datetime:
    """The last instant of `day` in TIME_ZONE, as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, time.max), timezone.get_default_timezone())


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def default_expiry_day() -> date:
    return local_today() + timedelta(days=settings.KEYS_DEFAULT_LIFETIME_DAYS)


def latest_day_for_new_key() -> date | None:
    """The latest expiry a member may choose for a new key; None when there is no maximum."""
    maximum = settings.KEYS_MAX_LIFETIME_DAYS
    return local_today() + timedelta(days=maximum) if maximum else None


def expiry_for_new_key(value: date | str | None) -> datetime | None:
    """The expiry of a new key from what was submitted; None means it never expires.

    `value`: None when nothing was given (the default lifetime), a date, "YYYY-MM-DD", or "" / "never"
    (allowed only with no maximum). Raises ValidationError({"expires_at": ...}) naming the allowed range.
    """
    if value is None:
        return end_of_day(default_expiry_day())
    return _chosen_expiry(value, first=local_today(), last=latest_day_for_new_key())


def _chosen_expiry(value: date | str, *, first: date, last: date | None) -> datetime | None:
    """Check a chosen day against [first, last] (last None: no maximum, and "never" allowed)."""
    if isinstance(value, str):
        text = value.strip()
        if text in ("", NEVER):
            if last is None:
                return None
            raise _refusal("expiry_required", first, last)
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise _refusal("expiry_invalid", first, last) from None
    if value < first:
        raise _refusal("expiry_past", first, last)
    if last is not None and value > last:
        raise _refusal("expiry_too_late", first, last)
    if value > LAST_DAY:
        raise _refusal("expiry_too_late", first, LAST_DAY)
    return end_of_day(value)


def _refusal(code: str, first: date, last: date | None) -> ValidationError:
    params = {"first": first.isoformat(), "last": last.isoformat() if last else ""}
    range_message = member_messages.EXPIRY_MESSAGES["range" if last else "from"]
    message = gettext(range_message) % params
    if code == "expiry_invalid":
        message = f"{gettext(member_messages.EXPIRY_MESSAGES['invalid'])} {message}"
    return ValidationError({"expires_at": ValidationError(message, code=code, params=params)})


def member_expiry_range(key: RegisteredKey) -> tuple[date, date | None]:
    """What a member may choose for their existing key: shorten it at will, lengthen it up to the maximum.

    The maximum counts from the day the key was added; a date an admin set beyond it may be kept. A key
    with no expiry (added before lifetimes existed) may get any date up to the maximum from today.
    """
    today = local_today()
    maximum = settings.KEYS_MAX_LIFETIME_DAYS
    if not maximum:
        return today, None
    if key.expires_at is None:
        return today, today + timedelta(days=maximum)
    last = max(local_day(key.created_at) + timedelta(days=maximum), local_day(key.expires_at))
    return today, max(last, today)


def change_expiry(*, key: RegisteredKey, value: date | str, actor: User, origin: Origin) -> RegisteredKey:
    """A member's new expiry for their own active key, audited; raises ValidationError out of range."""
    first, last = member_expiry_range(key)
    expires_at = _chosen_expiry(value, first=first, last=last)
    if not _record_expiry(key, expires_at, actor=actor, origin=origin, statuses=RegisteredKey.EXPIRY_STATUSES):
        # The key left pending and active meanwhile (the expiry job, a revocation elsewhere).
        message = gettext(member_messages.EXPIRY_FIXED_MESSAGE) % {"title": key.title}
        raise ValidationError(message, code="expiry_fixed")
    return key


def set_expiry(*, keys: Iterable[RegisteredKey], day: date | None, actor: User, origin: Origin) -> list[RegisteredKey]:
    """An admin sets the expiry of live keys (any day from today; None removes it), each audited.

    Returns the keys changed. Raises ValidationError({"expires_at": ...}) for a day in the past.
    """
    expires_at = None if day is None else _chosen_expiry(day, first=local_today(), last=None)
    changed = []
    for key in keys:
        if key.status not in RegisteredKey.LIVE_STATUSES or key.expires_at == expires_at:
            continue
        if _record_expiry(key, expires_at, actor=actor, origin=origin, statuses=RegisteredKey.LIVE_STATUSES):
            changed.append(key)
    return changed


def _record_expiry(
    key: RegisteredKey, expires_at: datetime | None, *, actor: User, origin: Origin, statuses: tuple[str, ...]
) -> bool:
    """The new expiry and its audit row, in one step, while the key is still in one of `statuses`: a key the
    expiry job or a revocation moved on since it was read keeps its expiry (False)."""
    # A new expiry starts the expiry job afresh: a refused revocation of the old one waits no longer. Not a key
    # being revoked, whose backoff is the reconciler's.
    reset = states.NOT_BACKED_OFF if key.status in RegisteredKey.EXPIRY_STATUSES else {}
    event = record_change(
        RegisteredKey.objects.filter(pk=key.pk, status__in=statuses),
        {"expires_at": expires_at, **reset},
        action=AuditEvent.Action.SET_EXPIRY,
        outcome=AuditEvent.Outcome.SUCCESS,
        actor=actor,
        subject=key.owner,
        origin=origin,
        registered_key=key,
        title=key.title,
        fingerprint=key.fingerprint,
        detail=f"expiry {_describe(key.expires_at)} -> {_describe(expires_at)}",
    )
    if event is None:
        return False
    key.expires_at = expires_at
    for name, value in reset.items():
        setattr(key, name, value)
    return True


def _describe(moment: datetime | None) -> str:
    return local_day(moment).isoformat() if moment else "never"


@dataclass
class LifetimeReport:
    """What one run of the lifetime rules did: each entry is "title (owner)"."""

    expired: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    no_address: list[str] = field(default_factory=list)
    unsent: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        labels = (
            ("expired", "expired keys revoked"),
            ("unconfirmed", "expired keys being revoked (NSML has not confirmed yet)"),
            ("failed", "expired keys NSML refused to revoke (tried again after a backoff)"),
            ("reminded", "expiry reminders sent"),
            ("no_address", "expiry reminders not sent: the member has no email address"),
            ("unsent", "expiry reminders the mail server did not take (in the outbox: later passes send them)"),
        )
        return [f"{label}: {', '.join(getattr(self, name))}" for name, label in labels if getattr(self, name)]


def apply_lifetimes(*, origin: Origin, client: NsmlClient | None = None) -> LifetimeReport:
    """Revoke the active keys whose expiry has passed, then send the reminders that are due."""
    report = LifetimeReport()
    now = timezone.now()
    expired = list(selectors.expired_active_keys(now))
    if expired:
        client = client or nsml_client(background=True)
    for key in expired:
        try:
            revoke_key(key=key, actor=None, origin=origin, client=client, reason="expired", expired_by=now)
        except RevocationFailed as failure:
            report.failed.append(f"{_label(key)}: {failure.failure}")
            continue
        if key.status == Status.ACTIVE:
            continue  # its member gave it a later expiry since the list was read
        (report.expired if key.status == Status.REVOKED else report.unconfirmed).append(_label(key))
    _send_reminders(now, report, origin)
    return report


def _send_reminders(now: datetime, report: LifetimeReport, origin: Origin) -> None:
    """Each reminder due, once. One sent, or one its member has no address for, is an audit row, so an admin reading a
    key's history sees whether its member was warned. One the mail server did not take waits in the outbox
    (keys/outbox.py): later passes send it, and its audit row is written when it goes out."""
    for key in selectors.active_keys_expiring(after=now, before=now + REMINDERS[-1][1]):
        left = key.expires_at - now
        kind = next(kind for kind, within in REMINDERS if left <= within)
        try:
            with transaction.atomic():
                notice = ExpiryNotice.objects.create(registered_key=key, kind=kind, expires_at=key.expires_at)
        except IntegrityError:
            continue  # sent already, by this job before or by another copy of it
        label = f"{_label(key)} ({kind})"
        expires = f"expires {key.expires_at:%Y-%m-%d %H:%M:%S} UTC"
        if not key.owner.email:
            report.no_address.append(label)  # recorded all the same: said once, not every pass
            _audit_reminder(key, kind, origin, AuditEvent.Outcome.FAILED, f"{NO_ADDRESS}; {expires}")
        elif notify_expiry_reminder(key, reminder=notice, origin=origin):
            report.reminded.append(label)  # its audit row written as it went out (keys/outbox.py)
        else:
            report.unsent.append(label)


# The audit's detail for a reminder not sent (keys.audit_display translates it).
NO_ADDRESS = "not sent: the member has no email address"


def _audit_reminder(key: RegisteredKey, kind: str, origin: Origin, outcome: str, detail: str) -> None:
    states.audit_key(
        key,
        action=AuditEvent.Action.EXPIRY_REMINDER,
        outcome=outcome,
        actor=None,
        origin=origin,
        reason=kind,
        detail=detail,
    )


def _label(key: RegisteredKey) -> str:
    return f"{key.title} ({key.owner.get_username()})"
