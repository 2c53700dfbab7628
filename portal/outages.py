"""The portal's 500 handler: a database or Redis it cannot reach is an outage, answered as one.

Django answers every uncaught exception with a 500 and its "something went wrong" page. When the
exception is the database or the cache (Redis) being unreachable, or Redis refusing the cache's commands,
nothing is wrong with the request: the member gets a 503 that says the portal is briefly unavailable, with
Retry-After, and an API client gets it in the API's JSON error form. Django still logs the exception with its
traceback (`django.request`), and /readyz names the part that is down. Every other exception keeps Django's 500.
"""

from __future__ import annotations

import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import ngettext
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

RETRY_AFTER_SECONDS = 30  # the page and the API's message name the same wait
API_PREFIX = "/api/"
# Where the API lists its addresses (keys/api.py, docs_url), for an API client that asked for one it lacks.
API_DOCS = "/api/v1/docs"


# PostgreSQL's SQLSTATE for a write in a read-only transaction: DATABASE_URL names a standby, or a primary that a
# failover made one. Django raises it as an InternalError.
READ_ONLY_SQL_TRANSACTION = "25006"


def is_outage(error: BaseException | None) -> bool:
    """The database or Redis could not be reached, dropped the connection, or refused to store anything (the
    database read-only; Redis refusing the cache's commands)."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    if isinstance(error, DatabaseError) and getattr(error.__cause__, "sqlstate", None) == READ_ONLY_SQL_TRANSACTION:
        return True
    # redis-py is imported only where the cache is Redis: its errors can only come from there.
    redis_errors = sys.modules.get("redis.exceptions")
    if redis_errors is None:
        return False
    # A ResponseError is Redis saying no to the cache's own commands: no such database (CACHE_URL's /99 on a
    # server with 16), out of memory, a read-only replica, an access list. The request did nothing wrong.
    return isinstance(error, redis_errors.ConnectionError | redis_errors.TimeoutError | redis_errors.ResponseError)


def api_error(code: str, message: str, status: int) -> JsonResponse:
    """The API's JSON error form (keys/api.py), for answers made before the API's own handlers run."""
    body = {"error": {"code": code, "message": message, "field": None}}
    # The charset, as the API's own answers give it (django-ninja).
    return JsonResponse(body, status=status, content_type="application/json; charset=utf-8")


@requires_csrf_token
def server_error(request: HttpRequest, template_name: str = defaults.ERROR_500_TEMPLATE_NAME) -> HttpResponse:
    if not is_outage(sys.exc_info()[1]):
        return defaults.server_error(request, template_name)
    if request.path.startswith(API_PREFIX):
        message = ngettext(
            "The portal is briefly unavailable. Try again in %(seconds)d second.",
            "The portal is briefly unavailable. Try again in %(seconds)d seconds.",
            RETRY_AFTER_SECONDS,
        ) % {"seconds": RETRY_AFTER_SECONDS}
        response = api_error("unavailable", message, status=503)
    else:
        page = loader.get_template("503.html").render({"seconds": RETRY_AFTER_SECONDS})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
