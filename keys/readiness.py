"""What /readyz checks: the database (and that it is migrated), the shared cache, and how long ago a reconcile
pass succeeded.

Each check answers "" when its part is fine, or a short reason an operator can act on.
"""

from __future__ import annotations

import functools
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from keys import selectors


def check_database() -> str:
    """The database answers, and holds every migration this code needs: an instance started before `migrate`
    (a new release, or an empty database) would answer every page with a 500."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        applied = MigrationRecorder(connection).applied_migrations()
    except Exception as error:  # any failure to answer is "not ready", said in its own words
        return f"database: {type(error).__name__}"
    missing = sorted(f"{app}.{name}" for app, name in _latest_migrations() if (app, name) not in applied)
    if missing:
        return f"database: migrations not applied ({', '.join(missing)}); run manage.py migrate"
    return ""


@functools.cache
def _latest_migrations() -> tuple[tuple[str, str], ...]:
    """Each app's last migration in this code (read from disk once per process; the probe then asks the
    database only which are applied)."""
    return tuple(MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes())


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
    if not database:
        reconcile = check_reconcile()
    elif settings.READYZ_MAX_RECONCILE_AGE_SECONDS <= 0:
        reconcile = ""  # the check is off
    elif database.startswith("database: migrations"):
        reconcile = "reconcile: not checked, the database is not migrated"
    else:
        reconcile = "reconcile: not checked, the database did not answer"
    return {"database": database, "cache": check_cache(), "reconcile": reconcile}


def _installed_at():
    return (
        MigrationRecorder.Migration.objects.filter(app="keys")
        .order_by("applied")
        .values_list("applied", flat=True)
        .first()
    )
