"""Who may log in, and the audit rows that say who did: the lock-out backend (django-axes), the
trusted-header single sign-on, and the receivers that audit log-ins, failures and lock-outs.

The receivers connect when this module is imported. Every log-in passes through it before any
signal is sent (its backend is first in AUTHENTICATION_BACKENDS; the SSO middleware lives here);
importing it from KeysConfig.ready as well connects them at start-up whatever runs first.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.contrib.auth.backends import RemoteUserBackend
from django.contrib.auth.middleware import RemoteUserMiddleware
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.dispatch import receiver
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from keys.audit import PRIVATE_KEY_REMOVED, Origin, client_ip, record_event
from keys.login_names import recorded_name
from keys.models import AuditEvent, RefusalWindow
from keys.oidc import OIDC_BACKEND, SessionUser, is_oidc_log_in
from keys.services.members import remember_language
from keys.sshkeys import holds_private_key
from portal import metrics
from portal.logs import TOKEN_SECRET, redact_secrets

logger = logging.getLogger("keys.auth")

# How django-axes masks a field it knows to be sensitive.
_MASKED = "********************"

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome

# Set on a request the lock-out refused before any password was checked.
REFUSED_BY_LOCKOUT = "refused_by_lockout"
# Set on a request whose single sign-on header names a member's account that is not active (waiting for an
# admin's approval, or deactivated): the log-in page says so, instead of offering a password they do not have.
SSO_ACCOUNT_INACTIVE = "sso_account_inactive"
SSO_BACKEND = "keys.auth.TrustedHeaderBackend"


# pg_advisory_lock's first key for a user name's log-in attempts (the second is the name's hash); the
# reconciler's lock (keys.locks) uses the one-key form, a space of its own.
LOG_IN_LOCK_SPACE = 0x4C4F47  # "LOG"


@contextmanager
def one_attempt_at_a_time(username: str | None) -> Iterator[None]:
    """Checks of one user name's password one at a time, across every process and instance (PostgreSQL).

    django-axes reads a name's failures before the password is checked and counts the failure after: guesses
    sent at the same moment all passed the first read, so 30 sent at once over two instances had 26 passwords
    checked against a limit of 5, and wrote a lock-out audit row each. In turn, each attempt reads the failures
    the ones before it counted. A transaction's lock, so a pooler in transaction mode cannot strand it; the form's
    refusal (ValidationError) leaves the block with the failure counted and audited, committed. Elsewhere
    (SQLite: one host, and writes one at a time) it does nothing."""
    if connection.vendor != "postgresql" or not username or "\x00" in username:
        yield
        return
    refusal = None
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s::int4, hashtext(%s))", [LOG_IN_LOCK_SPACE, username.casefold()]
            )
        try:
            yield
        except ValidationError as error:
            refusal = error
    if refusal is not None:
        raise refusal


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


class LockoutHandler(AxesDatabaseHandler):
    """AXES_HANDLER: django-axes' failure counts, with the user agent they keep (and the lock-outs page shows)
    as the audit keeps it: an API token's secret or private-key material a client sent as its agent is cut."""

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        if request is None:
            return super().user_login_failed(sender, credentials, request, **kwargs)
        if hasattr(request, "axes_user_agent"):
            request.axes_user_agent = Origin.from_request(request).user_agent[:255]
        # axes keeps a copy of the query string and of the form as sent, masking only the fields it knows:
        # any other field (a script's, or one a key was pasted into) and any query value (next=, ...) would
        # be stored as sent. It gets them with their names only; the view still has the form as typed.
        query, form = request.GET, request.POST
        request.GET, request.POST = _names_only(query), _names_only(form)
        try:
            super().user_login_failed(sender, credentials, request, **kwargs)
        finally:
            request.GET, request.POST = query, form


def _names_only(values: QueryDict) -> QueryDict:
    masked = QueryDict(mutable=True)
    for name in values:
        masked[name] = _MASKED
    return masked


@receiver(user_logged_in, dispatch_uid="keys-lockout-forgive-own-failures")
def forgive_own_failures(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """A log-in resets its username's count of failures; each address keeps its own count until it expires.

    axes counts one row per (username, address): both counts are sums over those rows.
    """
    if request is None or request.method is None:
        return  # force_login(): nobody typed anything
    own = AccessAttempt.objects.filter(username=user.get_username())
    # Typed at the address the member just logged in from: their own typos, forgiven outright.
    own.filter(ip_address=client_ip(request)).delete()
    # Typed elsewhere, perhaps by someone guessing: off the username's count, still on the address's.
    own.update(username=None)


def is_single_sign_on(request: HttpRequest, credentials: dict | None) -> bool:
    """True for a trusted-header or OIDC log-in: the proxy or the provider authenticated it, so axes
    neither counts nor locks it."""
    return bool(credentials) and ("remote_user" in credentials or is_oidc_log_in(credentials))


def _meta_key(header: str) -> str:
    return "HTTP_" + header.strip().upper().replace("-", "_")


def is_one_user_name(value: str) -> bool:
    """True for one name Django's username rules accept: letters, digits and @.+-_, 150 at most, and
    already in the form Django stores (NFKC), so "ａｄｍｉｎ" is not a second admin.

    A comma is how a server joins two copies of a header ("alice,admin"); whitespace, control and
    bidi characters make a name that reads as another. An API token's secret, or a private key's body, is
    made of a name's letters too: never a name (it would be kept as one, in the user list and the audit).
    """
    if not value or len(value) > 150 or unicodedata.normalize("NFKC", value) != value:
        return False
    if TOKEN_SECRET.search(value) or holds_private_key(value):
        return False
    try:
        UnicodeUsernameValidator()(value)
    except ValidationError:
        return False
    return True


def _escaped(value: str) -> str:
    """The value with control, format (bidi) and line-separator characters written as escapes, for the audit log."""
    unsafe = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
    return "".join(ascii(char)[1:-1] if unicodedata.category(char) in unsafe else char for char in value)


def _refused_name(value: str) -> str:
    """A refused header as the audit keeps it: escaped, a token's secret cut, and never private-key material."""
    if holds_private_key(value):
        return PRIVATE_KEY_REMOVED
    return redact_secrets(_escaped(value))[:150]


class TrustedHeaderMiddleware(RemoteUserMiddleware):
    """Logs in the user an authenticating proxy names in SSO_REMOTE_USER_HEADER (e.g. X-Forwarded-User).

    settings.py installs it only when the header is set. Like Django's RemoteUserMiddleware, a session
    it opened ends when the header stops coming; password sessions are left alone. A header that is
    not one valid user name counts as absent, and is audited.
    """

    def __init__(self, get_response) -> None:
        super().__init__(get_response)
        self.header = _meta_key(settings.SSO_REMOTE_USER_HEADER)

    def process_request(self, request: HttpRequest) -> None:
        if not settings.SSO_REMOTE_USER_HEADER:
            return
        value = request.META.get(self.header, "").strip()
        if not value:
            # An empty header names nobody; treat it as absent rather than as a failed log-in.
            request.META.pop(self.header, None)
        elif not is_one_user_name(value):
            # Never a name the proxy set: most likely a client's copy of the header joined to it.
            request.META.pop(self.header)
            record_event(
                action=Action.LOGIN_FAILED,
                outcome=Outcome.REFUSED,
                actor_username=_refused_name(value),
                origin=Origin.from_request(request),
                reason="invalid_sso_header",
                detail=f"SSO via {settings.SSO_REMOTE_USER_HEADER}: not one valid user name",
            )
        super().process_request(request)


class TrustedHeaderBackend(SessionUser, RemoteUserBackend):
    """Users named by the proxy; an unknown one is created inactive unless SSO_CREATE_USERS_ACTIVE.

    Never a staff or superuser account, as with OIDC: whoever controls a name at the proxy (or reaches the
    portal around it) does not become an administrator; administrators log in with their password.
    """

    def user_can_authenticate(self, user) -> bool:
        return super().user_can_authenticate(user) and not (user.is_staff or user.is_superuser)

    def authenticate(self, request, remote_user):
        # The middleware refuses these first; a name cut or cleaned into shape could be someone else's.
        if not remote_user or not is_one_user_name(remote_user.strip()):
            return None
        return super().authenticate(request, remote_user)

    def clean_username(self, username: str) -> str:
        return username.strip()

    def configure_user(self, request, user, created: bool = True):
        if created:
            user.is_active = settings.SSO_CREATE_USERS_ACTIVE
            user.set_unusable_password()
            user.save(update_fields=["is_active", "password"])
            logger.info("single sign-on created user %s (active=%s)", user.get_username(), user.is_active)
        if request is not None and not user.is_active and not (user.is_staff or user.is_superuser):
            setattr(request, SSO_ACCOUNT_INACTIVE, True)
        return user


@receiver(user_logged_in, dispatch_uid="keys-audit-login")
def audit_login(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is None or request.method is None:
        # force_login() builds a bare HttpRequest: nobody logged in from anywhere.
        return
    sso = getattr(user, "backend", "") == SSO_BACKEND
    oidc = getattr(user, "backend", "") == OIDC_BACKEND
    metrics.count_login("success")
    record_event(
        action=Action.LOGIN,
        outcome=Outcome.SUCCESS,
        actor=user,
        subject=user,
        origin=Origin.from_request(request),
        reason="single_sign_on" if sso else "oidc" if oidc else "password",
        detail=f"SSO via {settings.SSO_REMOTE_USER_HEADER}"
        if sso
        else f"OIDC via {settings.OIDC_PROVIDER_NAME}"
        if oidc
        else "",
    )
    # The emails the periodic job sends later (expiry reminders) go out in the language of this visit.
    remember_language(user, getattr(request, "LANGUAGE_CODE", None))


@receiver(user_login_failed, dispatch_uid="keys-audit-login-failed")
def audit_login_failed(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    if request is None:
        return
    # Django hands over credentials with the password already masked; only the name is kept.
    sso = "remote_user" in credentials
    # A proxy's name is kept as sent; a typed one only if it is an account's (it may be a password).
    typed = str(credentials.get("remote_user") or "") if sso else recorded_name(str(credentials.get("username") or ""))
    origin = Origin.from_request(request)
    refused = getattr(request, REFUSED_BY_LOCKOUT, False)
    if is_oidc_log_in(credentials):
        metrics.count_login("failed")  # as its audit row: the provider's refusal, or a staff account (keys.oidc)
        record_event(
            action=Action.LOGIN_FAILED,
            outcome=Outcome.REFUSED,
            origin=Origin.from_request(request),
            reason="oidc_refused",
            detail=f"OIDC via {settings.OIDC_PROVIDER_NAME}",
        )
        return
    if refused:
        outcome, reason = Outcome.REFUSED, RefusalWindow.Reason.LOCKED_OUT
    elif sso and _is_staff_name(typed):
        outcome, reason = Outcome.REFUSED, RefusalWindow.Reason.STAFF_SSO_USER
    elif sso:
        outcome, reason = Outcome.REFUSED, RefusalWindow.Reason.INACTIVE_SSO_USER
    else:
        outcome, reason = Outcome.FAILED, "bad_credentials"
    metrics.count_login("locked_out" if refused else "failed")
    notes = [f"SSO via {settings.SSO_REMOTE_USER_HEADER}"] if sso else []
    if outcome == Outcome.REFUSED:
        _audit_refusal(reason, typed, origin, notes)
        return
    record_event(
        action=Action.LOGIN_FAILED,
        outcome=outcome,
        actor_username=typed,
        origin=origin,
        reason=reason,
        detail="; ".join(notes),
    )


def audit_deactivated_log_in(request: HttpRequest, user) -> None:
    """The right password of an inactive account at the log-in form, which refuses it saying so (keys.forms).

    django-axes does not count it (no failure signal): the person knows the password, so it is no guess, and
    counting it would lock them out, and everyone behind their address, for retrying what they were told to
    ask an administrator about. A lock-out still answers first, so it cannot tell a right password."""
    metrics.count_login("failed")
    _audit_refusal(RefusalWindow.Reason.INACTIVE_USER, user.get_username(), Origin.from_request(request), [])


def _audit_refusal(reason: str, username: str, origin: Origin, notes: list[str]) -> None:
    """A refused log-in's audit row, or only a count in the open refusal window it belongs to: retrying a
    refused log-in does not grow the append-only log."""
    if _counted_in_open_window(reason, username, origin.ip):
        return
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    notes = [*notes, f"refusals like this for {minutes} minutes are counted in its refused log-ins window"]
    event = record_event(
        action=Action.LOGIN_FAILED,
        outcome=Outcome.REFUSED,
        actor_username=username,
        origin=origin,
        reason=reason,
        detail="; ".join(notes),
    )
    RefusalWindow.objects.create(
        reason=reason,
        username=username[:150],
        client_ip=origin.ip,
        first_event=event,
        started_at=event.created_at,
        last_at=event.created_at,
    )


def _is_staff_name(username: str) -> bool:
    staff = Q(is_staff=True) | Q(is_superuser=True)
    return get_user_model()._default_manager.filter(staff, username=username).exists()


def _counted_in_open_window(reason: str, username: str, ip: str | None) -> bool:
    """Count a refusal in the open window it belongs to, if there is one; True when it was counted.

    A lock-out holds a username or an address, so a refusal joins a window with either: an attacker
    cycling names from a locked address, or addresses against a locked name, stays in one window.
    An inactive user's window (single sign-on, or a right password) is that user's. A window lasts AXES_COOLOFF_TIME.
    """
    match = Q(username=username[:150])
    if reason == RefusalWindow.Reason.LOCKED_OUT and ip:
        match |= Q(client_ip=ip)
    now = timezone.now()
    window = (
        RefusalWindow.objects.filter(match, reason=reason, started_at__gte=now - settings.AXES_COOLOFF_TIME)
        .order_by("-started_at")
        .values_list("pk", flat=True)
        .first()
    )
    if window is None:
        return False
    RefusalWindow.objects.filter(pk=window).update(count=F("count") + 1, last_at=now)
    return True


@receiver(user_locked_out, dispatch_uid="keys-audit-lockout")
def audit_lockout(sender, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs) -> None:
    if getattr(request, REFUSED_BY_LOCKOUT, False):
        # axes says so again for every attempt during a lock-out: audit_login_failed writes the
        # first as a login_failed row and counts the rest in its refusal window.
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


@receiver(user_logged_out, dispatch_uid="keys-audit-logout")
def audit_logout(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if user is None or request is None or request.method is None:
        # Nobody was logged in, or the test client's logout() (a bare HttpRequest, like force_login).
        return
    # Sent before the session is flushed: it still says how the session was opened. A single sign-on
    # session also ends this way when the proxy stops sending the header.
    backend = getattr(request, "session", {}).get(BACKEND_SESSION_KEY)
    reason = {SSO_BACKEND: "single_sign_on", OIDC_BACKEND: "oidc"}.get(backend, "password")
    record_event(
        action=Action.LOGOUT,
        outcome=Outcome.SUCCESS,
        actor=user,
        subject=user,
        origin=Origin.from_request(request),
        reason=reason,
        detail=getattr(request, "logout_detail", ""),
    )
