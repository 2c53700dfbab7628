"""portal.wsgi, the application gunicorn and runserver serve: a request is freed when its response closes."""

from __future__ import annotations

import gc
import io
import weakref
from urllib.parse import urlencode

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import reverse

from keys.models import RegisteredKey
from portal.wsgi import application

pytestmark = pytest.mark.django_db

CSRF_SECRET = "c" * 32  # Django accepts the unmasked secret in the form as well as in the cookie


def serve(environ: dict, served: list[weakref.ref]) -> tuple[str, dict, list[weakref.ref]]:
    """One request through the application as a WSGI server runs it: call, send every byte, close. Also
    returns weak references to what the request held once the response was made: its session and messages."""
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=status, headers=dict(headers))

    # As Django's test client does: the start and the end of the request must not close the test's
    # database connection (with PostgreSQL, the test's transaction would go with it).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        body = application(environ, start_response)
        request = served[-1]()
        held = [weakref.ref(part) for part in (request.session, request._messages)]
        del request
        try:
            b"".join(body)
        finally:
            body.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], held


def test_a_submission_lets_go_of_what_its_request_held_when_the_response_closes(
    client, member, nsml, new_public_key, monkeypatch, django_capture_on_commit_callbacks
):
    """Without this, the request's session, user and messages live on in reference cycles until a garbage
    collection: in a threaded worker under load, a hundred or so requests' worth per worker. (The form is
    in a cycle of its own, with its bound fields, which is Django's.)"""
    client.force_login(member)
    served: list[weakref.ref] = []

    class Recorded(WSGIRequest):
        def __init__(self, environ) -> None:
            super().__init__(environ)
            served.append(weakref.ref(self))

    monkeypatch.setattr(application, "request_class", Recorded)
    form = urlencode(
        {"title": "alice-laptop", "key": new_public_key("ed25519"), "csrfmiddlewaretoken": CSRF_SECRET}
    ).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": reverse("keys:new"),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_COOKIE": f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF_SECRET}",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(form)),
        "wsgi.input": io.BytesIO(form),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }

    gc.collect()
    gc.disable()  # only reference counting frees anything from here on
    try:
        # As in production, where each statement commits: what waits for the commit runs at once.
        with django_capture_on_commit_callbacks(execute=True):
            status, headers, held = serve(environ, served)
        still_held = [ref() is not None for ref in held]
    finally:
        gc.enable()

    key = RegisteredKey.objects.get()
    assert (status, headers["Location"]) == ("302 Found", reverse("keys:detail", args=[key.pk]))
    assert key.status == RegisteredKey.Status.ACTIVE
    assert still_held == [False, False]  # the session, the messages
