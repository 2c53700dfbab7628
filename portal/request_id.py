"""The request id: one token per request, in the logs, the response and every audit row it writes.

Taken from the `X-Request-ID` header when it is a sane token (at most 64 letters, digits, `-`, `_`,
`.`), so a proxy's id follows the request through; otherwise generated. The middleware keeps the
request in a context variable for the log filter (portal.jsonlog) and `current_request_id()` (the
audit writer), and with LOG_REQUESTS logs one line per request with its status, its duration and the trace
ids of NSML's answers its audit rows recorded (space-separated, when there were several).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from functools import partial

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from keys.sshkeys import holds_private_key
from portal.logs import redact_secrets

HEADER = "X-Request-ID"
# A request's line names at most this many NSML trace ids: an admin's action on many keys had an answer for each,
# and each of its audit lines names its own.
MAX_TRACE_IDS_ON_THE_LINE = 5
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

_current: ContextVar[HttpRequest | None] = ContextVar("current_request", default=None)

logger = logging.getLogger("portal.request")


def request_id_from(offered: str) -> str:
    """The offered id when it is a sane token, else a new one (32 hex digits). A private key's body, an API
    token's secret (a script's headers mixed up) or METRICS_TOKEN (a scraper's) can be a sane token: none is
    echoed, logged or stored (an audit row keeps its request id for good)."""
    sane = _SANE.fullmatch(offered) and not holds_private_key(offered) and redact_secrets(offered) == offered
    return offered if sane else uuid.uuid4().hex


def current_request() -> HttpRequest | None:
    return _current.get()


def current_request_id() -> str:
    """The id of the request being served; "" outside a request (a command, the reconciler)."""
    request = _current.get()
    return getattr(request, "request_id", "") if request is not None else ""


def note_nsml_trace_id(trace_id: str) -> None:
    """The request being served had an answer from NSML with this trace id: its own log line names it too."""
    request = _current.get()
    if request is None or not trace_id:
        return
    if not hasattr(request, "nsml_trace_ids"):
        request.nsml_trace_ids = []
    noted = request.nsml_trace_ids
    # Only the first few are logged: an admin's action on thousands of keys keeps no longer a list to search.
    if len(noted) < MAX_TRACE_IDS_ON_THE_LINE and trace_id not in noted:
        noted.append(trace_id)


class RequestIdMiddleware:
    """First in MIDDLEWARE: every later middleware, the view and its log lines see the id."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request.request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID", ""))
        token = _current.set(request)
        try:
            response = self.get_response(request)
        except Exception:
            # Past Django's own handling (its 500 page failed too): gunicorn answers 500, and logs the traceback
            # on a line of its own without the request's id. This line names the request, as for any other.
            if settings.LOG_REQUESTS:
                _log_request(request, 500, started)
            _current.reset(token)
            raise
        except BaseException:  # the worker is stopping: no answer goes out
            _current.reset(token)
            raise
        response[HEADER] = request.request_id
        if settings.LOG_FORMAT == "json" and 400 <= response.status_code < 500:
            _load_user(request)
        if settings.LOG_REQUESTS:
            _log_request(request, response.status_code, started)
        # Django logs a 4xx or 5xx that a view returned (django.request) after the middleware has returned:
        # the request stays current, for that line's request id, until the server closes the response.
        response._resource_closers.append(partial(_forget, request))
        return response


def _log_request(request: HttpRequest, status: int, started: float) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    extra = {"status": status, "duration_ms": duration_ms}
    if traces := getattr(request, "nsml_trace_ids", None):
        extra["nsml_trace_id"] = " ".join(traces)
    logger.info("%s %s %s %.1fms", request.method, request.path, status, duration_ms, extra=extra)


def _load_user(request: HttpRequest) -> None:
    """A refusal names whose session sent it: a CSRF failure, a 405 or a 400 answered before the view loaded
    the user logged `"user": ""`, and an operator could not tell a member's broken form from a stranger's probe.
    Only for refusals (4xx): one session read and one user read, never on a page served; and the log never
    changes the answer, so a database or cache that fails here leaves the user unnamed."""
    user = getattr(request, "user", None)  # absent when a middleware answered before authentication ran
    try:
        _ = user is not None and user.is_authenticated  # loads it: the log filter names only a loaded user
    except Exception:  # an outage is the response's to report, not its log line's
        return


def _forget(request: HttpRequest) -> None:
    if _current.get() is request:
        _current.set(None)
