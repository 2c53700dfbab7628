"""Requests the portal cannot serve as sent: a 400 that says so, never a 500 from deeper down.

A NUL character (`%00`) in a query string: no field of the portal accepts one, and PostgreSQL refuses
it in any text it is asked to compare, so an admin list filter, the admin's autocomplete or any other
read of a query parameter would fail with a 500. Forms already refuse NUL in what they are sent, with a
message beside the field (Django's CharField). The 400 page is in the member's language; an API client
gets the API's JSON error form.

A body sent in chunks (`Transfer-Encoding: chunked`, no Content-Length): Django reads only as many bytes
as Content-Length says, so the body would be read as empty and refused for what it seems to lack. It is
answered 411 Length Required instead, which says what to change.

A session ended while its request ran (the member signed out in another tab, or an admin deactivated them while
NSML answered a submission): Django refuses to save it and answers 400. What the request did is kept, so the
page says that, not that the request could not be read.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.sessions.exceptions import SessionInterrupted
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils.translation import gettext
from django.views.decorators.csrf import requires_csrf_token

from portal.outages import API_PREFIX, api_error


class UnreadableRequestMiddleware:
    """After LocaleMiddleware and CSPMiddleware, so the 400 page is translated and carries the policy."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in name or any("\x00" in value for value in values) for name, values in request.GET.lists()):
            # Answered here, not raised: with DEBUG on (make run) too, the member sees this page.
            return bad_request(request)
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return length_required(request)
        return self.get_response(request)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400 (Django's 400s: a body over its limits, a host not allowed) and the NUL check's answer:
    the portal's page, and JSON under /api/."""
    if request.path.startswith(API_PREFIX):
        if isinstance(exception, DisallowedHost):
            message = gettext("The portal does not answer to this host name.")
        else:
            message = gettext(
                "The portal cannot read this request: something in it is accepted nowhere, "
                "such as a NUL character, or it is too large."
            )
        return api_error("bad_request", message, status=400)
    if isinstance(exception, SessionInterrupted):
        return HttpResponse(loader.get_template("400_signed_out.html").render(), status=400)
    return HttpResponse(loader.get_template("400.html").render(), status=400)


def length_required(request: HttpRequest) -> HttpResponse:
    """A body in chunks: 411, the 400 page for a browser (which never sends one) and JSON under /api/."""
    if request.path.startswith(API_PREFIX):
        message = gettext("Send the body with a Content-Length header, not in chunks.")
        return api_error("length_required", message, status=411)
    return HttpResponse(loader.get_template("400.html").render(), status=411)
