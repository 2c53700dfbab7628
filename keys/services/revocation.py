"""Revoking keys in NSML: one key for a member, many for an admin action or an offboarding."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from keys import member_messages
from keys.audit import Origin, record_event
from keys.models import AuditEvent, RegisteredKey
from keys.notifications import notify_key_revoked
from keys.services.failures import RevocationFailed, record_upstream_failure, upstream_fields
from keys.upstream import nsml_client
from nsml.client import Failure, NsmlClient, NsmlError, Reply

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@dataclass
class RevocationReport:
    """What a revocation of several keys came to: how many were revoked, and why the others were not."""

    revoked: int = 0
    failures: list[str] = field(default_factory=list)


def revoke_key(
    *, key: RegisteredKey, actor: User | None, origin: Origin, client: NsmlClient | None = None
) -> RegisteredKey:
    """Delete the key from NSML, then mark it revoked (kept, so the history stays).

    A key NSML no longer holds is revoked with that noted; any other failure leaves it active.
    `actor` is None for the portal itself (deactivation outside the admin, nsml_sync).
    """
    if not key.is_active:
        return key
    client = client or nsml_client()
    audit = {"title": key.title, "fingerprint": key.fingerprint_sha256, "registered_key": key}
    note = ""
    try:
        reply = client.delete_key(key.title, key.nsml_name)
    except NsmlError as error:
        reply = _confirm_absent(client, key, error)
        if reply is None:
            event = record_upstream_failure(AuditEvent.Action.REVOKE, actor, key.owner, origin, error, audit)
            raise RevocationFailed(error.failure, revoke_failure_message(error), event) from error
        note = "NSML no longer had this key"
    mark_revoked(key, actor=actor, origin=origin, reason="absent_upstream" if note else "", note=note, reply=reply)
    return key


def revoke_keys(keys: Iterable[RegisteredKey], *, actor: User | None, origin: Origin) -> RevocationReport:
    """Revoke each active key of `keys` (an admin action, an offboarding); one failure stops no other."""
    client = nsml_client()
    report = RevocationReport()
    for key in keys:
        if not key.is_active:
            continue
        try:
            revoke_key(key=key, actor=actor, origin=origin, client=client)
            report.revoked += 1
        except RevocationFailed as failure:
            report.failures.append(f"{key.title}: {failure.message}")
    return report


def revoke_failure_message(error: NsmlError) -> str:
    message = member_messages.REVOKE_MESSAGES.get(error.failure, member_messages.REVOKE_FALLBACK_MESSAGE)
    return str(message) % {"reason": error.reply.detail}


def mark_revoked(
    key: RegisteredKey, *, actor: User | None, origin: Origin, reason: str, note: str, reply: Reply | None
) -> None:
    with transaction.atomic():
        key.status = RegisteredKey.Status.REVOKED
        key.revoked_at = timezone.now()
        key.revoked_note = note
        key.save(update_fields=["status", "revoked_at", "revoked_note"])
        record_event(
            action=AuditEvent.Action.REVOKE,
            outcome=AuditEvent.Outcome.SUCCESS,
            actor=actor,
            actor_username="" if actor is not None else origin.user_agent,
            subject=key.owner,
            origin=origin,
            registered_key=key,
            title=key.title,
            fingerprint=key.fingerprint_sha256,
            reason=reason,
            detail=note,
            **(upstream_fields(reply) if reply is not None else {}),
        )
        transaction.on_commit(lambda: notify_key_revoked(key, actor=actor, origin=origin))


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
