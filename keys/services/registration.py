"""Registering a member's key with NSML: validate, create, settle a lost answer, record."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from keys import member_messages, selectors
from keys.audit import Origin, record_event
from keys.models import AuditEvent, RegisteredKey
from keys.notifications import notify_key_added
from keys.services.failures import RegistrationFailed, record_upstream_failure, upstream_fields
from keys.sshkeys import InvalidKey, PublicKey, parse_public_key
from keys.upstream import nsml_client
from nsml.client import Failure, NsmlClient, NsmlError, Reply
from nsml.titles import MAX_TITLE_LENGTH, title_problem

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("keys.services")

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome


def register_key(
    *, owner: User, title: str, key_text: str, origin: Origin, client: NsmlClient | None = None
) -> RegisteredKey:
    """Validate a submission, register it with NSML, and record what happened.

    Raises ValidationError ({field: [error with code]}) when the portal refuses the submission,
    RegistrationFailed when NSML did not register it.
    """
    title = title.strip()
    try:
        key = validate_submission(owner=owner, title=title, key_text=key_text)
    except ValidationError as refusal:
        record_event(
            action=Action.REGISTER,
            outcome=Outcome.REFUSED,
            actor=owner,
            subject=owner,
            origin=origin,
            title=_auditable_title(title),
            reason=refusal_code(refusal),
        )
        raise

    client = client or nsml_client()
    audit = {"title": title, "fingerprint": key.fingerprint_sha256}
    settled = False
    try:
        reply = client.create_key(title, key.normalized)
    except NsmlError as error:
        if error.failure is not Failure.NO_ANSWER:
            event = record_upstream_failure(Action.REGISTER, owner, owner, origin, error, audit)
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
            raise RegistrationFailed(error.failure, str(member_messages.UNSETTLED_MESSAGE), event) from error
        if not found:
            event = record_upstream_failure(Action.REGISTER, owner, owner, origin, error, audit, "settled_absent")
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
            **upstream_fields(reply),
            **audit,
        )
        transaction.on_commit(lambda: notify_key_added(registered, actor=owner, origin=origin))
    return registered


def validate_submission(*, owner: User, title: str, key_text: str) -> PublicKey:
    """The portal's rules for a new key, in order: the title, the key itself, then uniqueness.

    Messages are translated here, in the language of the request that asked.
    """
    problem = title_problem(title)
    if problem:
        message = member_messages.TITLE_MESSAGES[problem]
        raise ValidationError(
            {"title": ValidationError(str(message), code=f"title_{problem}", params={"max": MAX_TITLE_LENGTH})}
        )
    try:
        key = parse_public_key(key_text, min_rsa_bits=settings.KEYS_MIN_RSA_BITS)
    except InvalidKey as invalid:
        raise ValidationError(
            {"key": ValidationError(gettext(invalid.template), code=invalid.code, params=invalid.params)}
        ) from None

    holder = selectors.active_key_with_title(title)
    if holder is not None:
        own = holder.owner_id == owner.pk
        message = member_messages.DUPLICATE_MESSAGES["own_title" if own else "other_title"]
        raise ValidationError({"title": ValidationError(str(message), code="duplicate_title", params={"title": title})})
    holder = selectors.active_key_with_fingerprint(key.fingerprint_sha256)
    if holder is not None:
        own = holder.owner_id == owner.pk
        message = member_messages.DUPLICATE_MESSAGES["own_key" if own else "other_key"]
        raise ValidationError(
            {"key": ValidationError(str(message), code="duplicate_key", params={"title": holder.title})}
        )
    return key


def refusal_code(refusal: ValidationError) -> str:
    """The code of the first error in a refusal, e.g. "too_weak" or "title_characters"."""
    return next(iter(refusal.error_dict.values()))[0].code or "invalid"


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


def _upstream_message(error: NsmlError) -> str:
    reason = error.reply.detail or gettext(member_messages.NO_REASON)
    return str(member_messages.UPSTREAM_MESSAGES[error.failure]) % {"reason": reason}


def _auditable_title(title: str) -> str:
    # A title field can receive a pasted private key by mistake; its armour line is not kept.
    return "" if "PRIVATE" in title.upper() else title[:MAX_TITLE_LENGTH]
