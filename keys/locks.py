"""One reconcile pass at a time, across processes and hosts.

PostgreSQL: a session-level advisory lock. Other databases (SQLite): a lease in a row, taken with a
conditional UPDATE, which the database applies atomically; a holder that died frees it when it expires.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from keys.models import ReconcileLock

# pg_advisory_lock's key: any 64-bit number no other part of the portal uses.
ADVISORY_KEY = 0x4E534D4C_53594E43  # "NSMLSYNC"
LEASE = timedelta(minutes=10)
NAME = "reconcile"


@contextmanager
def reconcile_lock() -> Iterator[bool]:
    """Yields True when this process holds the lock for the block, False when another one does."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY])
            acquired = cursor.fetchone()[0]
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
        return

    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    try:
        with transaction.atomic():
            ReconcileLock.objects.get_or_create(name=NAME)
    except IntegrityError:
        pass  # another process created the row at the same moment
    now = timezone.now()
    acquired = bool(
        ReconcileLock.objects.filter(name=NAME)
        .filter(Q(holder="") | Q(expires_at__lt=now))
        .update(holder=holder, expires_at=now + LEASE)
    )
    try:
        yield acquired
    finally:
        if acquired:
            ReconcileLock.objects.filter(name=NAME, holder=holder).update(holder="", expires_at=None)


def reconcile_lock_held() -> bool:
    """Whether some process holds the lock now, i.e. a pass is running. On PostgreSQL the advisory lock, which a
    process that died (killed, out of memory, its host gone) let go of with its connection; elsewhere a lease
    not yet expired."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A 64-bit advisory key shows in pg_locks as its high half (classid) and low half (objid), objsubid 1.
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid = %s::oid AND objid = %s::oid AND objsubid = 1)",
                [ADVISORY_KEY >> 32, ADVISORY_KEY & 0xFFFFFFFF],
            )
            return cursor.fetchone()[0]
    return ReconcileLock.objects.filter(name=NAME, expires_at__gt=timezone.now()).exclude(holder="").exists()
