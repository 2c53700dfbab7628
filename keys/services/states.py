"""Moving a key from one state to the next, once: every transition is a conditional UPDATE.

A request and the reconciler may both try to settle the same key; whichever moves it first wins,
and only that one audits and notifies.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import connection, connections, router, transaction
from django.db.models import BooleanField, Field, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from keys.audit import Origin, PreparedUpdate, record_change, record_event
from keys.models import AuditEvent, RegisteredKey
from keys.notifications import notify_key_added, notify_key_failed, notify_key_revoked
from keys.services.failures import upstream_fields
from nsml.client import Reply

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Status = RegisteredKey.Status
# A DELETE that did not revoke its key waits before the next: 30 s, doubling with each in a row, at most an hour.
BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 3600


def backed_off(key: RegisteredKey) -> dict:
    """The key's fields after one more DELETE that did not revoke it (the reconciler's for a key `revoking`, the
    expiry job's for an expired key): how many in a row, and when the next may go."""
    attempts = key.revoke_attempts + 1
    delay = min(BACKOFF_SECONDS * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
    return {"revoke_attempts": attempts, "next_attempt_at": timezone.now() + timedelta(seconds=delay)}


def sends_again(sender: str, backoff: dict) -> str:
    """The audit's phrase for when `sender` ("the reconciler", "the expiry job") sends the next DELETE of a key
    `backed_off` put off; keys.audit_display translates each sender's sentence whole."""
    return f"{sender} sends the DELETE again after {backoff['next_attempt_at']:%Y-%m-%d %H:%M:%S} UTC"


# A key no DELETE has to wait for: where a new expiry starts the expiry job from (keys.services.lifetimes).
NOT_BACKED_OFF = {"revoke_attempts": 0, "next_attempt_at": None}


def move(key: RegisteredKey, *, to: str, expected: tuple[str, ...], where: Q | None = None, **fields) -> bool:
    """Move `key` to `to` if it is still in one of `expected` (and meets `where`); True when this call moved it."""
    values = _values(to, fields)
    moved = RegisteredKey.objects.filter(Q(pk=key.pk, status__in=expected) & (where or Q())).update(**values)
    if moved:
        _apply(key, values)
    return bool(moved)


def move_audited(
    key: RegisteredKey,
    *,
    to: str,
    expected: tuple[str, ...],
    fields: dict | None = None,
    where: Q | None = None,
    owner_active: bool = False,
    **audit,
) -> AuditEvent | None:
    """`move`, and the audit row of it (`audit` as for `audit_key`) in the same atomic write; None if not moved.
    `where`: a further condition the key must still meet at that moment; `owner_active`: its owner must still be
    active (`owner_is_active`)."""
    values = _values(to, fields or {})
    rows = _key_row(key, expected, values, where=where, owner_active=owner_active)
    event = record_change(rows, values, **_audit_fields(key, **audit))
    if event is not None:
        _apply(key, values)
    return event


def _key_row(
    key: RegisteredKey, expected: tuple[str, ...], values: dict, *, where: Q | None, owner_active: bool
) -> QuerySet | PreparedUpdate:
    """The key's row while it is still in one of `expected` (and meets the conditions), to be given `values`.

    On PostgreSQL, without a `where`, its UPDATE is written here from a statement kept per shape (the fields set,
    how many states are expected, the owner condition): the ORM built and compiled it anew at each state change,
    7 % of a submission's instructions (callgrind). Values are prepared as the ORM's UPDATE prepares them; an
    expression (F(), a function) is left to the ORM."""
    using = router.db_for_write(RegisteredKey)
    connection = connections[using]
    plain = not any(hasattr(value, "resolve_expression") for value in values.values())
    if where is None and plain and connection.vendor == "postgresql":
        sql, fields = _key_update(tuple(values), len(expected), owner_active, using)
        params = [_prepared(field, value, connection) for field, value in zip(fields, values.values(), strict=True)]
        return PreparedUpdate(sql, (*params, key.pk, *expected), using)
    condition = Q(pk=key.pk, status__in=expected) & (where or Q())
    return RegisteredKey.objects.filter(condition & owner_is_active() if owner_active else condition)


def _prepared(field: Field, value, connection):
    if hasattr(value, "prepare_database_save"):  # a related row is saved as its key
        value = value.prepare_database_save(field)
    return field.get_db_prep_save(value, connection=connection)


@functools.cache
def _key_update(names: tuple[str, ...], expected: int, owner_active: bool, using: str) -> tuple[str, tuple[Field, ...]]:
    """UPDATE of the fields `names` of one key (by id), while its status is one of `expected` many (and its owner
    is active); and those fields, in the order of their parameters."""
    connection = connections[using]
    quote, meta = connection.ops.quote_name, RegisteredKey._meta
    fields = tuple(meta.get_field(name) for name in names)
    table = quote(meta.db_table)
    sets = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    status = f"{table}.{quote(meta.get_field('status').column)}"
    where = f"{table}.{quote(meta.pk.column)} = %s AND {status} IN ({', '.join(['%s'] * expected)})"
    if owner_active:
        where += f" AND {_owner_is_active_sql(connection.vendor)}"
    return f"UPDATE {table} SET {sets} WHERE {where}", fields


def _values(to: str, fields: dict) -> dict:
    return {"status": to, "status_changed_at": timezone.now(), **fields}


def _apply(key: RegisteredKey, values: dict) -> None:
    for name, value in values.items():
        setattr(key, name, value)


def audit_key(key: RegisteredKey, **audit) -> AuditEvent:
    """One audit row about `key`; `audit`: action, outcome, actor, origin, reason, detail, reply, actor_name
    (`_audit_fields`)."""
    return record_event(**_audit_fields(key, **audit))


def audit_unsettled(key: RegisteredKey, *, still: str, fields: dict | None = None, **audit) -> bool:
    """The audit row of an outcome a request could not settle, written only while the key is still `still`
    (pending, revoking), as one step with that check. A reconcile pass that settled it meanwhile wrote the row
    that counts: then none is written, and the key is read again, so its member is told what is true now.
    `fields`: the key's columns to set in the same step (a reconcile pass's next attempt); `audit` as for
    `audit_key`; True when the row was written."""
    values = {"status": still, **(fields or {})}
    rows = _key_row(key, (still,), values, where=None, owner_active=False)
    if record_change(rows, values, **_audit_fields(key, **audit)) is not None:
        _apply(key, values)
        return True
    key.refresh_from_db()
    return False


def _audit_fields(
    key: RegisteredKey,
    *,
    action: str,
    outcome: str,
    actor: User | None,
    origin: Origin,
    reason: str = "",
    detail: str = "",
    reply: Reply | None = None,
    actor_name: str = "",
) -> dict:
    """An audit row's columns about `key`: whose it is, what it is, and what NSML answered, if anything.
    With no `actor` (the portal itself), the row names `actor_name`, or else who or what ran `origin`."""
    return {
        "action": action,
        "outcome": outcome,
        "actor": actor,
        "actor_username": "" if actor is not None else actor_name or origin.runner,
        "subject": key.owner,
        "origin": origin,
        "registered_key": key,
        "title": key.title,
        "fingerprint": key.fingerprint,
        "reason": reason,
        "detail": detail,
        **(upstream_fields(reply) if reply is not None else {}),
    }


def activate(
    key: RegisteredKey,
    *,
    actor: User | None,
    origin: Origin,
    reply: Reply | None,
    reason: str = "",
    detail: str = "",
    action: str = AuditEvent.Action.REGISTER,
    started_by: tuple[User | None, Origin] | None = None,
) -> bool:
    """pending (or failed, when NSML turns out to hold it after all) -> active, audited and notified.
    `started_by` as for `mark_revoked`: who submitted it, when the reconciler finishes it.

    Only while its member is active: one offboarded while NSML answered keeps no working key. The key
    stays pending, and the next reconcile pass revokes it from NSML (`_refuse_for_departed_member`)."""
    event = move_audited(
        key,
        to=Status.ACTIVE,
        expected=(Status.PENDING, Status.FAILED),
        owner_active=True,
        fields={"failure": ""},
        action=action,
        outcome=AuditEvent.Outcome.SUCCESS,
        actor=actor,
        origin=origin,
        reason=reason,
        detail=detail,
        reply=reply,
    )
    if event is None:
        return False
    notify_actor, notify_origin = started_by or (actor, origin)
    transaction.on_commit(lambda: notify_key_added(key, actor=notify_actor, origin=notify_origin))
    return True


def owner_is_active() -> Q:
    """The key's owner is still active, as a condition of the key's own UPDATE: an EXISTS on the owner's row.

    In SQL rather than as `owner__is_active`: Django writes an UPDATE filtered across a relation as a
    subquery over the keys table, which took 0.5 to 1 ms more per submission to compile and run
    (bench/profile_submission.py, alternating with the code before); this costs about 0.05 ms. The SQL is
    written once per database vendor: writing it on each call (quoting, a new BooleanField) cost 0.12 ms."""
    return Q(RawSQL(_owner_is_active_sql(connection.vendor), [], output_field=_BOOLEAN))


_BOOLEAN = BooleanField()


@functools.cache
def _owner_is_active_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    users, keys = quote(get_user_model()._meta.db_table), quote(RegisteredKey._meta.db_table)
    owner = f"{users}.{quote('id')} = {keys}.{quote('owner_id')}"
    return f"EXISTS (SELECT 1 FROM {users} WHERE {owner} AND {users}.{quote('is_active')})"


def fail(
    key: RegisteredKey,
    *,
    actor: User | None,
    origin: Origin,
    outcome: str,
    reason: str,
    detail: str = "",
    reply: Reply | None = None,
    notify: bool = False,
    action: str = AuditEvent.Action.REGISTER,
    failure: str = "",
) -> AuditEvent | None:
    """pending -> failed (NSML refused it or certainly never got it), audited; None if already settled.
    `failure`: why, as the member's page tells it (`member_messages.FAILED_KEY_MESSAGES`)."""
    event = move_audited(
        key,
        to=Status.FAILED,
        expected=(Status.PENDING,),
        fields={"failure": failure},
        action=action,
        outcome=outcome,
        actor=actor,
        origin=origin,
        reason=reason,
        detail=detail,
        reply=reply,
    )
    if event is not None and notify:
        transaction.on_commit(lambda: notify_key_failed(key))
    return event


def mark_revoked(
    key: RegisteredKey,
    *,
    actor: User | None,
    origin: Origin,
    reason: str,
    note: str,
    reply: Reply | None,
    expected: tuple[str, ...] = (Status.REVOKING,),
    action: str = AuditEvent.Action.REVOKE,
    answered: str = "",
) -> bool:
    """revoking (or active, when NSML lost it) -> revoked, kept for history, audited and notified.

    The audit detail carries the reason an admin gave (`key.revoke_reason`), whoever finishes the revocation;
    `answered` goes first in it (what NSML answered the DELETE, when only the list showed it worked), and never
    in the key's `revoked_note`, which tells the member NSML had lost the key.
    """
    event = move_audited(
        key,
        to=Status.REVOKED,
        expected=expected,
        fields={"revoked_at": timezone.now(), "revoked_note": note},
        action=action,
        outcome=AuditEvent.Outcome.SUCCESS,
        actor=actor,
        origin=origin,
        reason=reason,
        detail="; ".join(part for part in (answered, revocation_detail(key, note)) if part),
        reply=reply,
    )
    if event is None:
        return False
    transaction.on_commit(lambda: notify_key_revoked(key, actor=actor, origin=origin))
    return True


def confirm_revoked(key: RegisteredKey, *, confirmed_from: Origin, reply: Reply | None = None) -> bool:
    """revoking -> revoked, when a reconcile pass finds NSML no longer lists the key (`reply`: that list); True
    when this call moved it.

    Recorded in the name of whoever asked for the revocation (`requester`: a member, an admin, the portal
    itself), as their own request would have, though it may still be waiting for NSML's answer: the audit
    row's actor is the requester, its origin the pass that confirmed it, and the member's email names the
    requester and their address.
    """
    actor, asked_from = requester(key)
    asked = f"asked from {asked_from.ip}" if asked_from.ip else ""
    confirmed = "confirmed by a reconcile pass: NSML no longer lists the key"
    event = move_audited(
        key,
        to=Status.REVOKED,
        expected=(Status.REVOKING,),
        fields={"revoked_at": timezone.now(), "revoked_note": ""},
        action=AuditEvent.Action.REVOKE,
        outcome=AuditEvent.Outcome.SUCCESS,
        actor=actor,
        actor_name=asked_from.user_agent or confirmed_from.runner,
        origin=confirmed_from,
        reason="confirmed_absent",
        detail=revocation_detail(key, "; ".join(part for part in (confirmed, asked) if part)),
        reply=reply,
    )
    if event is None:
        return False
    transaction.on_commit(lambda: notify_key_revoked(key, actor=actor, origin=asked_from))
    return True


def asked_to_revoke(actor: User | None, origin: Origin) -> dict:
    """The key's fields that record who asked for its revocation and from where (`requester` reads them)."""
    return {
        "revoke_requested_by": actor if actor is not None and actor.pk else None,
        "revoke_requested_ip": origin.ip,
        "revoke_requested_agent": origin.user_agent[:512],
    }


NOT_ASKED_TO_REVOKE = {"revoke_requested_by": None, "revoke_requested_ip": None, "revoke_requested_agent": ""}


def requester(key: RegisteredKey) -> tuple[User | None, Origin]:
    """Who asked for the key's revocation and from where, as stored when it moved to `revoking`."""
    return key.revoke_requested_by, Origin(ip=key.revoke_requested_ip, user_agent=key.revoke_requested_agent)


def submitter(key: RegisteredKey) -> tuple[User, Origin]:
    """Who submitted the key and from where, as stored with its pending row: its member (members submit only
    their own keys), and the address and agent of the submission."""
    return key.owner, Origin(ip=key.submitted_ip, user_agent=key.submitted_agent)


def settled_by_pass(key: RegisteredKey, what: str) -> str:
    """The audit detail of a submission a reconcile pass settled: what the pass found, then where it came from."""
    _member, submitted_from = submitter(key)
    submitted = f"submitted from {submitted_from.ip}" if submitted_from.ip else ""
    return "; ".join(part for part in (what, submitted) if part)


def revocation_detail(key: RegisteredKey, note: str = "") -> str:
    """The audit detail of a revocation: the portal's note, then the admin's reason, if any."""
    given = f"reason given: {key.revoke_reason}" if key.revoke_reason else ""
    return "; ".join(part for part in (note, given) if part)
