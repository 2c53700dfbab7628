"""Writes that matter: registering a key with NSML. Views, the admin and commands all call these.

Each function validates, talks to NSML through `keys.nsml`, records the outcome through
`keys.audit`, and raises an exception whose `message` a member can read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from keys import selectors
from keys.audit import Origin, record_event
from keys.models import AuditEvent, RegisteredKey, UnmanagedKey
from keys.notifications import notify_key_added, notify_key_revoked
from keys.nsml import Failure, NsmlClient, NsmlError, Reply, UpstreamKey
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
REVOKE_MESSAGES = {
    Failure.REJECTED: _("NSML refused to revoke the key: %(reason)s"),
    Failure.CREDENTIALS: _(
        "The portal could not sign in to NSML, so the key is still active. Please tell an administrator."
    ),
    Failure.PERMISSION: _(
        "The portal is not allowed to manage keys in NSML, so the key is still active. Please tell an administrator."
    ),
    Failure.THROTTLED: _("NSML is busy right now, so the key is still active. Please try again in a minute."),
}
REVOKE_FALLBACK_MESSAGE = _("NSML could not be asked to revoke the key, so it is still active. Please try again later.")
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


class UpstreamFailed(Exception):
    """NSML did not do what was asked; `message` is for the member, `event` the audit row written."""

    def __init__(self, failure: Failure, message: str, event: AuditEvent):
        super().__init__(message)
        self.failure = failure
        self.message = message
        self.event = event


class RegistrationFailed(UpstreamFailed):
    """NSML did not register the key (or the outcome could not be settled)."""


class RevocationFailed(UpstreamFailed):
    """NSML did not confirm the deletion; the key stays active in the portal."""


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
        transaction.on_commit(lambda: notify_key_added(registered, actor=owner, origin=origin))
    return registered


def revoke_key(*, key: RegisteredKey, actor, origin: Origin, client: NsmlClient | None = None) -> RegisteredKey:
    """Delete the key from NSML, then mark it revoked (kept, so the history stays).

    A key NSML no longer holds is revoked with that noted; any other failure leaves it active.
    `actor` is None for the portal itself (deactivation outside the admin, nsml_sync).
    """
    if not key.is_active:
        return key
    client = client or NsmlClient()
    audit = {"title": key.title, "fingerprint": key.fingerprint_sha256, "registered_key": key}
    note = ""
    try:
        reply = client.delete_key(key.title, key.nsml_name)
    except NsmlError as error:
        reply = _confirm_absent(client, key, error)
        if reply is None:
            event = _record_upstream_failure(Action.REVOKE, actor, key.owner, origin, error, audit)
            message = REVOKE_MESSAGES.get(error.failure, REVOKE_FALLBACK_MESSAGE)
            raise RevocationFailed(error.failure, str(message) % {"reason": error.reply.detail}, event) from error
        note = "NSML no longer had this key"
    _mark_revoked(key, actor=actor, origin=origin, reason="absent_upstream" if note else "", note=note, reply=reply)
    return key


def revoke_keys_of(*, member, actor, origin: Origin, client: NsmlClient | None = None) -> tuple[int, list[str]]:
    """Offboarding: revoke every active key of `member`. Returns (revoked count, failure messages)."""
    client = client or NsmlClient()
    revoked, failures = 0, []
    for key in selectors.keys_of(member).filter(status=RegisteredKey.Status.ACTIVE):
        try:
            revoke_key(key=key, actor=actor, origin=origin, client=client)
            revoked += 1
        except RevocationFailed as failure:
            failures.append(f"{key.title}: {failure.message}")
    return revoked, failures


def _confirm_absent(client: NsmlClient, key: RegisteredKey, error: NsmlError) -> Reply | None:
    """A 404 on delete may mean "no such key" or "wrong URL"; only a successful list proves the former."""
    if error.failure is not Failure.NOT_FOUND:
        return None
    try:
        upstream, reply = client.list_keys()
    except NsmlError:
        return None
    if any(item.title == key.title and item.name == key.nsml_name for item in upstream):
        return None
    return error.reply


def _mark_revoked(key: RegisteredKey, *, actor, origin: Origin, reason: str, note: str, reply: Reply | None) -> None:
    with transaction.atomic():
        key.status = RegisteredKey.Status.REVOKED
        key.revoked_at = timezone.now()
        key.revoked_note = note
        key.save(update_fields=["status", "revoked_at", "revoked_note"])
        record_event(
            action=Action.REVOKE,
            outcome=Outcome.SUCCESS,
            actor=actor,
            actor_username="" if actor is not None else origin.user_agent,
            subject=key.owner,
            origin=origin,
            registered_key=key,
            title=key.title,
            fingerprint=key.fingerprint_sha256,
            reason=reason,
            detail=note,
            **(_upstream_fields(reply) if reply is not None else {}),
        )
        transaction.on_commit(lambda: notify_key_revoked(key, actor=actor, origin=origin))


@dataclass
class Drift:
    """How NSML and the portal disagree: keys only NSML has, and active keys NSML lacks."""

    unmanaged: list[UpstreamKey] = field(default_factory=list)
    missing: list[RegisteredKey] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.unmanaged or self.missing)


def find_drift(client: NsmlClient | None = None) -> Drift:
    upstream, _reply = (client or NsmlClient()).list_keys()
    active = {
        (key.title, key.nsml_name): key for key in RegisteredKey.objects.filter(status=RegisteredKey.Status.ACTIVE)
    }
    held = {(item.title, item.name) for item in upstream}
    return Drift(
        unmanaged=[item for item in upstream if (item.title, item.name) not in active],
        missing=[key for pair, key in active.items() if pair not in held],
    )


def repair_drift(drift: Drift, *, origin: Origin) -> None:
    """Mark missing keys revoked and record unmanaged ones for an admin; safe to repeat."""
    for key in drift.missing:
        _mark_revoked(
            key, actor=None, origin=origin, reason="missing_upstream", note="NSML no longer had this key", reply=None
        )
    now = timezone.now()
    seen = set()
    for item in drift.unmanaged:
        record, created = UnmanagedKey.objects.get_or_create(
            title=item.title,
            nsml_name=item.name,
            defaults={"fingerprint_md5": item.fingerprint, "nsml_create_time": item.create_time},
        )
        seen.add(record.pk)
        if created:
            record_event(
                action=Action.DRIFT,
                outcome=Outcome.SUCCESS,
                actor_username=origin.user_agent,
                origin=origin,
                title=item.title[:64],
                fingerprint=item.fingerprint,
                reason="unmanaged",
                detail=f"NSML holds key {item.name}, which the portal did not register",
            )
        else:
            UnmanagedKey.objects.filter(pk=record.pk).update(last_seen=now)
    UnmanagedKey.objects.filter(status=UnmanagedKey.Status.OPEN).exclude(pk__in=seen).update(
        status=UnmanagedKey.Status.GONE
    )


def revoke_unmanaged_key(*, record: UnmanagedKey, actor, origin: Origin, client: NsmlClient | None = None) -> None:
    """Delete a key NSML holds that no member registered through the portal."""
    client = client or NsmlClient()
    audit = {"title": record.title[:64], "fingerprint": record.fingerprint_md5}
    try:
        reply = client.delete_key(record.title, record.nsml_name)
    except NsmlError as error:
        if error.failure is not Failure.NOT_FOUND:
            event = _record_upstream_failure(Action.REVOKE, actor, record.assigned_to, origin, error, audit)
            message = REVOKE_MESSAGES.get(error.failure, REVOKE_FALLBACK_MESSAGE)
            raise RevocationFailed(error.failure, str(message) % {"reason": error.reply.detail}, event) from error
        reply = error.reply
    with transaction.atomic():
        UnmanagedKey.objects.filter(pk=record.pk).update(status=UnmanagedKey.Status.REVOKED)
        record_event(
            action=Action.REVOKE,
            outcome=Outcome.SUCCESS,
            actor=actor,
            subject=record.assigned_to,
            origin=origin,
            reason="unmanaged",
            **_upstream_fields(reply),
            **audit,
        )


def assign_unmanaged_key(*, record: UnmanagedKey, member, actor, origin: Origin) -> None:
    """Record which member an unmanaged key belongs to, so it has an owner to ask about it."""
    with transaction.atomic():
        UnmanagedKey.objects.filter(pk=record.pk).update(assigned_to=member)
        record_event(
            action=Action.ASSIGN,
            outcome=Outcome.SUCCESS,
            actor=actor,
            subject=member,
            origin=origin,
            title=record.title[:64],
            fingerprint=record.fingerprint_md5,
        )


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


def _record_upstream_failure(
    action: str, actor, subject, origin: Origin, error: NsmlError, audit: dict, reason: str = ""
) -> AuditEvent:
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
