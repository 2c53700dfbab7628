"""WSGI entry point for gunicorn (`gunicorn portal.wsgi`) and runserver (WSGI_APPLICATION)."""

import os
import sys

import django
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


class ReleasingWSGIHandler(WSGIHandler):
    """Django's WSGI handler, except that once the server has sent a response, its request lets go of
    everything it holds.

    A Django request sits in reference cycles (its messages storage and its lazy user point back at it),
    so reference counting never frees it; the garbage collector does, later. In a worker with many
    threads, a collection that runs while requests are in flight moves them, alive, to an older
    generation, where they wait for a rare full collection once they are done: after the submission
    loads of `make bench`, 40 to 128 finished requests per worker, each with its session, user, form and
    messages (README.md, Performance). Emptying the request when its response closes breaks those cycles.
    """

    def get_response(self, request):
        response = super().get_response(request)
        # Django's own closer (request.close(), which closes uploaded files) is already in the list and
        # runs first; the response calls these when the server closes it, after the last byte is sent.
        response._resource_closers.append(request.__dict__.clear)
        return response


# gunicorn's arbiter stops the server when a worker exits with this status: it could not boot.
WORKER_BOOT_ERROR = 3


def _setup() -> None:
    django.setup(set_prefix=False)
    # gunicorn runs no system checks: the settings the portal cannot run with stop it here, as manage.py's
    # commands are stopped (keys/checks.py), rather than fail at the first request that needs them.
    from keys.checks import settings_errors

    if errors := settings_errors():
        raise ImproperlyConfigured(" ".join(f"{error.msg} ({error.id})" for error in errors))


try:
    _setup()
except ImproperlyConfigured as refusal:
    # One line naming the setting, as manage.py writes it (JSON with LOG_FORMAT=json), and no traceback:
    # raised on, gunicorn logged the traceback and then printed the message again as a plain line.
    from portal.logs import refusal_line

    print(refusal_line(refusal), file=sys.stderr, flush=True)
    raise SystemExit(WORKER_BOOT_ERROR) from None

application = ReleasingWSGIHandler()

# WhiteNoise has just listed STATIC_ROOT, for the process's life: the static files' manifest is read now too, so
# that /readyz tells what this process can serve, and a missing one is logged once, at start-up.
from keys.readiness import check_static  # noqa: E402 (needs the settings _setup loaded)

check_static()
