"""What /readyz checks: the database (and that it is migrated), the shared cache, how long ago a reconcile
pass succeeded, and (with DJANGO_DEBUG off) that this process has the static files' manifest.

Each check answers a `Finding`: no reason when its part is fine, else a short one an operator can act on, which
the probe's answer shows; and where an error was raised, what it said, for the log alone.
"""

from __future__ import annotations

import functools
import logging
import pkgutil
import uuid
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.cache import cache
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from keys import selectors
from portal import query_deadline
from portal.errors import URL_PASSWORD

logger = logging.getLogger(__name__)

# What the log keeps of an error's words: enough for a host, a port and the reason.
CAUSE_LENGTH = 300
# How long a probe waits for the database on a connection it has (connecting has DATABASE_URL's connect_timeout):
# as long as the cache may take (CACHE_URL's socket_timeout), so /readyz answers within a load balancer's patience.
DATABASE_DEADLINE_SECONDS = 2.0


@dataclass(frozen=True)
class Finding:
    reason: str = ""  # "" when the part is fine; else short and safe to answer to anyone who asks
    cause: str = ""  # what the raised error said: hosts and ports, for the log only

    def __bool__(self) -> bool:
        return bool(self.reason)

    def for_the_log(self) -> str:
        return f"{self.reason} ({self.cause})" if self.cause else self.reason


FINE = Finding()
# The database answers reads, and refuses every write (each a 503): a standby, or a primary a failover demoted.
READ_ONLY = Finding("database: read-only (a standby?); DATABASE_URL must name the primary")


def what_it_said(error: BaseException) -> str:
    """An error's message on one line, cut short, with any password in an address in it hidden."""
    text = URL_PASSWORD.sub(r"\g<scheme>:********@", " ".join(str(error).split()))
    return text if len(text) <= CAUSE_LENGTH else text[: CAUSE_LENGTH - 1] + "…"


def _unanswered(part: str, error: BaseException) -> Finding:
    return Finding(f"{part}: {type(error).__name__}", what_it_said(error))


def database_deadline(seconds: float = DATABASE_DEADLINE_SECONDS):
    """The probe's own deadline on the database (portal.query_deadline): a connection kept open (conn_max_age) to a
    database that stopped answering otherwise waits on the operating system, for minutes or for good, and each
    probe a load balancer sends holds one of gunicorn's threads meanwhile."""
    return query_deadline.database_deadline(seconds)


def check_database() -> Finding:
    """The database answers, and holds every migration this code needs: an instance started before `migrate`
    (a new release, or an empty database) would answer every page with a 500."""
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":  # in the same round trip: a standby answers, but stores nothing
                cursor.execute("SELECT current_setting('transaction_read_only')")
                read_only = cursor.fetchone()[0] == "on"
            else:
                cursor.execute("SELECT 1")
                read_only = False
        applied = MigrationRecorder(connection).applied_migrations()
    except Exception as error:  # any failure to answer is "not ready", said in its own words
        return _unanswered("database", error)
    if read_only:
        return READ_ONLY
    missing = sorted(f"{app}.{name}" for app, name in _migrations_on_disk() - applied.keys())
    if missing:
        named = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return Finding(f"database: migrations not applied ({named}); run manage.py migrate")
    return FINE


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


def check_cache() -> Finding:
    # A key of its own: under one shared key, another probe (a thread, another instance on the same Redis) could
    # write between this one's set and get, and a healthy cache read as one that lost what it was given.
    probe = uuid.uuid4().hex
    key = f"readyz-probe:{probe}"
    try:
        cache.set(key, probe, timeout=10)
        kept = cache.get(key)
    except Exception as error:
        return _unanswered("cache", error)
    return FINE if kept == probe else Finding("cache: did not keep what it was given")


def check_reconcile() -> Finding:
    max_age = settings.READYZ_MAX_RECONCILE_AGE_SECONDS
    if max_age <= 0:
        return FINE
    try:
        last = selectors.last_successful_reconcile()
    except Exception as error:
        return _unanswered("reconcile", error)
    if last is None:
        # A fresh install has had no pass yet: the reconciler gets max_age from the first migration.
        installed = _installed_at()
        if installed is not None and timezone.now() - installed < timedelta(seconds=max_age):
            return FINE
        return Finding("reconcile: no successful pass yet; is nsml_sync --apply --every running?")
    age = timezone.now() - last
    if age > timedelta(seconds=max_age):
        return Finding(f"reconcile: last successful pass {int(age.total_seconds())} s ago (more than {max_age} s)")
    return FINE


NO_MANIFEST = Finding("static: no manifest; run manage.py collectstatic, then restart")
COLLECTED_LATE = Finding("static: collected after this process started; restart it")
_static_told = False  # the line saying what to do is logged once per process, not at every probe


def static_finding() -> Finding:
    """With DJANGO_DEBUG off every page names its static files through the manifest `collectstatic` writes
    (STATIC_ROOT/staticfiles.json): without it each one answers 500. The storage reads it once, when the process
    first asks (portal/wsgi.py asks at start-up, when WhiteNoise lists STATIC_ROOT, also once), and keeps it: a
    manifest loaded is never read again; one missing is looked for again at each call, to say so once it is there."""
    if settings.DEBUG:
        return FINE  # files come from the apps' folders, by their own names: no manifest is read
    try:
        if not isinstance(staticfiles_storage, ManifestFilesMixin) or staticfiles_storage.hashed_files:
            return FINE
        collected = staticfiles_storage.read_manifest() is not None
    except Exception as error:  # not JSON, another version (ValueError), or not readable (an OSError)
        return Finding(
            f"static: manifest unreadable ({type(error).__name__}); run manage.py collectstatic, then restart",
            what_it_said(error),
        )
    # Neither the storage nor WhiteNoise reads STATIC_ROOT again: pages stay 500 in this process until it restarts.
    return COLLECTED_LATE if collected else NO_MANIFEST


def check_static() -> Finding:
    global _static_told
    finding = static_finding()
    if finding and not _static_told:
        _static_told = True
        if finding == COLLECTED_LATE:
            what = "the manifest in %s was written after this process started"
            todo = "restart the portal"
        else:
            what = "no readable manifest (staticfiles.json) in %s"
            todo = "run `python manage.py collectstatic --noinput`, then restart the portal"
        logger.error(f"static files: {what}: every page answers 500; {todo}", settings.STATIC_ROOT)
    return finding


def check_all() -> dict[str, Finding]:
    with database_deadline():
        database = check_database()
        answered = not database or database == READ_ONLY
        reconcile = check_reconcile() if answered else _reconcile_unchecked(database)
    return {"database": database, "cache": check_cache(), "reconcile": reconcile, "static": check_static()}


def _reconcile_unchecked(database: Finding) -> Finding:
    # The reconcile check reads the database too: asked again, a database that does not answer held the
    # probe for its connect timeout twice (10 s), past a load balancer's patience.
    if settings.READYZ_MAX_RECONCILE_AGE_SECONDS <= 0:
        return FINE  # the check is off
    if database.reason.startswith("database: migrations"):
        return Finding("reconcile: not checked, the database is not migrated")
    return Finding("reconcile: not checked, the database did not answer")


def _installed_at():
    return (
        MigrationRecorder.Migration.objects.filter(app="keys")
        .order_by("applied")
        .values_list("applied", flat=True)
        .first()
    )
