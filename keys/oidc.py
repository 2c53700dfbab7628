"""OpenID Connect log-in (mozilla-django-oidc, in keys/oidc_provider.py), and who may still use a password
(PASSWORD_LOGIN).

Off unless a client (OIDC_CLIENT_ID, OIDC_CLIENT_SECRET) and a provider (OIDC_ISSUER for discovery, or
the OIDC_OP_* endpoints) are set; the views answer 404 while it is off. Users are matched by one claim
(OIDC_USERNAME_CLAIM); a name seen for the first time is created inactive unless OIDC_CREATE_USERS_ACTIVE.
OIDC never makes anyone staff, and never logs anyone in to a staff or superuser account: administrators
keep their password (PASSWORD_LOGIN=staff-only), so whoever controls a name at the provider cannot
become the portal's administrator. Log-out ends the provider's session too where it has an end-session
endpoint. Log-ins and refusals are audited by keys.auth's receivers, refusals the backend cannot see here.

This module loads no part of mozilla-django-oidc: its backend and views load it once OIDC is on.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext

from keys import selectors
from portal.addresses import without_keys

logger = logging.getLogger("keys.oidc")

OIDC_BACKEND = "keys.oidc.OidcBackend"
SESSION_BACKEND = "_auth_user_backend"
# mozilla-django-oidc's endpoint settings, and the discovery document's name for each.
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_END_SESSION_ENDPOINT": "end_session_endpoint",
}
_discovered: dict[str, dict] = {}
_discovery_lock = threading.Lock()


def oidc_enabled() -> bool:
    return bool(
        settings.OIDC_RP_CLIENT_ID
        and settings.OIDC_RP_CLIENT_SECRET
        and (settings.OIDC_ISSUER or settings.OIDC_OP_AUTHORIZATION_ENDPOINT)
    )


def discovery() -> dict:
    """The provider's discovery document, fetched once per issuer; {} while it cannot be fetched."""
    issuer = settings.OIDC_ISSUER
    if not issuer:
        return {}
    with _discovery_lock:
        if issuer not in _discovered:
            try:
                reply = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=settings.OIDC_TIMEOUT)
                reply.raise_for_status()
                document = reply.json()
                if not isinstance(document, dict):
                    # JSON, but not a discovery document (a list, null): asked again next time, never kept.
                    raise ValueError(f"not a discovery document: a JSON {type(document).__name__}")
                _discovered[issuer] = document
            except (requests.RequestException, ValueError) as error:
                logger.warning("OIDC discovery at %s failed: %s", issuer, error)
                return {}
        return _discovered[issuer]


def oidc_setting(attr: str, *default):
    """mozilla-django-oidc's settings, with each endpoint the environment leaves unset found by discovery."""
    if attr in DISCOVERED:
        return getattr(settings, attr, "") or (discovery().get(DISCOVERED[attr], "") if oidc_enabled() else "")
    from mozilla_django_oidc.utils import import_from_settings  # only its classes ask, once OIDC is in use

    return import_from_settings(attr, *default)


def is_oidc_log_in(credentials: dict | None) -> bool:
    """True for the credentials the OIDC callback authenticates with (the provider checked who it is)."""
    return bool(credentials) and "nonce" in credentials and not credentials.get("username")


def is_oidc_session(request: HttpRequest) -> bool:
    return hasattr(request, "session") and request.session.get(SESSION_BACKEND) == OIDC_BACKEND


class SessionUser:
    """A backend's `get_user` (the session's user, on every request that asks who it is) in one prepared SELECT
    (`selectors.user_by_id`) instead of the ORM's query built anew each time; who may authenticate is unchanged."""

    def get_user(self, user_id):
        user = selectors.user_by_id(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class PasswordBackend(SessionUser, ModelBackend):
    """Django's password log-in, for whom PASSWORD_LOGIN allows: all, staff-only or off.

    `deactivated_too`: the log-in forms' call only (keys.forms.SaysWhenDeactivated: the portal's and the admin's),
    which refuse the inactive account this returns with the right password, saying it is deactivated. Every other call
    (the password asked again, a session's user) finds active accounts only."""

    deactivated_too = False

    def authenticate(self, request, username=None, password=None, *, deactivated_too: bool = False, **kwargs):
        self.deactivated_too = deactivated_too  # Django makes a backend for each authenticate() call
        return super().authenticate(request, username, password, **kwargs)

    def user_can_authenticate(self, user) -> bool:
        policy = settings.PASSWORD_LOGIN
        if policy == "off":
            return False
        if policy == "staff-only" and not (user.is_staff or user.is_superuser):
            return False
        return self.deactivated_too or super().user_can_authenticate(user)


class OidcBackend(SessionUser, ModelBackend):
    """OpenID Connect log-in (keys/oidc_provider.py's ProviderBackend), and the user of a session it began.

    It authenticates nobody while OIDC is off, and only then loads mozilla-django-oidc and PyJWT: about 1.3 MiB
    in every worker that never uses them. A session's user is found as ModelBackend finds it (active only)."""

    def authenticate(self, request, **kwargs):
        if not oidc_enabled() or not is_oidc_log_in(kwargs):
            return None
        from keys.oidc_provider import ProviderBackend

        return ProviderBackend().authenticate(request, **kwargs)


def authenticate_view(request: HttpRequest) -> HttpResponse:
    """The "Sign in with ..." link (keys/oidc_provider.py's AuthenticateView): off (404) unless OIDC is configured."""
    if not oidc_enabled():
        raise Http404
    from keys.oidc_provider import AuthenticateView

    return AuthenticateView.as_view()(request)


def callback_view(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the browser back (keys/oidc_provider.py's CallbackView): off (404) unless OIDC is
    configured."""
    if not oidc_enabled():
        raise Http404
    from keys.oidc_provider import CallbackView

    return CallbackView.as_view()(request)


def unavailable_message() -> str:
    return gettext("%(provider)s cannot be reached right now. Try again in a minute.") % {
        "provider": settings.OIDC_PROVIDER_NAME
    }


class LoginView(auth_views.LoginView):
    """Django's log-in page, with the "Sign in with ..." button and PASSWORD_LOGIN's say over the form."""

    redirect_authenticated_user = True

    def get_redirect_url(self) -> str:
        # A next= sent in the log-in form (a GET's query is cleaned before: portal.addresses) holds no key either.
        next_url = without_keys(super().get_redirect_url())
        # The log-in page itself is nowhere to go: a signed-in member would get Django's redirection-loop error.
        return "" if next_url == self.request.path else next_url

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        next_url = context.get(REDIRECT_FIELD_NAME) or ""
        context.update(
            oidc_enabled=oidc_enabled(),
            oidc_provider_name=settings.OIDC_PROVIDER_NAME,
            oidc_url=reverse("oidc_authentication_init") + (f"?{urlencode({'next': next_url})}" if next_url else ""),
            password_login=settings.PASSWORD_LOGIN,
        )
        return context


class LogoutView(auth_views.LogoutView):
    """Ends the portal's session; after an OIDC log-in (audited), the provider's session too where it can."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        signed_in = request.user.is_authenticated
        oidc_session = is_oidc_session(request) and signed_in
        end_session = provider_logout_url(request) if oidc_session else ""
        if oidc_session:
            # The one log-out audit row is keys.auth.audit_logout's; this says what happened at the provider.
            request.logout_detail = f"OIDC via {settings.OIDC_PROVIDER_NAME}" + (
                "; the provider's session is ended too" if end_session else "; the provider has no end-session"
            )
        response = super().post(request, *args, **kwargs)
        if not end_session:
            if signed_in:  # the log-in page it lands on says so; a member left wondering clicked again
                messages.info(request, gettext("You are logged out."))
            return response
        # A page, not a redirect: the form-action CSP would stop a form's redirect to another origin.
        context = {"end_session_url": end_session, "provider": settings.OIDC_PROVIDER_NAME}
        return render(request, "registration/logged_out_oidc.html", context)

    def http_method_not_allowed(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        """The log-out address opened in the address bar: still a 405 (only a POST logs out), but with a page in
        the member's language that has the log-out button, not the browser's empty error page."""
        refusal = super().http_method_not_allowed(request, *args, **kwargs)
        if request.method not in ("GET", "HEAD"):
            return refusal
        page = render(request, "registration/logout_get.html", status=405)
        page["Allow"] = refusal["Allow"]
        return page


def provider_logout_url(request: HttpRequest) -> str:
    """The provider's end-session URL for this session (RP-initiated logout), or "" when it has none."""
    endpoint = oidc_setting("OIDC_OP_END_SESSION_ENDPOINT")
    if not endpoint:
        return ""
    params = {
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
    }
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    separator = "&" if "?" in endpoint else "?"
    return f"{endpoint}{separator}{urlencode(params)}"
