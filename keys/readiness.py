"""What /readyz checks: the database (and that it is migrated), the shared cache, and how long ago a reconcile
pass succeeded.

Each check answers "" when its part is fine, or a short reason an operator can act on.
"""

from __future__ import annotations

import functools
import pkgutil
import uuid
from datetime import timedelta
from importlib import import_module

from django.apps import apps
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
    missing = sorted(f"{app}.{name}" for app, name in _migrations_on_disk() - applied.keys())
    if missing:
        named = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return f"database: migrations not applied ({named}); run manage.py migrate"
    return ""


@functools.cache
def _migrations_on_disk() -> frozenset[tuple[str, str]]:
    """Every migration in this code, by app and name: read from the migration packages' file names once per
    process, without importing the migrations themselves (about 1.3 MiB a worker would keep)."""
    found: set[tuple[str, str]] = set()
    for config in apps.get_app_configs():
        module_name, _explicit = MigrationLoader.migrations_module(config.label)
        try:
            package = import_module(module_name) if module_name else None
        except ModuleNotFoundError:
            package = None
        if package is None or not hasattr(package, "__path__"):
            continue  # an app without migrations
        names = (name for _, name, is_package in pkgutil.iter_modules(package.__path__) if not is_package)
        found.update((config.label, name) for name in names if name[0] not in "_~")
    return frozenset(found)


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
