"""`make bench` loads its data with bench/load_data.py (COPY into the tables as the migrations leave them):
it must keep up with the schema, or the benchmark stops before it measures anything."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection

from bench.load_data import fingerprint_of
from keys.admin_filters import audit_search, key_search
from keys.models import AuditEvent, RegisteredKey
from tests.helpers import postgresql_only

pytestmark = postgresql_only("the loader COPYs into PostgreSQL, as make bench runs it")


@pytest.mark.django_db(transaction=True)
def test_the_benchmarks_loader_fills_the_tables_the_migrations_make():
    """Found running make bench: a column added to the keys (failure, NOT NULL) stopped its load at the first
    row, 'null value in column "failure"'."""
    database = connection.settings_dict
    dsn = f"postgresql://{database['USER']}@{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"
    command = [sys.executable, "bench/load_data.py", "--dsn", dsn, "--members", "20", "--keys", "60"]
    command += ["--audit-rows", "200", "--audit-total", "200"]

    loaded = subprocess.run(command, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=300)

    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert RegisteredKey.objects.count() == 60
    assert AuditEvent.objects.count() == 200
    assert User.objects.filter(username__startswith="member").exists()
    assert not RegisteredKey.objects.exclude(failure="").exists()


@pytest.mark.django_db(transaction=True)
def test_the_loaded_fingerprints_are_as_the_portal_stores_them_and_an_admin_pastes_them():
    """Found reading the bench: its SHA256 fingerprints lacked the "SHA256:" every real one carries
    (keys/sshkeys.py), so the admin's fingerprint searches it timed looked for values no portal holds, and what an
    admin pastes, "SHA256:" and a start, found nothing in it."""
    database = connection.settings_dict
    dsn = f"postgresql://{database['USER']}@{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"
    command = [sys.executable, "bench/load_data.py", "--dsn", dsn, "--members", "20", "--keys", "60"]
    command += ["--audit-rows", "400", "--audit-total", "400"]
    loaded = subprocess.run(command, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-2000:]

    assert not RegisteredKey.objects.exclude(fingerprint_sha256__regex=r"^SHA256:[A-Za-z0-9+/]{43}$").exists()
    about_keys = AuditEvent.objects.filter(action__in=["register", "revoke"])
    assert about_keys.exists()
    assert not about_keys.exclude(fingerprint__startswith="SHA256:").exists()
    pasted = fingerprint_of(41)[0][: len("SHA256:") + 16]  # as bench/run.py searches
    assert [key.title for key in RegisteredKey.objects.filter(key_search(pasted))] == ["k42"]
    assert {row.title for row in AuditEvent.objects.filter(audit_search(pasted))} <= {"k42"}
