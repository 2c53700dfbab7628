"""Revoking keys in NSML: one key for a member, many for an admin action or an offboarding."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q

from keys import member_messages, selectors
from keys.audit import Origin
from keys.models import AuditEvent, RegisteredKey
from keys.services import states
from keys.services.failures import RevocationFailed, record_upstream_failure
from keys.upstream import NsmlWait, lookup_time, nsml_client, wait_used_up
from nsml.client import Failure, NsmlClient, NsmlError, Reply

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Status = RegisteredKey.Status

# The audit's detail for a key `revoke_keys` recorded without calling NSML (keys.audit_display translates it).
NOT_SENT = "not sent yet: the keys before it used up the wait for NSML, so the reconciler sends the DELETE"
# The audit's detail for a DELETE NSML refused for a deactivated member's key (keys.audit_display translates it).
KEPT_FOR_DEPARTED_MEMBER = (
    "its member is deactivated, so the key stays being revoked and the reconciler sends the DELETE again"
)


@dataclass
class RevocationReport:
    """What a revocation of several keys came to: how many were revoked, and why the others were not."""

    revoked: int = 0
    unconfirmed: int = 0  # left `revoking` for the reconciler
    failures: list[str] = field(default_factory=list)


def revoke_key(
    *,
    key: RegisteredKey,
    actor: User | None,
    origin: Origin,
    client: NsmlClient | None = None,
    reason: str = "",
    given_reason: str = "",
    keep_revoking: bool = False,
    expired_by: datetime | None = None,
    send: bool = True,
) -> RegisteredKey:
    """Move the key to `revoking`, DELETE it from NSML, and mark it `revoked` once NSML's list confirms.

    Returns the key: `revoked`, or still `revoking` when NSML's answer is unknown or unconfirmed (the
    reconciler finishes it). A definite refusal puts it back to `active` and raises RevocationFailed (a
    deactivated member's key stays `revoking` instead, for the reconciler's retries, and nothing is raised);
    with `keep_revoking` (a rotation: the member has moved to a new key) the key stays `revoking` for the
    reconciler's retries instead. `reason` is the audit reason of the revocation, e.g. "expired";
    `given_reason` what an admin wrote on the confirmation page: kept on the key and in the audit.
    `actor` is None for the portal itself (deactivation outside the admin, the reconciler).
    `expired_by` (the expiry job): only if the key's expiry is still before that moment, since its member may
    have just moved it later; otherwise the key stays active. `send=False` records the revocation and leaves
    the DELETE to the reconciler (`revoke_keys` past the admin's wait).
    """
    # The expiry job: only a key still expired, and not one waiting out NSML's last refusal (another copy's).
    expired = Q(expires_at__lt=expired_by) & selectors.attempt_due(expired_by) if expired_by is not None else None
    if not states.move(
        key,
        to=Status.REVOKING,
        expected=(Status.ACTIVE,),
        where=expired,
        next_attempt_at=None,
        revoke_reason=given_reason.strip(),
        **states.asked_to_revoke(actor, origin),
    ):
        key.refresh_from_db()
        return key
    if not send:
        _unconfirmed(key, actor=actor, origin=origin, reply=Reply(None), detail=NOT_SENT)
        return key
    _delete(
        key,
        actor=actor,
        origin=origin,
        client=client or nsml_client(),
        reason=reason,
        keep_revoking=keep_revoking,
        back_off=expired_by is not None,
    )
    return key


def _delete(
    key: RegisteredKey,
    *,
    actor: User | None,
    origin: Origin,
    client: NsmlClient,
    reason: str,
    keep_revoking: bool,
    back_off: bool = False,
) -> None:
    """DELETE a key already `revoking` from NSML, and settle it as `revoke_key` says. `back_off`: a refusal puts the
    next attempt off (`states.backed_off`), for the expiry job, which would otherwise send it every pass."""
    sent = time.monotonic()
    try:
        reply = client.delete_key(key.title, key.nsml_name)
    except NsmlError as error:
        refused = not (error.failure is Failure.NOT_FOUND or error.failure.outcome_unknown)
        # A refusal of a retry says nothing of the attempt whose answer was lost: the list tells.
        if refused and not error.after_unknown:
            if keep_revoking:
                _left_revoking(key, actor=actor, origin=origin, error=error)
            _back_to_active(key, actor=actor, origin=origin, error=error, back_off=back_off)
            return  # a deactivated member's: still revoking
        reply = error.reply
        # An answer lost or unreadable (a timeout, a dropped connection, a proxy's page), or a 404 or a refusal to a
        # retry after one: NSML may have deleted it for this DELETE, so a list that lacks it confirms this revocation,
        # not a key NSML had lost. Only a 404 to the first attempt says NSML no longer had it.
        deleted = error.failure.outcome_unknown or error.after_unknown
        answered_ok = False
    else:
        deleted = answered_ok = True
    confirm_revocation(
        key,
        actor=actor,
        origin=origin,
        reply=reply,
        client=client,
        deleted=deleted,
        answered_ok=answered_ok,
        reason=reason,
        within=lookup_time(client, sent),
    )


def confirm_revocation(
    key: RegisteredKey,
    *,
    actor: User | None,
    origin: Origin,
    reply: Reply,
    client: NsmlClient,
    deleted: bool,
    answered_ok: bool = True,
    reason: str = "",
    within: float | None = None,
) -> None:
    """One signed GET after the DELETE: only NSML's list proves the key is gone. `within`: the seconds the list
    may take (what the DELETE left of the member's wait, `keys.upstream.lookup_time`), or its own deadline.
    `answered_ok`: False when `reply` is not NSML's 200 (the DELETE's answer was lost, an error or unreadable).

    A 404 that the list contradicts came from a wrong URL, not a missing key: the key is active again.
    Anything else unconfirmed leaves the key `revoking` for the reconciler.
    """
    try:
        held, _list_reply = client.list_keys(within=within)
    except NsmlError as error:
        detail = f"the list that confirms it failed: {error}" + wait_used_up(
            client, within, call="DELETE", lookup="list"
        )
        _unconfirmed(key, actor=actor, origin=origin, reply=reply, detail=detail)
        return
    if not any(item.title == key.title and item.name == key.nsml_name for item in held):
        note = "" if deleted else "NSML no longer had this key"
        # A DELETE without NSML's 200 (no answer, a 5xx, a proxy's page, a 404 to a retry) that the list shows
        # worked: the row says what NSML answered and that the list settled it, as a create's lookup does; not a
        # bare success beside a status of 500.
        by_list = deleted and not answered_ok
        answered = f"NSML answered {reply.status or 'nothing'} ({reply.detail})" if by_list else ""
        reason = reason or ("confirmed_absent" if by_list else "" if deleted else "absent_upstream")
        if not states.mark_revoked(
            key, actor=actor, origin=origin, reason=reason, note=note, reply=reply, answered=answered
        ):
            key.refresh_from_db()  # a reconcile pass confirmed it meanwhile, in this requester's name
        return
    if reply.status == 404:
        error = NsmlError(Failure.NOT_FOUND, reply)
        _back_to_active(key, actor=actor, origin=origin, error=error)
    _unconfirmed(key, actor=actor, origin=origin, reply=reply, detail="NSML still lists the key after the DELETE")


def _back_to_active(
    key: RegisteredKey, *, actor: User | None, origin: Origin, error: NsmlError, back_off: bool = False
) -> None:
    """NSML refused the DELETE: the key is active again, and RevocationFailed says why. Not a deactivated member's
    key (offboarded, before or while NSML answered): a leaver keeps no working key, and no pass would revoke an
    active one, so it stays `revoking` for the reconciler's DELETEs; this returns, the refusal audited.
    `back_off`: the key's next attempt waits (`states.backed_off`), and the audit row says until when."""
    audit = {"title": key.title, "fingerprint": key.fingerprint, "registered_key": key}
    backoff = states.backed_off(key) if back_off else {}
    with transaction.atomic():
        moved = states.move(
            key,
            to=Status.ACTIVE,
            expected=(Status.REVOKING,),
            where=states.owner_is_active(),
            revoke_reason="",
            **states.NOT_ASKED_TO_REVOKE,
            **backoff,
        )
        if not moved and RegisteredKey.objects.filter(pk=key.pk, status=Status.REVOKING).update(revoke_attempts=1):
            record_upstream_failure(
                AuditEvent.Action.REVOKE, actor, key.owner, origin, error, audit, note=KEPT_FOR_DEPARTED_MEMBER
            )
            return
        note = states.sends_again("the expiry job", backoff) if moved and backoff else ""
        event = record_upstream_failure(AuditEvent.Action.REVOKE, actor, key.owner, origin, error, audit, note=note)
    raise RevocationFailed(
        error.failure, revoke_failure_message(error), event, retry_after=error.reply.retry_after
    ) from error


def _left_revoking(key: RegisteredKey, *, actor: User | None, origin: Origin, error: NsmlError) -> None:
    """NSML refused the DELETE; the key stays `revoking` and the reconciler DELETEs it again later."""
    with transaction.atomic():
        RegisteredKey.objects.filter(pk=key.pk, status=Status.REVOKING).update(revoke_attempts=1)
        audit = {
            "title": key.title,
            "fingerprint": key.fingerprint,
            "registered_key": key,
        }
        event = record_upstream_failure(AuditEvent.Action.REVOKE, actor, key.owner, origin, error, audit)
    raise RevocationFailed(
        error.failure, revoke_failure_message(error), event, retry_after=error.reply.retry_after
    ) from error


def _unconfirmed(key: RegisteredKey, *, actor: User | None, origin: Origin, reply: Reply, detail: str) -> None:
    """The key stays `revoking` for the reconciler; one of its passes may have confirmed it meanwhile."""
    states.audit_unsettled(
        key,
        still=Status.REVOKING,
        action=AuditEvent.Action.REVOKE,
        outcome=AuditEvent.Outcome.UNKNOWN,
        actor=actor,
        origin=origin,
        reason="unconfirmed",
        detail="; ".join(part for part in (reply.detail, detail, states.revocation_detail(key)) if part),
        reply=reply,
    )


def revoke_keys(
    keys: Iterable[RegisteredKey],
    *,
    actor: User | None,
    origin: Origin,
    given_reason: str = "",
    wait: NsmlWait | None = None,
) -> RevocationReport:
    """Revoke each active key of `keys` (an admin action, an offboarding); one failure stops no other.

    The admin waits for it: once NSML's calls have taken NSML_TIMEOUT in all, the remaining keys are recorded as
    being revoked and their DELETEs left to the reconciler, so a slow NSML costs about one timeout, not one per key.
    `wait`: that wait when one admin action calls this for several members, so that they share it
    (`NsmlWait.of_admin()`); by default a new one.
    """
    client = nsml_client()
    report = RevocationReport()
    wait = wait or NsmlWait.of_admin()
    for key in keys:
        if not key.is_active:
            continue
        try:
            revoke_key(
                key=key,
                actor=actor,
                origin=origin,
                given_reason=given_reason,
                client=client,
                send=not wait.used_up(),
            )
            report.revoked += key.status == Status.REVOKED
        except RevocationFailed as failure:
            report.failures.append(f"“{key.title}”: {failure.message}")
        else:
            if key.status == Status.REVOKING:
                report.unconfirmed += 1
    return report


def record_revocations(
    keys: Iterable[RegisteredKey], *, actor: User | None, origin: Origin, given_reason: str = ""
) -> list[RegisteredKey]:
    """Move each active key of `keys` to `revoking` in the name of `actor`, and call NSML for none: a deactivation
    writes this in its own transaction, so its revocations commit with it (and a process stopped before its DELETEs
    leaves them to the reconciler, in the admin's name and with their reason) or not at all (and NSML hears of
    nothing the deactivation asked). `send_revocations` sends the DELETEs once it has committed. Returns the keys
    moved."""
    return [
        key
        for key in keys
        if key.is_active
        and states.move(
            key,
            to=Status.REVOKING,
            expected=(Status.ACTIVE,),
            next_attempt_at=None,
            revoke_reason=given_reason.strip(),
            **states.asked_to_revoke(actor, origin),
        )
    ]


def send_revocations(
    keys: Iterable[RegisteredKey], *, actor: User | None, origin: Origin, wait: NsmlWait | None = None
) -> RevocationReport:
    """DELETE the keys `record_revocations` moved to `revoking` (committed), as `revoke_keys` does: past the admin's
    wait, the rest are left to the reconciler."""
    client = nsml_client()
    report = RevocationReport()
    wait = wait or NsmlWait.of_admin()
    for key in keys:
        if wait.used_up():
            _unconfirmed(key, actor=actor, origin=origin, reply=Reply(None), detail=NOT_SENT)
        else:
            try:
                _delete(key, actor=actor, origin=origin, client=client, reason="", keep_revoking=False)
            except RevocationFailed as failure:  # the key's member was activated again meanwhile
                report.failures.append(f"“{key.title}”: {failure.message}")
                continue
        report.revoked += key.status == Status.REVOKED
        report.unconfirmed += key.status == Status.REVOKING
    return report


def revoke_failure_message(error: NsmlError) -> str:
    message = member_messages.REVOKE_MESSAGES.get(error.failure, member_messages.REVOKE_FALLBACK_MESSAGE)
    return str(message) % {"when": member_messages.try_again_when(error.reply.retry_after)}
