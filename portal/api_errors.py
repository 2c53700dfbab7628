"""Under /api/, every error is the API's JSON form, whoever made it.

keys/api.py answers its own errors as {"error": {"code", "message", "field"}}. Some answers under /api/
are made elsewhere, as HTML: Django's 404 for a path no API route matches (`/api/v1/keys/abc`), ninja's
405 for a method a route does not take, Django's CSRF 403 and its 500 page. An API client reads none of
them; this middleware gives each the JSON form, keeping the status and the headers that go with it
(`Allow`, `Retry-After`, `WWW-Authenticate`).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext

from portal.outages import API_DOCS, API_PREFIX, api_error

_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "X-Request-ID")


def _error(status: int) -> tuple[str, str]:
    if status == 404:
        message = gettext("There is nothing at this address in the API. Its addresses are listed at %(docs)s.")
        return "not_found", message % {"docs": API_DOCS}
    if status == 405:
        message = gettext("This address does not take this method; the Allow header lists those it does.")
        return "method_not_allowed", message
    if status == 403:
        return "forbidden", gettext("This request is not allowed.")
    if status == 411:
        return "length_required", gettext("Send the body with a Content-Length header, not in chunks.")
    if status >= 500:
        return "server_error", gettext("Something went wrong in the portal; it has been logged. Try again later.")
    return "error", gettext("The request could not be served.")


class ApiErrorFormMiddleware:
    """After LocaleMiddleware: the messages are in the client's language (Accept-Language)."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(API_PREFIX)
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        code, message = _error(response.status_code)
        answer = api_error(code, message, status=response.status_code)
        for name in _KEPT_HEADERS:
            if name in response:
                answer[name] = response[name]
        # Measured here: CommonMiddleware, below, measured the page this replaces (a HEAD keeps the header only).
        answer["Content-Length"] = str(len(answer.content))
        # Django logged the page this replaces (a 500 with its traceback, CSRF's 403) when it made it: the new
        # answer is the same one, logged once. Unmarked, Django logged it again as it left, a second ERROR line
        # "Internal Server Error" without the traceback for every 500 under /api/.
        if getattr(response, "_has_been_logged", False):
            answer._has_been_logged = True
        return answer
