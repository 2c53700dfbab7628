"""`make bench` loads its data with bench/load_data.py (COPY into the tables as the migrations leave them):
it must keep up with the schema, or the benchmark stops before it measures anything."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection

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
