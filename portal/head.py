"""A HEAD request is answered with the headers GET would send, Content-Length included, and no body.

gunicorn (27) drops such a body itself, but logs a warning for every response it drops one from ("WSGI app
sent body bytes on a no-body response"): a load balancer asking HEAD /readyz every few seconds wrote a WARNING
line each time. Django's runserver and test client drop the body silently, so only a live gunicorn shows it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class HeadWithoutBodyMiddleware:
    """Above CommonMiddleware, which has set Content-Length from the body by the time the answer comes back here."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method == "HEAD" and not response.streaming:
            response.content = b""
        return response
