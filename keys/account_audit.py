"""Security changes to accounts are audited however they are made: creating a user, granting or
removing staff or superuser, activating or deactivating, setting or removing a password.

One pair of receivers (pre_save reads the stored values, post_save compares) writes every row, so an
admin's change is audited once. The actor is whoever is signed in to the request that made the change
(AccountAuditMiddleware keeps it for the request); outside a request (a shell, a command) it is the
portal, with the command as origin. Log-outs are audited in keys.auth, CSV exports in keys.admin_export.
QuerySet.update() sends no signals: change users through save(), as the admin and Django's commands do.
"""

from __future__ import annotations

import sys
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from django.contrib.auth.hashers import is_password_usable
from django.http import HttpRequest

from keys.audit import Origin, record_event
from keys.models import AuditEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Action = AuditEvent.Action
_request: ContextVar[HttpRequest | None] = ContextVar("account_audit_request", default=None)
_BEFORE = "_account_audit_before"
WATCHED = ("is_staff", "is_superuser", "is_active", "password")
# (field, action, reason when turned on, reason when turned off)
FLAGS = [
    ("is_staff", Action.PRIVILEGES, "staff_granted", "staff_removed"),
    ("is_superuser", Action.PRIVILEGES, "superuser_granted", "superuser_removed"),
    ("is_active", Action.ACTIVATION, "activated", "deactivated"),
]


class AccountAuditMiddleware:
    """Keeps the request while it is handled, so a change to a user names who made it and from where.

    Before AuthenticationMiddleware: single sign-on creates users inside the middleware after it.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def _who() -> tuple[User | None, str, Origin]:
    """The actor, the name recorded when there is no signed-in actor, and the origin."""
    request = _request.get()
    if request is None:
        origin = Origin.command(_command_name())
        return None, origin.user_agent, origin
    user = getattr(request, "user", None)
    actor = user if user is not None and user.is_authenticated else None
    # Nobody signed in (single sign-on creating a user): the portal did it, for this request.
    return actor, "portal", Origin.from_request(request)


def _command_name() -> str:
    path = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    program = path.parent.name if path.name == "__main__.py" else path.name  # python -m pytest: "pytest"
    if program in ("manage.py", "django-admin") and len(sys.argv) > 1:
        return sys.argv[1]
    return program


def remember_stored_values(sender, instance, raw: bool = False, update_fields=None, **kwargs) -> None:
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(WATCHED):
        return  # e.g. the last_login stamp at every log-in: no query
    stored = sender._default_manager.filter(pk=instance.pk).values(*WATCHED).first()
    setattr(instance, _BEFORE, stored)


def audit_account_change(sender, instance, created: bool, raw: bool = False, update_fields=None, **kwargs) -> None:
    if raw:
        return
    before = instance.__dict__.pop(_BEFORE, None)
    if created:
        _record(
            instance,
            Action.USER_CREATE,
            "created",
            f"active={instance.is_active} staff={instance.is_staff} superuser={instance.is_superuser} "
            f"password={'set' if instance.has_usable_password() else 'unusable'}",
        )
        return
    if before is None:
        return
    for field, action, on, off in FLAGS:
        old, new = before[field], getattr(instance, field)
        if old != new:
            _record(instance, action, on if new else off, f"{field}: {old} → {new}")
    if before["password"] != instance.password and not _is_rehash(instance, update_fields):
        usable = is_password_usable(instance.password)
        _record(
            instance,
            Action.PASSWORD,
            "password_set" if usable else "password_unusable",
            "a new password was set" if usable else "password log-in turned off (unusable password)",
        )


def _is_rehash(instance, update_fields) -> bool:
    # check_password() re-hashes a correct password with newer hasher settings and saves only the
    # password, having cleared the raw one; set_password() keeps the raw one until the save ends.
    return (
        update_fields is not None
        and set(update_fields) == {"password"}
        and getattr(instance, "_password", None) is None
        and is_password_usable(instance.password)
    )


def _record(user: User, action: str, reason: str, detail: str) -> None:
    actor, nobody, origin = _who()
    record_event(
        action=action,
        outcome=AuditEvent.Outcome.SUCCESS,
        actor=actor,
        actor_username=nobody,
        subject=user,
        origin=origin,
        reason=reason,
        detail=detail,
    )
