"""Registering a member's key with NSML: validate, record the intent, create, settle what NSML answered."""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils.translation import gettext

from keys import inserts, member_messages, selectors
from keys.audit import Origin, record_event
from keys.models import AuditEvent, RegisteredKey
from keys.services import lifetimes, states
from keys.services.failures import RegistrationFailed, SubmissionLimited
from keys.services.tokens import TOKEN_SECRET_MESSAGE, holds_token_secret
from keys.sshkeys import InvalidKey, PublicKey, holds_private_key, parse_public_key, private_key_message
from keys.upstream import lookup_time, nsml_client, wait_used_up
from nsml.client import Cause, Failure, NsmlClient, NsmlError, UpstreamKey
from nsml.titles import MAX_TITLE_LENGTH, hidden_character, title_problem, trimmed_title
from portal import metrics

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("keys.services")

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome


class Quota(Protocol):
    """A limit on submissions that reach NSML (keys.ratelimit.SubmissionQuota for the pages)."""

    def take(self) -> None: ...  # raises SubmissionLimited

    def give_back(self) -> None: ...  # the submission taken does not reach NSML after all


def register_key(
    *,
    owner: User,
    title: str,
    key_text: str,
    origin: Origin,
    client: NsmlClient | None = None,
    quota: Quota | None = None,
    expires_on: date | str | None = None,
) -> RegisteredKey:
    """Validate a submission, record the intent, register it with NSML, and settle what happened.

    `expires_on`: None for the default lifetime, a date or "YYYY-MM-DD", or "" / "never" for no expiry
    (allowed only when KEYS_MAX_LIFETIME_DAYS is 0); see `lifetimes.expiry_for_new_key`.

    Returns the key: `active` when NSML registered it, `pending` when NSML's answer is unknown and
    could not be settled yet (the reconciler will). Raises ValidationError ({field: [error with code]})
    when the portal refuses the submission, RegistrationFailed when NSML did not register it, and
    SubmissionLimited when `quota` allows no more submissions to NSML now (only those are counted).
    Each outcome counts in portal_key_submissions_total.
    """
    try:
        key = _register(
            owner=owner,
            title=title,
            key_text=key_text,
            origin=origin,
            client=client,
            quota=quota,
            expires_on=expires_on,
        )
    except ValidationError:
        metrics.count_submission("refused")
        raise
    except SubmissionLimited:
        metrics.count_submission("rate_limited")
        raise
    except RegistrationFailed:
        metrics.count_submission("failed")
        raise
    metrics.count_submission("registered" if key.is_active else "pending")
    return key


def _register(
    *,
    owner: User,
    title: str,
    key_text: str,
    origin: Origin,
    client: NsmlClient | None,
    quota: Quota | None,
    expires_on: date | str | None,
) -> RegisteredKey:
    title = trimmed_title(title)
    try:
        key = validate_submission(title=title, key_text=key_text, expires_on=expires_on)
        expires_at = lifetimes.expiry_for_new_key(expires_on)
        if quota is not None:
            quota.take()
        try:
            intent = _record_intent(owner=owner, title=title, key=key, expires_at=expires_at, origin=origin)
        except (ValidationError, DatabaseError):  # a duplicate, or the database away: nothing reached NSML
            if quota is not None:
                quota.give_back()
            raise
        intent.joined_lines = key.joined  # not stored: the page tells the member their wrapped key was joined
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
    sent = time.monotonic()
    try:
        reply = client.create_key(title, key.normalized)
    except NsmlError as error:
        return _settle_failed_create(
            intent, error, client=client, origin=origin, lookup_within=lookup_time(client, sent)
        )
    if not states.activate(intent, actor=owner, origin=origin, reply=reply):
        _settled_meanwhile(intent)
    return intent


def _settled_meanwhile(key: RegisteredKey) -> bool:
    """Read the key's state when this request could not move it: a reconcile pass lists NSML while NSML answers
    the create, and may have settled the key first. The member is then told what the pass decided (not
    "checking", nor "not registered" for a key NSML holds). True when the key is active."""
    key.refresh_from_db(fields=["status", "status_changed_at", "failure"])
    return key.is_active


def _record_intent(
    *, owner: User, title: str, key: PublicKey, expires_at: datetime | None, origin: Origin
) -> RegisteredKey:
    """Store the submission as `pending`, committed, before NSML hears of it, with where it came from (a pass
    that settles it records it in the member's name, from there).

    The unique constraints on live keys (title, MD5 name, fingerprint) decide whether it may be stored: no
    query before the INSERT asks, and only a refused INSERT is followed by the query that explains it.
    """
    # Outside a transaction the INSERT commits by itself, two round trips fewer than BEGIN and COMMIT;
    # inside one (an admin action, a test), a savepoint keeps a refused INSERT from spoiling it.
    try:
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            intent = RegisteredKey(
                owner=owner,
                title=title,
                key_type=key.key_type,
                bits=key.bits,
                public_key=key.normalized,
                comment=key.comment[:255],
                fingerprint_sha256=key.fingerprint_sha256,
                fingerprint_md5=key.fingerprint_md5,
                nsml_name=key.md5_name,
                status=RegisteredKey.Status.PENDING,
                expires_at=expires_at,
                submitted_ip=origin.ip,
                submitted_agent=origin.user_agent[:512],
            )
            inserts.insert(intent, using=RegisteredKey.objects.db)
            return intent
    except IntegrityError:
        refusal = _uniqueness_refusal(owner=owner, title=title, key=key)
        if refusal is None:
            # The key holding the title or key left the live states between the INSERT and this query.
            refusal = ValidationError({"key": ValidationError(str(member_messages.PENDING_MESSAGE), code="pending")})
        raise refusal from None


def _settle_failed_create(
    intent: RegisteredKey, error: NsmlError, *, client: NsmlClient, origin: Origin, lookup_within: float
) -> RegisteredKey:
    """NSML did not answer 201. A definite failure fails the key; anything else is settled by one lookup, which
    gets `lookup_within` seconds."""
    owner = intent.owner
    failure = error.failure
    if not (failure.outcome_unknown or failure is Failure.REJECTED):
        return _fail_unless_settled(intent, error, origin=origin, reason=str(failure), why=str(failure))

    held = _look_up(client, intent.title, within=lookup_within)
    if held is None:
        if failure is Failure.REJECTED:
            return _fail_unless_settled(intent, error, origin=origin, reason=str(failure), why=str(failure))
        # Nobody can tell yet: the key stays pending and the reconciler settles it (unless it did meanwhile).
        lookup = "the lookup that should settle it failed too" + wait_used_up(
            client, lookup_within, call="create", lookup="lookup"
        )
        return _left_pending(intent, error, origin=origin, why=lookup)

    holds_ours = any(item.title == intent.title and item.name == intent.nsml_name for item in held)
    if holds_ours:
        detail = f"NSML answered {error.reply.status or 'nothing'} ({error.reply.detail}); a lookup found the key"
        if not states.activate(
            intent, actor=owner, origin=origin, reply=error.reply, reason="settled_by_lookup", detail=detail
        ):
            _settled_meanwhile(intent)
        return intent

    if _may_still_store(error, intent, held):
        # NSML had the create and was still at it when the wait ended: a list without the key is no proof that it
        # will not store it a moment later ("not registered, try again" was then false). The key stays pending; the
        # reconciler settles it, finding it or not after NSML_PENDING_GRACE_SECONDS.
        return _left_pending(intent, error, origin=origin, why=MAY_STILL_STORE)

    why, field = str(failure), None
    if failure is Failure.REJECTED:
        if any(item.title == intent.title for item in held):
            why, field = "duplicate_title", "title"
        elif any(item.name == intent.nsml_name for item in held):
            why, field = "duplicate_key", "key"
    reason = str(failure) if failure is Failure.REJECTED else "settled_absent"
    return _fail_unless_settled(intent, error, origin=origin, reason=reason, why=why, field=field)


def _left_pending(intent: RegisteredKey, error: NsmlError, *, origin: Origin, why: str) -> RegisteredKey:
    """The key stays pending for the reconciler, audited as unsettled with NSML's answer and `why` (unless a pass
    settled it meanwhile: then the key, read again, is the answer)."""
    states.audit_unsettled(
        intent,
        still=RegisteredKey.Status.PENDING,
        action=Action.REGISTER,
        outcome=Outcome.UNKNOWN,
        actor=intent.owner,
        origin=origin,
        reason="unsettled",
        detail=f"{error.reply.detail}; {why}",
        reply=error.reply,
    )
    return intent


# The audit detail of a create NSML may still be storing (keys.audit_display translates it).
MAY_STILL_STORE = "a lookup did not find it yet, and NSML may still be storing it"


def _may_still_store(error: NsmlError, intent: RegisteredKey, held: list[UpstreamKey]) -> bool:
    """The create reached NSML and got no answer in time (not a dropped connection: NSML closed it, or it never
    got there), and nothing NSML holds stands in its way (its title or key under another entry: refused)."""
    return error.reply.cause == Cause.READ_TIMEOUT and not any(
        item.title == intent.title or item.name == intent.nsml_name for item in held
    )


def _fail_unless_settled(
    intent: RegisteredKey, error: NsmlError, *, origin: Origin, reason: str, why: str, field: str | None = None
) -> RegisteredKey:
    """The key fails for `why` and its member is told so (RegistrationFailed), unless a reconcile pass settled it
    meanwhile and found it in NSML: then the key, as the pass left it, is the answer."""
    failure = error.failure
    event = states.fail(
        intent,
        actor=intent.owner,
        origin=origin,
        outcome=_outcome(failure),
        reason=reason,
        detail=error.reply.detail,
        reply=error.reply,
        failure=why,
    )
    if event is None and _settled_meanwhile(intent):
        return intent
    message = _failed_message(why, intent, error)
    raise RegistrationFailed(failure, message, event, field=field, retry_after=error.reply.retry_after) from error


def validate_submission(*, title: str, key_text: str, expires_on: date | str | None = None) -> PublicKey:
    """The portal's rules for a new key: private-key material anywhere first (it wins, so no field that
    held it is ever shown again), an access token's secret next, then the title, the key and the expiry
    together. No query: uniqueness is the database's to decide when the intent is stored (`_record_intent`).

    Messages are translated here, in the language of the request that asked.
    """
    values = {"title": title, "key": key_text}
    try:
        key, invalid = parse_public_key(key_text, min_rsa_bits=settings.KEYS_MIN_RSA_BITS), None
    except InvalidKey as refused:
        key, invalid = None, refused
    # The parser looks for private-key material before anything else: the key's text is scanned for it once.
    holding = ["title"] if holds_private_key(title) else []
    if invalid is not None and invalid.code == "private_key":
        holding.append("key")
    if holding:
        raise ValidationError(
            {name: ValidationError(gettext(private_key_message(values[name])), code="private_key") for name in holding}
        )
    holding = [name for name, value in values.items() if holds_token_secret(value)]
    if holding:
        message = gettext(TOKEN_SECRET_MESSAGE)
        raise ValidationError({name: ValidationError(message, code="access_token") for name in holding})

    errors = {}
    problem = title_problem(title)
    if problem:
        message = member_messages.TITLE_MESSAGES[problem]
        params: dict[str, object] = {"max": MAX_TITLE_LENGTH}
        hidden = hidden_character(title) if problem == "characters" else None
        if hidden:  # "use only letters..." does not tell a member which character they cannot see
            message, params["character"] = member_messages.TITLE_HIDDEN_CHARACTER, hidden
        errors["title"] = ValidationError(str(message), code=f"title_{problem}", params=params)
    if invalid is not None:
        errors["key"] = ValidationError(gettext(invalid.template), code=invalid.code, params=invalid.params)
    try:
        lifetimes.expiry_for_new_key(expires_on)
    except ValidationError as refusal:
        errors.update(refusal.error_dict)
    if errors:
        raise ValidationError(errors)
    return key


def _uniqueness_refusal(*, owner: User, title: str, key: PublicKey) -> ValidationError | None:
    """A key NSML holds or may hold (pending, active, revoking) already has this title or this key."""
    holders = selectors.live_keys_with_title_or_name(title, key.md5_name)
    title_holder = next((held for held in holders if held.title == title), None)
    key_holder = next((held for held in holders if held.nsml_name == key.md5_name), None)
    checks = [("title", title_holder), ("key", key_holder)]
    if title_holder is not None and title_holder == key_holder:
        # The same key sent again under its own title: another title would be refused too, so the key explains it.
        checks.reverse()
    for field, holder in checks:
        if holder is None:
            continue
        own = holder.owner_id == owner.pk
        if own and holder.status == RegisteredKey.Status.PENDING:
            if field == "title":  # another key of theirs, under this title: not an earlier attempt at this one
                pending = ValidationError(
                    str(member_messages.PENDING_TITLE_MESSAGE), code="pending", params={"title": holder.title}
                )
                return ValidationError({field: pending})
            return ValidationError({field: ValidationError(str(member_messages.PENDING_MESSAGE), code="pending")})
        kind = ("own_" if own else "other_") + field
        if own and holder.status == RegisteredKey.Status.REVOKING:
            kind = "revoking_" + field
        message = str(member_messages.DUPLICATE_MESSAGES[kind])
        code = "duplicate_title" if field == "title" else "duplicate_key"
        return ValidationError({field: ValidationError(message, code=code, params={"title": holder.title})})
    return None


def refusal_code(refusal: ValidationError) -> str:
    """The code of the first error in a refusal, e.g. "too_weak" or "title_characters"."""
    return next(iter(refusal.error_dict.values()))[0].code or "invalid"


def _look_up(client: NsmlClient, title: str, *, within: float) -> list[UpstreamKey] | None:
    """One lookup to settle a create NSML did not answer with 201; None when the lookup failed too."""
    try:
        held, _reply = client.list_keys(retry=False, within=within)
    except NsmlError as lookup_error:
        logger.warning("settling the create of %s failed: %s", title, lookup_error)
        return None
    return held


def _outcome(failure: Failure) -> str:
    return Outcome.REJECTED if failure is Failure.REJECTED else Outcome.FAILED


def _failed_message(why: str, key: RegisteredKey, error: NsmlError) -> str:
    # The sentence the key's page repeats later from `key.failure`, which `states.fail` recorded as `why`; only
    # this first telling knows how long NSML asked to wait.
    return member_messages.failed_key_message(why, title=key.title, retry_after=error.reply.retry_after)


def _auditable_title(title: str) -> str:
    # A title field can receive a pasted private key or access token by mistake: no part of it is kept.
    if holds_private_key(title) or "PRIVATE" in title.upper() or holds_token_secret(title):
        return ""
    return title[:MAX_TITLE_LENGTH]
