"""Email notices to a member when one of their keys is added, revoked, expires soon or has expired (and a
copy to security). Each goes out in the member's language: the one of their last visit (MemberProfile), through the
outbox (keys/outbox.py): after the member's response, and again later if the mail server did not take it."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from keys import outbox, selectors
from keys.audit import Origin
from keys.models import EmailNotice, ExpiryNotice, RegisteredKey

Kind = EmailNotice.Kind


def notify_key_added(key: RegisteredKey, *, actor, origin: Origin) -> None:
    subject = gettext_lazy("An SSH key was added to your NSML account")
    _send(Kind.KEY_ADDED, subject, "email/key_added.txt", key, actor, origin)


def notify_key_revoked(key: RegisteredKey, *, actor, origin: Origin) -> None:
    # A deactivated member (a leaver) is not written to, whatever revoked the key: they cannot log in to act on it
    # (nor add a new key for an expired one); security still gets its copy.
    to_member = key.owner.is_active
    if key.expires_at is not None and key.revoked_at is not None and key.expires_at <= key.revoked_at:
        subject = gettext_lazy("Your SSH key expired and was revoked")
        _send(Kind.KEY_EXPIRED, subject, "email/key_expired.txt", key, actor, origin, to_member=to_member)
        return
    subject = gettext_lazy("An SSH key was revoked from your NSML account")
    _send(Kind.KEY_REVOKED, subject, "email/key_revoked.txt", key, actor, origin, to_member=to_member)


def notify_expiry_reminder(key: RegisteredKey, *, reminder: ExpiryNotice, origin: Origin) -> bool:
    """Sent by the periodic job 7 days and 1 day before the key expires (`reminder`: its record). True when it went
    out now; False: the member has no address, or the mail server did not take it, and it waits in the outbox (its
    audit row is written when it goes out, keys/outbox.py)."""
    return _send(
        Kind.EXPIRY_REMINDER,
        gettext_lazy("Your SSH key expires soon: rotate it"),
        "email/key_expiring.txt",
        key,
        None,
        origin,
        copy_security=False,
        reminder=reminder,
    )


def notify_key_failed(key: RegisteredKey) -> None:
    """NSML never registered a key whose outcome was unknown: the member should submit it again."""
    _send(
        Kind.KEY_FAILED,
        gettext_lazy("Your SSH key was not registered with NSML"),
        "email/key_failed.txt",
        key,
        None,
        Origin.command("nsml_sync"),
        copy_security=False,
    )


def _send(
    kind: str,
    subject,
    template: str,
    key: RegisteredKey,
    actor,
    origin: Origin,
    copy_security: bool = True,
    to_member: bool = True,
    reminder: ExpiryNotice | None = None,
) -> bool:
    """Render the notice now, in the member's language, and hand it to the outbox (keys/outbox.py), which sends it
    after the response (at once outside a request). True when it went out now; False when it has no recipient or
    waits in the outbox."""
    # The security team's copy is blind: members are not told its address. Without a member's address it is the
    # only recipient.
    copies = [settings.SECURITY_NOTIFY_EMAIL] if copy_security and settings.SECURITY_NOTIFY_EMAIL else []
    recipients, copies = ([key.owner.email], copies) if key.owner.email and to_member else (copies, [])
    if not recipients:
        return False
    # The language of the member's last visit; before any, the portal's default (never whatever the thread has).
    language = selectors.member_language(key.owner) or settings.LANGUAGE_CODE
    with translation.override(language):
        body = render_to_string(
            template,
            {
                "key": key,
                "member": key.owner,
                "actor": actor.get_username() if actor is not None else _("the portal"),
                "by_someone_else": actor is None or actor.pk != key.owner_id,
                "ip": origin.ip or _("no address (a server command)"),
                "time_zone": settings.TIME_ZONE,
                "rotate_url": settings.PORTAL_URL + reverse("keys:rotate", args=[key.pk]),
                "new_key_url": settings.PORTAL_URL + reverse("keys:new"),
            },
        )
        subject = str(subject)
    notice = EmailNotice(
        kind=kind,
        registered_key=key,
        expiry_notice=reminder,
        to=recipients,
        bcc=copies,
        subject=subject,
        body=body,
        headers={"Content-Language": language},
    )
    return outbox.queue(notice, origin=origin)
