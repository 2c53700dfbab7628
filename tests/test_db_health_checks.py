"""With `conn_health_checks`, a connection in steady use is not asked `SELECT 1` before each request
(portal/postgresql/base.py), yet one the server ended, or one idle for a while, is checked and replaced
before the request uses it. What crosses the wire is read from libpq's own protocol trace."""

from __future__ import annotations

import pytest
from django.db import connection

from portal.postgresql.base import PROVEN_FOR
from tests.helpers import shell_in_fresh_process

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the check is the PostgreSQL backend's"),
    pytest.mark.django_db(transaction=True),
]

# Requests as Django serves them (its request_started and request_finished signals close or check the
# connection), each running one query; SCENARIO says what happens between them.
SCRIPT = """
import os, tempfile, time
import psycopg
from django.core.signals import request_finished, request_started
from django.db import connection

def request():
    request_started.send(sender=None)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]
    finally:
        request_finished.send(sender=None)

scenario = os.environ["SCENARIO"]
first = request()
trace = tempfile.TemporaryFile()
connection.connection.pgconn.trace(trace.fileno())
if scenario == "idle":
    time.sleep(float(os.environ["IDLE_SECONDS"]))
if scenario == "ended":
    with psycopg.connect(os.environ["DATABASE_URL"].split("?")[0], autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [first])
        while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [first]).fetchone():
            time.sleep(0.01)
later = [request(), request()]
if connection.connection is not None and not connection.connection.closed:
    connection.connection.pgconn.untrace()
trace.seek(0)
sent = [line for line in trace.read().decode(errors="replace").splitlines() if "\\tF\\t" in line]
print("checks", sum('"SELECT 1"' in line for line in sent))
print("backends", first, *later)
"""


def run(scenario: str, **environment: str) -> tuple[int, list[int]]:
    database = connection.settings_dict
    host, port = database["HOST"] or "127.0.0.1", database["PORT"] or 5432
    url = f"postgres://{database['USER']}@{host}:{port}/{database['NAME']}?conn_max_age=600&conn_health_checks=true"
    printed = shell_in_fresh_process(SCRIPT, DATABASE_URL=url, SCENARIO=scenario, **environment)
    checks = int(printed.split("checks", 1)[1].split()[0])
    backends = [int(pid) for pid in printed.split("backends", 1)[1].split()]
    return checks, backends


def test_a_connection_in_steady_use_is_not_asked_select_1_before_each_request():
    checks, backends = run("steady")

    assert checks == 0
    assert len(set(backends)) == 1  # the one connection served all three requests


def test_a_connection_idle_for_a_while_is_checked_before_it_is_used():
    checks, backends = run("idle", IDLE_SECONDS=str(PROVEN_FOR + 0.3))

    assert checks == 1  # before the first request after the pause; the next one follows at once
    assert len(set(backends)) == 1


def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it():
    # Terminated just after a request, well within the time a connection counts as proven: its socket
    # holds the server's farewell, so the check runs, fails, and the request gets a new connection.
    _checks, backends = run("ended")

    first, *later = backends
    assert first not in later
    assert later[0] == later[1]
