"""LOG_FORMAT=json: one JSON object per log line, with the request it belongs to.

Each line has time (UTC, ISO 8601), level, logger, message and, inside a request, request_id, user,
method and path; status and duration_ms on the request's own line (portal.request_id), nsml_trace_id
where NSML answered with one, and exception when there is a traceback. The plain format
(`LOG_FORMAT=plain`, the default) is unchanged.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from django.utils.functional import LazyObject

from portal.request_id import current_request

_OPTIONAL = ("status", "duration_ms", "nsml_trace_id")


class RequestContextFilter(logging.Filter):
    """Adds the current request's id, user, method and path to every record logged while it is served."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request()
        if request is not None:
            record.request_id = getattr(request, "request_id", "")
            record.method = request.method
            record.path = request.path
            record.user = _username(request)
        return True


def _username(request) -> str:
    # Only a user the request has already loaded: a log line must not cost a query, or recurse into one. One
    # that log-in (or log-out) put on the request counts from then on: a log-in's own line names who logged in.
    user = request.__dict__.get("user")
    if user is None or isinstance(user, LazyObject):
        user = getattr(request, "_cached_user", None)
    return user.get_username() if user is not None and user.is_authenticated else ""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "user", "method", "path"):
            if hasattr(record, name):
                line[name] = getattr(record, name)
        for name in _OPTIONAL:
            value = getattr(record, name, None)
            if value not in (None, ""):
                line[name] = value
        if record.exc_info:
            # The handler's filter (portal.logs) formats and cuts it first; a bare handler formats it here.
            line["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
