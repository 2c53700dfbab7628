"""Reads that several places share."""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from keys.locks import reconcile_lock_held
from keys.models import (
    EMAIL_NOTICE_WAITING,
    ApiToken,
    AuditEvent,
    EmailNotice,
    MemberProfile,
    ReconcilePass,
    RegisteredKey,
    UnmanagedKey,
)


def keys_of(user) -> QuerySet[RegisteredKey]:
    """A member's keys, newest first: the only keys a member's pages may show."""
    return RegisteredKey.objects.filter(owner=user)


def key_position(user, key_id: int) -> tuple[datetime, int] | None:
    """Where one of the member's keys stands in their list (its created_at and id); None when it is not theirs."""
    created_at = keys_of(user).filter(pk=key_id).values_list("created_at", flat=True).first()
    return None if created_at is None else (created_at, key_id)


def page_of_keys(
    user, *, statuses: Collection[str] = (), before: tuple[datetime, int] | None = None, limit: int
) -> tuple[list[RegisteredKey], bool]:
    """Up to `limit` of a member's keys, newest first, in `statuses` (any when empty), those listed after the key at
    `before` (key_position); and whether more follow. One query on the owner's index, newest first: a cursor rather
    than an offset, so a page reads no row it skips, and keys added meanwhile do not shift the pages."""
    keys = keys_of(user).order_by("-created_at", "-id")
    if statuses:
        keys = keys.filter(status__in=statuses)
    if before is not None:
        created_at, key_id = before
        # created_at__lte bounds the index scan; the Q breaks ties between keys created in the same microsecond.
        keys = keys.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=key_id), created_at__lte=created_at
        )
    rows = list(keys[: limit + 1])  # one more than the page: whether another follows, without a COUNT
    return rows[:limit], len(rows) > limit


def keys_of_by_standing(user) -> tuple[list[RegisteredKey], list[RegisteredKey]]:
    """A member's keys in two lists: those NSML holds or may hold, then the revoked and failed ones."""
    current, history = [], []
    for key in keys_of(user):
        (current if key.status in RegisteredKey.LIVE_STATUSES else history).append(key)
    return current, history


def active_keys_of(user) -> QuerySet[RegisteredKey]:
    return keys_of(user).filter(status=RegisteredKey.Status.ACTIVE).select_related("owner")


def active_titles_of(user) -> set[str]:
    return set(active_keys_of(user).values_list("title", flat=True))


def live_titles(*, starting_with: str = "") -> set[str]:
    """The titles NSML holds or may hold (that start with a stem): a suggested title must not be one of them."""
    live = RegisteredKey.objects.filter(status__in=RegisteredKey.LIVE_STATUSES, title__startswith=starting_with)
    return set(live.values_list("title", flat=True))


def live_keys_with_title_or_name(title: str, nsml_name: str) -> list[RegisteredKey]:
    """The live keys with this title or this MD5 name, in one query: at most one of each (the unique
    constraints), so at most two rows."""
    live = RegisteredKey.objects.filter(status__in=RegisteredKey.LIVE_STATUSES)
    return list(live.filter(Q(title=title) | Q(nsml_name=nsml_name)).only("owner_id", "status", "title", "nsml_name"))


def active_keys(*, owners: QuerySet) -> QuerySet[RegisteredKey]:
    """The active keys of several members (an admin's offboarding of a selection)."""
    return RegisteredKey.objects.filter(owner__in=owners, status=RegisteredKey.Status.ACTIVE).select_related("owner")


def expired_active_keys(now) -> QuerySet[RegisteredKey]:
    """Active keys whose expiry has passed and whose revocation NSML refused last no sooner than its backoff allows
    (`attempt_due`): the periodic job revokes them."""
    expired = RegisteredKey.objects.filter(attempt_due(now), status=RegisteredKey.Status.ACTIVE, expires_at__lte=now)
    return expired.select_related("owner")


def attempt_due(now) -> Q:
    """Keys whose next DELETE may go at `now`: none was refused, or the wait after the last refusal is over."""
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


def active_keys_expiring(*, after, before) -> QuerySet[RegisteredKey]:
    """Active keys of active members that expire in (after, before]: the ones a reminder may be due for. A
    deactivated member's key still active (NSML could not be listed, KEYS_REVOKE_ON_DEACTIVATE off) gets none:
    its owner can no longer log in to rotate it."""
    return RegisteredKey.objects.filter(
        status=RegisteredKey.Status.ACTIVE, owner__is_active=True, expires_at__gt=after, expires_at__lte=before
    ).select_related("owner")


def user_by_id(user_id):
    """The user with this id, every column read, or None: the session's user, on every page a member opens.

    One SELECT written once per process from the model's columns, its row made a user as the ORM makes one (the
    columns' converters, then `from_db`). `User.objects.get(pk=...)` builds and compiles its query on every call:
    about 0.45 ms of a worker's CPU on the bench's machine, against 0.1 ms for this."""
    user_model = get_user_model()
    database = user_model._default_manager.db
    connection = connections[database]
    read = _user_read(database)
    with connection.cursor() as cursor:
        cursor.execute(read.sql, [user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, converters, column in read.converters:
        for converter in converters:
            values[index] = converter(values[index], column, connection)
    return user_model.from_db(database, read.names, values)


@dataclass(frozen=True)
class _UserRead:
    sql: str
    names: list[str]
    converters: list[tuple[int, list, object]]  # (column's index, its converters, the column), as the ORM applies


@functools.cache
def _user_read(alias: str) -> _UserRead:
    connection, meta = connections[alias], get_user_model()._meta
    quote = connection.ops.quote_name
    converters = []
    for index, field in enumerate(meta.concrete_fields):
        column = field.get_col(meta.db_table)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((index, found, column))
    return _UserRead(
        sql=f"SELECT {', '.join(quote(field.column) for field in meta.concrete_fields)} "
        f"FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s",
        names=[field.attname for field in meta.concrete_fields],
        converters=converters,
    )


def member_language(user) -> str:
    """The language of the member's last visit ("" when the portal has not seen one)."""
    return MemberProfile.objects.filter(user=user).values_list("language", flat=True).first() or ""


def users_with_history(users: QuerySet) -> set[int]:
    """The ids among `users` that held a key or appear in the audit log: they are deactivated, never deleted
    (every reference to a user is PROTECT, so the record stays whole)."""
    # One probe of an index per user and table: reading the users' rows themselves read every audit row of a
    # million (7.5 s for "Select all" of 10,000 members, then Delete).
    history = (
        Exists(RegisteredKey.objects.filter(owner=OuterRef("pk")))
        | Exists(UnmanagedKey.objects.filter(assigned_to=OuterRef("pk")))
        | Exists(AuditEvent.objects.filter(actor=OuterRef("pk")))
        | Exists(AuditEvent.objects.filter(subject=OuterRef("pk")))
    )
    return set(users.order_by().filter(history).values_list("pk", flat=True))


@dataclass(frozen=True)
class Attention:
    """What an admin should look at: keys stuck waiting for NSML, open unmanaged keys, the last pass."""

    stuck_pending: int
    stuck_revoking: int
    open_unmanaged: int
    last_pass: ReconcilePass | None
    # When the pass running now started: its row is not finished yet, so it says nothing of how it went.
    pass_under_way_since: datetime | None = None


def attention() -> Attention:
    stuck_before = timezone.now() - timedelta(seconds=settings.NSML_PENDING_GRACE_SECONDS)
    stuck = RegisteredKey.objects.filter(status_changed_at__lt=stuck_before)
    last_pass = ReconcilePass.objects.first()
    under_way_since = None
    if last_pass is not None and last_pass.finished_at is None:
        if reconcile_lock_held():
            under_way_since = last_pass.started_at
            last_pass = ReconcilePass.objects.exclude(pk=last_pass.pk).first()
        else:
            # No one holds the lock: the pass finished since it was read, or its process died (killed, out of
            # memory), and it is shown as not finished rather than under way until the lease ran out.
            last_pass.refresh_from_db()
    return Attention(
        stuck_pending=stuck.filter(status=RegisteredKey.Status.PENDING).count(),
        stuck_revoking=stuck.filter(status=RegisteredKey.Status.REVOKING).count(),
        open_unmanaged=UnmanagedKey.objects.filter(status=UnmanagedKey.Status.OPEN).count(),
        last_pass=last_pass,
        pass_under_way_since=under_way_since,
    )


def tokens_of(user) -> QuerySet[ApiToken]:
    """A member's access tokens, newest first, revoked and expired ones included (the page marks them)."""
    return ApiToken.objects.filter(user=user)


def live_tokens_of(user) -> QuerySet[ApiToken]:
    return tokens_of(user).filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


def key_counts_by_status() -> dict[str, int]:
    """How many keys are in each state, every state named (zero included): one GROUP BY."""
    counts = dict.fromkeys(RegisteredKey.Status.values, 0)
    rows = RegisteredKey.objects.order_by().values_list("status").annotate(count=Count("id"))
    counts.update(dict(rows))
    return counts


def email_notice_counts() -> dict[str, int]:
    """The outbox for /metrics: notices waiting for the mail server, and given up on. Two counts, each read from its
    partial index (email_notice_waiting, email_notice_given_up), not the whole outbox."""
    return {
        "waiting": EmailNotice.objects.filter(EMAIL_NOTICE_WAITING).count(),
        "given_up": EmailNotice.objects.filter(gave_up_at__isnull=False).count(),
    }


# How long a key may wait for a pass that lists NSML before its page stops saying "in a minute".
NSML_QUIET_AFTER = timedelta(minutes=2)


def nsml_quiet_since(settling_since: datetime) -> datetime | None:
    """When the portal last reached NSML, if no reconcile pass has listed NSML's keys since a key started
    settling at `settling_since`, more than NSML_QUIET_AFTER ago; else None (the usual wait)."""
    if timezone.now() - settling_since < NSML_QUIET_AFTER:
        return None
    last = last_successful_reconcile()
    if last is not None and last >= settling_since:
        return None
    return last or settling_since


def last_successful_reconcile() -> datetime | None:
    """When the newest successful reconcile pass finished; None when none has."""
    return (
        ReconcilePass.objects.filter(succeeded=True, finished_at__isnull=False)
        .order_by("-started_at")
        .values_list("finished_at", flat=True)
        .first()
    )
