"""The one audit writer. Every row goes through `record_event`."""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Field, QuerySet
from django.db.models.sql import UpdateQuery
from django.http import HttpRequest

from keys import inserts
from keys.models import AuditEvent
from portal.logs import holds_private_key_text, redact_secrets
from portal.request_id import current_request_id, note_nsml_trace_id

logger = logging.getLogger("keys.audit")


PRIVATE_KEY_REMOVED = "[removed: it held private-key material]"


@dataclass(frozen=True)
class Origin:
    """Where an action came from: the browser's address and agent, or a command."""

    ip: str | None = None
    user_agent: str = ""
    # The admin who ran it, where a row it writes has no account as its actor (a reconcile pass run from the admin).
    run_by: str = ""

    @property
    def runner(self) -> str:
        """The actor's name on a row with no account as its actor: the admin who ran it, else what ran (a command)."""
        return self.run_by or self.user_agent

    @classmethod
    def from_request(cls, request: HttpRequest) -> Origin:
        # Stored on every audit row: never private-key material or an API token's secret, whatever a client
        # sends as its agent (a script that put its token there).
        agent = redact_secrets(request.META.get("HTTP_USER_AGENT", ""))[:512]
        # As written or percent-decoded (a key file as a URL holds it).
        return cls(ip=client_ip(request), user_agent=PRIVATE_KEY_REMOVED if holds_private_key_text(agent) else agent)

    @classmethod
    def command(cls, name: str) -> Origin:
        return cls(ip=None, user_agent=f"manage.py {name}")

    def via_api(self, token_name: str) -> Origin:
        """The same origin, marked as the API with the token's name: `api token "deploy-bot"; curl/8.5.0`."""
        return replace(self, user_agent=f'api token "{token_name}"; {self.user_agent}'[:512])


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or with PROXY_HOPS proxies in front the address the
    outermost trusted proxy saw (X-Forwarded-For, counted from the right; the left is client-written).
    """
    hops = settings.PROXY_HOPS
    address = request.META.get("REMOTE_ADDR") or None
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def record_event(
    *, action: str, outcome: str, origin: Origin, actor=None, actor_username: str = "", subject=None, **fields
) -> AuditEvent:
    """Append one audit row; `fields` are AuditEvent columns (title, fingerprint, reason, upstream_status...).

    `actor_username` is for actors with no account, such as the name typed at a failed log-in.
    Inside a request the row carries its request id, the one in the logs and the X-Request-ID header.
    """
    event = _new_event(action, outcome, origin, actor, actor_username, subject, fields)
    event.save(force_insert=True)
    _log(event)
    return event


@dataclass(frozen=True)
class PreparedUpdate:
    """An UPDATE's SQL and parameters, written by its caller for PostgreSQL (keys.services.states writes a key's
    state change once per shape), to stand for `rows.update(**values)` in `record_change`."""

    sql: str
    params: tuple
    using: str


def record_change(
    rows: QuerySet | PreparedUpdate,
    values: dict,
    *,
    action: str,
    outcome: str,
    origin: Origin,
    actor=None,
    actor_username: str = "",
    subject=None,
    **fields,
) -> AuditEvent | None:
    """`rows.update(**values)` and the audit row that records it, as one atomic step.

    Returns the audit row, or None (and no row) when no row matched: a conditional change that another
    request or the reconciler made first. On PostgreSQL both writes are one statement (a data-modifying
    WITH) that commits by itself: a key's state change costs one round trip instead of four (BEGIN, UPDATE,
    INSERT, COMMIT), the largest part of a submission's time in the database. There `rows` may also be the
    UPDATE already written (PreparedUpdate), which saves compiling it.
    """
    event = _new_event(action, outcome, origin, actor, actor_username, subject, fields)
    if isinstance(rows, QuerySet) and connections[rows.db].vendor == "postgresql":
        rows = _compiled(rows, values)
    if isinstance(rows, PreparedUpdate):
        changed = _update_and_insert(rows, event)
    else:
        with transaction.atomic(using=rows.db):
            changed = bool(rows.update(**values))
            if changed:
                event.save(force_insert=True, using=rows.db)
    if not changed:
        return None
    _log(event)
    return event


def _compiled(rows: QuerySet, values: dict) -> PreparedUpdate:
    """`rows.update(**values)` as Django compiles it."""
    update = rows.query.chain(UpdateQuery)
    update.add_update_values(values)
    sql, params = update.get_compiler(using=rows.db).as_sql()
    return PreparedUpdate(sql, params, rows.db)


def _new_event(action, outcome, origin: Origin, actor, actor_username: str, subject, fields: dict) -> AuditEvent:
    event = AuditEvent(
        action=action,
        outcome=outcome,
        actor=actor if actor is not None and actor.pk else None,
        actor_username=(actor.username if actor is not None else actor_username)[:150],
        subject=subject,
        client_ip=origin.ip,
        user_agent=origin.user_agent,
        request_id=current_request_id(),
        **fields,
    )
    _escape_unstorable(event)
    return event


def _escape_unstorable(event: AuditEvent) -> None:
    """A refused title or a typed name may hold what a database cannot store: NUL (PostgreSQL's text
    refuses it) or half of a UTF-16 pair (a JSON body can send one; UTF-8 cannot encode it). The row keeps
    each as the admin shows control characters, `\\x00` or `\\ud800`, within the column's length."""
    for field in AuditEvent._meta.concrete_fields:
        value = getattr(event, field.attname)
        if isinstance(value, str) and _UNSTORABLE.search(value):
            setattr(event, field.attname, _UNSTORABLE.sub(_escaped, value)[: field.max_length])


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _update_and_insert(update: PreparedUpdate, event: AuditEvent) -> bool:
    """The UPDATE, and the audit INSERT only if the UPDATE changed a row; saves `event`."""
    connection = connections[update.using]
    sql, fields = _with_audit_row(update.sql, update.using)
    params = (*update.params, *inserts.values(event, fields, update.using))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    event.pk = row[0]
    event._state.adding = False
    event._state.db = update.using
    return True


@functools.lru_cache(maxsize=256)  # one per kind of change: the UPDATE's values are parameters
def _with_audit_row(update_sql: str, using: str) -> tuple[str, tuple[Field, ...]]:
    """`update_sql`, and an audit row's INSERT that runs only if it changed a row; the audit row's fields."""
    quote, meta = connections[using].ops.quote_name, AuditEvent._meta
    columns, placeholders, fields = inserts.columns(AuditEvent, using)
    sql = (
        f"WITH changed AS ({update_sql} RETURNING 1) "
        f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT {placeholders} WHERE EXISTS (SELECT 1 FROM changed) "
        f"RETURNING {quote(meta.pk.column)}"
    )
    return sql, fields


def _log(event: AuditEvent) -> None:
    logger.info(
        "audit action=%s outcome=%s actor=%s title=%s reason=%s status=%s trace=%s",
        event.action,
        event.outcome,
        event.actor_username,
        event.title,
        event.reason,
        event.upstream_status,
        event.trace_id,
        extra={"nsml_trace_id": event.trace_id},
    )
    note_nsml_trace_id(event.trace_id)
