"""The name kept of a failed password log-in: as typed when it is an account's, otherwise only a keyed digest.

People type their password into the name field. A name that is no account's is therefore never kept as
typed: not in the audit log, the lock-out counts (django-axes, AXES_USERNAME_CALLABLE) or their log lines.
Its digest still counts repeated tries of one name together, and an admin who types the name into a
search box finds its rows (keys.admin_filters).
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext

# Not a character Django's user names allow, so no account's name starts like this.
UNKNOWN_PREFIX = "unknown:"
NUL = "\x00"
# The actor's name on the rows of a reconcile pass an admin started with *Check NSML now* (keys/admin.py):
# stored in English like the rest of the row. No account's name holds a space.
_CHECK_NSML_RUNNER = re.compile(r"(?P<name>\S+) via Check NSML now")


def unknown_name(typed: str) -> str:
    """What is kept of `typed` when it is no account's name: the same for the same name, and not reversible."""
    return UNKNOWN_PREFIX + salted_hmac("keys.login_names.unknown", typed).hexdigest()[:16]


def recorded_name(typed: str) -> str:
    """`typed` if an account has this name, else its unknown_name(); "" stays ""."""
    if not typed:
        return typed
    # PostgreSQL refuses NUL in text, and no account's name holds one: no query needed to know.
    if NUL not in typed and get_user_model()._default_manager.filter(username=typed).exists():
        return typed
    return unknown_name(typed)


def axes_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: the name axes counts failures under, as recorded_name() keeps it."""
    typed = credentials.get("username") if credentials else request.POST.get("username")
    return recorded_name(str(typed)) if typed else typed


def check_nsml_runner(username: str) -> str:
    """The actor's name on the rows of a reconcile pass `username` started from the admin."""
    return f"{username} via Check NSML now"


def shown_name(stored: str) -> str:
    """A kept name as the admin shows it, in the reader's language: an unknown name says so, and an admin's
    Check NSML now names the button as the admin reads it."""
    if stored.startswith(UNKNOWN_PREFIX):
        return gettext("not an account's name (%(digest)s)") % {"digest": stored.removeprefix(UNKNOWN_PREFIX)}
    if run := _CHECK_NSML_RUNNER.fullmatch(stored):
        return gettext("%(name)s via Check NSML now") % {"name": run["name"]}
    return stored
