"""Writes that matter: registering a key with NSML. Views, the admin and commands all call these.

Each function validates, talks to NSML through `keys.nsml`, records the outcome through
`keys.audit`, and raises an exception whose `message` a member can read.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from keys import selectors
from keys.audit import Origin, record_event
from keys.models import AuditEvent, RegisteredKey
from keys.nsml import Failure, NsmlClient, NsmlError, Reply
from keys.sshkeys import InvalidKey, PublicKey, parse_public_key
from keys.titles import MAX_TITLE_LENGTH, title_problem

logger = logging.getLogger("keys.services")

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome

TITLE_MESSAGES = {
    "required": _("Enter a title."),
    "too_long": _("The title can be at most %(max)d characters long."),
    "characters": _("Use only English letters, digits and hyphens (-) in the title."),
    "first_letter": _("The title must begin with an English letter."),
    "double_hyphen": _("The title cannot contain two hyphens in a row (--)."),
}

UPSTREAM_MESSAGES = {
    Failure.REJECTED: _("NSML refused the key: %(reason)s"),
    Failure.CREDENTIALS: _(
        "The portal could not sign in to NSML, so your key was not registered. Please tell an administrator."
    ),
    Failure.PERMISSION: _(
        "The portal is not allowed to manage keys in NSML, so your key was not registered. "
        "Please tell an administrator."
    ),
    Failure.NOT_FOUND: _(
        "The portal could not find NSML's key service, so your key was not registered. Please tell an administrator."
    ),
    Failure.THROTTLED: _("NSML is busy right now, so your key was not registered. Please try again in a minute."),
    Failure.UNAVAILABLE: _("NSML is not available right now, so your key was not registered. Please try again later."),
    Failure.BAD_RESPONSE: _(
        "NSML gave an answer the portal could not read, so your key was not registered. Please try again later."
    ),
    Failure.UNREACHABLE: _("The portal could not reach NSML, so your key was not registered. Please try again later."),
    Failure.NO_ANSWER: _("NSML did not answer in time, and your key is not registered. You can try again."),
}
UNSETTLED_MESSAGE = _(
    "NSML did not answer in time and the portal could not confirm whether your key was registered. "
    "Please do not submit it again yet; an administrator can see what happened."
)


class KeyRefused(Exception):
    """The portal refused the submission before it reached NSML. `field` names the form field."""

    def __init__(self, field: str, code: str, message: str):
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message


class RegistrationFailed(Exception):
    """NSML did not register the key (or the outcome could not be settled)."""

    def __init__(self, failure: Failure, message: str, event: AuditEvent):
        super().__init__(message)
        self.failure = failure
        self.message = message
        self.event = event


def register_key(
    *, owner, title: str, key_text: str, origin: Origin, client: NsmlClient | None = None
) -> RegisteredKey:
    """Validate a submission, register it with NSML, and record what happened."""
    title = title.strip()
    try:
        key = _validate(owner=owner, title=title, key_text=key_text)
    except KeyRefused as refusal:
        record_event(
            action=Action.REGISTER,
            outcome=Outcome.REFUSED,
            actor=owner,
            subject=owner,
            origin=origin,
            title=_auditable_title(title),
            reason=refusal.code,
        )
        raise

    client = client or NsmlClient()
    audit = {"title": title, "fingerprint": key.fingerprint_sha256}
    settled = False
    try:
        reply = client.create_key(title, key.normalized)
    except NsmlError as error:
        if error.failure is not Failure.NO_ANSWER:
            event = _record_upstream_failure(Action.REGISTER, owner, owner, origin, error, audit)
            raise RegistrationFailed(error.failure, _upstream_message(error), event) from error
        found, reply = _look_up_lost_create(client, title, key)
        if found is None:
            event = record_event(
                action=Action.REGISTER,
                outcome=Outcome.UNKNOWN,
                actor=owner,
                subject=owner,
                origin=origin,
                reason="unsettled",
                detail=f"{error.reply.detail}; the lookup that should settle it failed too",
                duration_ms=error.reply.duration_ms,
                **audit,
            )
            raise RegistrationFailed(error.failure, str(UNSETTLED_MESSAGE), event) from error
        if not found:
            event = _record_upstream_failure(Action.REGISTER, owner, owner, origin, error, audit, "settled_absent")
            raise RegistrationFailed(error.failure, _upstream_message(error), event) from error
        settled = True

    with transaction.atomic():
        registered = RegisteredKey.objects.create(
            owner=owner,
            title=title,
            key_type=key.key_type,
            bits=key.bits,
            public_key=key.normalized,
            comment=key.comment[:255],
            fingerprint_sha256=key.fingerprint_sha256,
            fingerprint_md5=key.fingerprint_md5,
            nsml_name=key.md5_name,
        )
        record_event(
            action=Action.REGISTER,
            outcome=Outcome.SUCCESS,
            actor=owner,
            subject=owner,
            origin=origin,
            registered_key=registered,
            reason="settled_by_lookup" if settled else "",
            detail="NSML did not answer the create; a lookup found the key registered" if settled else "",
            **_upstream_fields(reply),
            **audit,
        )
    return registered


def _validate(*, owner, title: str, key_text: str) -> PublicKey:
    problem = title_problem(title)
    if problem:
        message = TITLE_MESSAGES[problem]
        raise KeyRefused("title", f"title_{problem}", str(message) % {"max": MAX_TITLE_LENGTH})
    try:
        key = parse_public_key(key_text, min_rsa_bits=settings.KEYS_MIN_RSA_BITS)
    except InvalidKey as invalid:
        raise KeyRefused("key", invalid.code, gettext(invalid.template) % invalid.params) from None

    holder = selectors.active_key_with_title(title)
    if holder is not None:
        if holder.owner_id == owner.pk:
            message = gettext("You already have an active key titled “%(title)s”. Choose another title.")
            raise KeyRefused("title", "duplicate_title", message % {"title": title})
        raise KeyRefused("title", "duplicate_title", gettext("This title is already in use. Choose another title."))
    holder = selectors.active_key_with_fingerprint(key.fingerprint_sha256)
    if holder is not None:
        if holder.owner_id == owner.pk:
            message = gettext("This key is already registered as your key “%(title)s”.")
            raise KeyRefused("key", "duplicate_key", message % {"title": holder.title})
        message = gettext("This key is already registered by another member. If it is yours, ask an administrator.")
        raise KeyRefused("key", "duplicate_key", message)
    return key


def _look_up_lost_create(client: NsmlClient, title: str, key: PublicKey) -> tuple[bool | None, Reply | None]:
    """After a create whose answer was lost, one lookup decides: (True, reply) when NSML holds
    the (title, name) pair, (False, reply) when it does not, (None, None) when the lookup failed too.
    """
    try:
        upstream, reply = client.list_keys(retry=False)
    except NsmlError as lookup_error:
        logger.warning("settling the lost create of %s failed: %s", title, lookup_error)
        return None, None
    found = any(item.title == title and item.name == key.md5_name for item in upstream)
    logger.info("lost create of %s settled by lookup: %s", title, "registered" if found else "absent")
    return found, reply


def _record_upstream_failure(action, actor, subject, origin, error: NsmlError, audit: dict, reason: str = ""):
    outcome = Outcome.REJECTED if error.failure is Failure.REJECTED else Outcome.FAILED
    return record_event(
        action=action,
        outcome=outcome,
        actor=actor,
        subject=subject,
        origin=origin,
        reason=reason or str(error.failure),
        detail=error.reply.detail,
        **_upstream_fields(error.reply),
        **audit,
    )


def _upstream_fields(reply: Reply) -> dict:
    return {
        "upstream_status": reply.status,
        "upstream_error_code": reply.error_code,
        "trace_id": reply.trace_id,
        "duration_ms": reply.duration_ms,
    }


def _upstream_message(error: NsmlError) -> str:
    reason = error.reply.detail or gettext("no reason given")
    return str(UPSTREAM_MESSAGES[error.failure]) % {"reason": reason}


def _auditable_title(title: str) -> str:
    # A title field can receive a pasted private key by mistake; its armour line is not kept.
    return "" if "PRIVATE" in title.upper() else title[:MAX_TITLE_LENGTH]
