"""Who may log in, and the audit rows that say who did: the lock-out backend (django-axes), the
trusted-header single sign-on, and the receivers that audit log-ins, failures and lock-outs.

The receivers connect when this module is imported. Every log-in passes through it before any
signal is sent (its backend is first in AUTHENTICATION_BACKENDS; the SSO middleware lives here);
importing it from KeysConfig.ready as well connects them at start-up whatever runs first.
"""

from __future__ import annotations

import logging

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.backends import RemoteUserBackend
from django.contrib.auth.middleware import RemoteUserMiddleware
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from keys.audit import Origin, record_event
from keys.models import AuditEvent
from portal import metrics

logger = logging.getLogger("keys.auth")

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome

# Set on a request the lock-out refused before any password was checked.
REFUSED_BY_LOCKOUT = "refused_by_lockout"
SSO_BACKEND = "keys.auth.TrustedHeaderBackend"


class LockoutBackend(AxesStandaloneBackend):
    """Refuses every log-in for a locked-out username or address, a correct password included."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password=None, **kwargs):
        if request is None:
            # Only code logs in without a request (the test client's login(), a shell); every
            # HTTP log-in form passes one. There is no address to count, so nothing to lock.
            return None
        try:
            return super().authenticate(request, username, password, **kwargs)
        except AxesBackendPermissionDenied:
            setattr(request, REFUSED_BY_LOCKOUT, True)
            raise


def is_single_sign_on(request: HttpRequest, credentials: dict | None) -> bool:
    """True for a trusted-header log-in: the proxy authenticated it, so axes neither counts nor locks it."""
    return bool(credentials) and "remote_user" in credentials


def _meta_key(header: str) -> str:
    return "HTTP_" + header.strip().upper().replace("-", "_")


class TrustedHeaderMiddleware(RemoteUserMiddleware):
    """Logs in the user an authenticating proxy names in SSO_REMOTE_USER_HEADER (e.g. X-Forwarded-User).

    settings.py installs it only when the header is set. Like Django's RemoteUserMiddleware, a session
    it opened ends when the header stops coming; password sessions are left alone.
    """

    def __init__(self, get_response) -> None:
        super().__init__(get_response)
        self.header = _meta_key(settings.SSO_REMOTE_USER_HEADER)

    def process_request(self, request: HttpRequest) -> None:
        if not settings.SSO_REMOTE_USER_HEADER:
            return
        if not request.META.get(self.header, "").strip():
            # An empty header names nobody; treat it as absent rather than as a failed log-in.
            request.META.pop(self.header, None)
        super().process_request(request)


class TrustedHeaderBackend(RemoteUserBackend):
    """Users named by the proxy; an unknown one is created inactive unless SSO_CREATE_USERS_ACTIVE."""

    def clean_username(self, username: str) -> str:
        return username.strip()[:150]

    def configure_user(self, request, user, created: bool = True):
        if created:
            user.is_active = settings.SSO_CREATE_USERS_ACTIVE
            user.set_unusable_password()
            user.save(update_fields=["is_active", "password"])
            logger.info("single sign-on created user %s (active=%s)", user.get_username(), user.is_active)
        return user


@receiver(user_logged_in, dispatch_uid="keys-audit-login")
def audit_login(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is None or request.method is None:
        # force_login() builds a bare HttpRequest: nobody logged in from anywhere.
        return
    sso = getattr(user, "backend", "") == SSO_BACKEND
    metrics.count_login("success")
    record_event(
        action=Action.LOGIN,
        outcome=Outcome.SUCCESS,
        actor=user,
        subject=user,
        origin=Origin.from_request(request),
        reason="single_sign_on" if sso else "password",
        detail=f"SSO via {settings.SSO_REMOTE_USER_HEADER}" if sso else "",
    )


@receiver(user_login_failed, dispatch_uid="keys-audit-login-failed")
def audit_login_failed(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    if request is None:
        return
    # Django hands over credentials with the password already masked; only the name is kept.
    sso = "remote_user" in credentials
    typed = credentials.get("remote_user" if sso else "username") or ""
    refused = getattr(request, REFUSED_BY_LOCKOUT, False)
    if refused:
        outcome, reason = Outcome.REFUSED, "locked_out"
    elif sso:
        outcome, reason = Outcome.REFUSED, "inactive_sso_user"
    else:
        outcome, reason = Outcome.FAILED, "bad_credentials"
    metrics.count_login("locked_out" if refused else "failed")
    record_event(
        action=Action.LOGIN_FAILED,
        outcome=outcome,
        actor_username=str(typed),
        origin=Origin.from_request(request),
        reason=reason,
        detail=f"SSO via {settings.SSO_REMOTE_USER_HEADER}" if sso else "",
    )


@receiver(user_locked_out, dispatch_uid="keys-audit-lockout")
def audit_lockout(sender, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs) -> None:
    if getattr(request, REFUSED_BY_LOCKOUT, False):
        # axes says so again for every attempt during a lock-out; those are login_failed rows.
        return
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    metrics.count_login("lockout")
    record_event(
        action=Action.LOCKOUT,
        outcome=Outcome.REFUSED,
        actor_username=username or "",
        origin=Origin.from_request(request),
        reason="failure_limit",
        detail=f"{settings.AXES_FAILURE_LIMIT} failed log-ins for this username or from {ip_address}; "
        f"log-ins refused for {minutes} minutes",
    )
