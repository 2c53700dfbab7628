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
