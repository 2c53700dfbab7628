"""Email notices to a member when one of their keys is added or revoked (and a copy to security)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from keys.audit import Origin
from keys.models import RegisteredKey

logger = logging.getLogger("keys.notifications")


def notify_key_added(key: RegisteredKey, *, actor, origin: Origin) -> None:
    _send(_("An SSH key was added to your NSML account"), "email/key_added.txt", key, actor, origin)


def notify_key_revoked(key: RegisteredKey, *, actor, origin: Origin) -> None:
    _send(_("An SSH key was revoked from your NSML account"), "email/key_revoked.txt", key, actor, origin)


def notify_key_failed(key: RegisteredKey) -> None:
    """NSML never registered a key whose outcome was unknown: the member should submit it again."""
    _send(
        _("Your SSH key was not registered with NSML"),
        "email/key_failed.txt",
        key,
        None,
        Origin.command("nsml_sync"),
        copy_security=False,
    )


def _send(subject: str, template: str, key: RegisteredKey, actor, origin: Origin, copy_security: bool = True) -> None:
    copies = (settings.SECURITY_NOTIFY_EMAIL,) if copy_security else ()
    recipients = [address for address in (key.owner.email, *copies) if address]
    if not recipients:
        return
    body = render_to_string(
        template,
        {
            "key": key,
            "member": key.owner,
            "actor": actor.get_username() if actor is not None else _("the portal"),
            "by_someone_else": actor is None or actor.pk != key.owner_id,
            "ip": origin.ip or _("no address (a server command)"),
        },
    )
    try:
        send_mail(subject, body, None, recipients)
    except Exception:
        # A notice that cannot be sent must not undo a registration NSML already holds.
        logger.exception("could not send '%s' about key %s", subject, key.pk)
