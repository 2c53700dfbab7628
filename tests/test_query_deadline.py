"""A database query a request waits on past DATABASE_QUERY_TIMEOUT is cut off: the request answers 503, as an
outage, and the next one gets a new connection. Found holding a lock on the keys table (as a stalled database or
a migration left waiting would): every member's /keys/ waited for as long as the lock was held, each holding one
of gunicorn's threads, until none was left."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import close_old_connections, connection

from tests.helpers import postgresql_only
from tests.test_production_refusals import check, read_setting

UNAVAILABLE = "The portal is briefly unavailable"
WAITS_ON_A_SERVER = postgresql_only("SQLite waits for no server")


@contextmanager
def keys_table_locked() -> Iterator[psycopg.Connection]:
    """Another session holds the keys table as a migration would: every query on it waits until it lets go."""
    params = connection.settings_dict
    with psycopg.connect(
        dbname=params["NAME"], user=params["USER"], host=params["HOST"] or None, port=params["PORT"] or None
    ) as holder:
        holder.execute("LOCK TABLE keys_registeredkey IN ACCESS EXCLUSIVE MODE")
        yield holder
        holder.rollback()


@pytest.fixture
def waiting_client(member_client, settings):
    settings.DATABASE_QUERY_TIMEOUT = 1
    member_client.raise_request_exception = False
    assert member_client.get("/keys/").status_code == 200  # a connection open and in use, as in production
    yield member_client
    close_old_connections()  # what a server does as each request ends (the test client leaves it out)


@WAITS_ON_A_SERVER
@pytest.mark.django_db(transaction=True)
def test_a_query_held_past_the_deadline_answers_503(waiting_client):
    with keys_table_locked():
        started = time.monotonic()
        held = waiting_client.get("/keys/")
        waited = time.monotonic() - started

    assert held.status_code == 503
    assert held["Retry-After"] == "30"
    assert UNAVAILABLE in held.content.decode()
    assert 1 <= waited < 3, waited  # the deadline, and at most a tick of the watchdog (nsml.deadlines.TICK) more


@WAITS_ON_A_SERVER
@pytest.mark.django_db(transaction=True)
def test_after_a_cut_the_next_request_gets_a_new_connection(waiting_client):
    with keys_table_locked():
        assert waiting_client.get("/keys/").status_code == 503
    close_old_connections()  # as the request's end does under a server: the cut connection is found unusable

    assert waiting_client.get("/keys/").status_code == 200


@WAITS_ON_A_SERVER
@pytest.mark.django_db(transaction=True)
def test_zero_waits_for_ever(waiting_client, settings):
    """As before the deadline: here the lock is let go after 1.5 s, past the 1 s a deadline would have allowed."""
    settings.DATABASE_QUERY_TIMEOUT = 0
    with keys_table_locked() as holder:
        threading.Timer(1.5, holder.rollback).start()
        assert waiting_client.get("/keys/").status_code == 200


def test_the_setting_is_a_number_of_seconds_from_zero():
    assert read_setting("DATABASE_QUERY_TIMEOUT", DATABASE_QUERY_TIMEOUT="2.5").stdout.strip() == "2.5"
    assert read_setting("DATABASE_QUERY_TIMEOUT", DATABASE_QUERY_TIMEOUT=None).stdout.strip() == "30.0"
    for value, says in (
        ("-1", "DATABASE_QUERY_TIMEOUT must be 0 (no limit) or more seconds, not -1."),
        ("soon", "DATABASE_QUERY_TIMEOUT must be a number, not 'soon'."),
    ):
        result = check(DATABASE_QUERY_TIMEOUT=value)
        assert result.returncode != 0
        assert result.stderr.strip() == f"ImproperlyConfigured: {says}"
