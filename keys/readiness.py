"""What /readyz checks: the database, the shared cache, and how long ago a reconcile pass succeeded.

Each check answers "" when its part is fine, or a short reason an operator can act on.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from keys import selectors


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # any failure to answer is "not ready", said in its own words
        return f"database: {type(error).__name__}"
    return ""


def check_cache() -> str:
    # A key of its own: under one shared key, another probe (a thread, another instance on the same Redis) could
    # write between this one's set and get, and a healthy cache read as one that lost what it was given.
    probe = uuid.uuid4().hex
    key = f"readyz-probe:{probe}"
    try:
        cache.set(key, probe, timeout=10)
        kept = cache.get(key)
    except Exception as error:
        return f"cache: {type(error).__name__}"
    return "" if kept == probe else "cache: did not keep what it was given"


def check_reconcile() -> str:
    max_age = settings.READYZ_MAX_RECONCILE_AGE_SECONDS
    if max_age <= 0:
        return ""
    try:
        last = selectors.last_successful_reconcile()
    except Exception as error:
        return f"reconcile: {type(error).__name__}"
    if last is None:
        # A fresh install has had no pass yet: the reconciler gets max_age from the first migration.
        installed = _installed_at()
        if installed is not None and timezone.now() - installed < timedelta(seconds=max_age):
            return ""
        return "reconcile: no successful pass yet; is nsml_sync --apply --every running?"
    age = timezone.now() - last
    if age > timedelta(seconds=max_age):
        return f"reconcile: last successful pass {int(age.total_seconds())} s ago (more than {max_age} s)"
    return ""


def check_all() -> dict[str, str]:
    database = check_database()
    # The reconcile check reads the database too: asked again, a database that does not answer held the
    # probe for its connect timeout twice (10 s), past a load balancer's patience.
    reconcile = "reconcile: not checked, the database did not answer" if database else check_reconcile()
    return {"database": database, "cache": check_cache(), "reconcile": reconcile}


def _installed_at():
    return (
        MigrationRecorder.Migration.objects.filter(app="keys")
        .order_by("applied")
        .values_list("applied", flat=True)
        .first()
    )
