"""A deadline on each database query a request waits for (DATABASE_QUERY_TIMEOUT, PostgreSQL only).

A database that stops answering without closing its connections (a stalled server, a host that still acknowledges,
a lock held for good) otherwise holds every request that reaches it for as long as it stalls: connections are kept
open (conn_max_age), and a read on one waits on the operating system. Each such request held one of gunicorn's
threads, until none was left for anyone. Past the deadline the query's socket is shut, the query fails at once
(OperationalError), the request is answered as an outage (503, portal/outages.py) and Django drops the connection.

Management commands are not cut: a migration or a reconcile pass may rightly run a long statement. A streamed
response (the audit CSV export) reads its rows after this middleware has returned, and is not cut either.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse

from nsml.deadlines import cut_off_after, shut_down


@contextmanager
def database_deadline(seconds: float) -> Iterator[None]:
    """Past `seconds`, the socket of this thread's database connection is shut, so the query waiting on it fails at
    once (OperationalError) and Django drops the connection."""
    wrapper = connections[DEFAULT_DB_ALIAS]  # this thread's: the cut comes from another (nsml.deadlines)
    with cut_off_after(seconds, functools.partial(_shut_socket, wrapper)):
        yield


def _shut_socket(wrapper) -> None:
    pgconn = getattr(wrapper.connection, "pgconn", None)  # PostgreSQL's; SQLite has no socket to hang on
    try:
        descriptor = pgconn.socket if pgconn is not None else -1
    except Exception:  # closed meanwhile: nothing waits on it
        return
    shut_down(descriptor)


class QueryDeadlineMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
            raise MiddlewareNotUsed("SQLite waits for no server")
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.DATABASE_QUERY_TIMEOUT:
            return self.get_response(request)
        with connections[DEFAULT_DB_ALIAS].execute_wrapper(_query_by_deadline):
            return self.get_response(request)


def _query_by_deadline(execute, sql, params, many, context):
    with database_deadline(settings.DATABASE_QUERY_TIMEOUT):
        return execute(sql, params, many, context)
