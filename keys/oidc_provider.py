"""The OpenID Connect log-in itself, on mozilla-django-oidc: loaded once OIDC is configured and used (keys/oidc.py
decides), so a portal without it does not carry the library and PyJWT in every worker."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from keys.audit import Origin, record_event
from keys.models import AuditEvent
from keys.oidc import oidc_setting, unavailable_message
from portal import metrics
from portal.addresses import without_keys

logger = logging.getLogger("keys.oidc")


class ProviderBackend(OIDCAuthenticationBackend):
    """Users matched by OIDC_USERNAME_CLAIM; unknown names created inactive unless OIDC_CREATE_USERS_ACTIVE.
    Asked only by keys.oidc.OidcBackend, once OIDC is on and the credentials are the callback's."""

    get_settings = staticmethod(oidc_setting)

    def authenticate(self, request, **kwargs):
        try:
            return super().authenticate(request, **kwargs)
        except (requests.RequestException, SuspiciousOperation, ValueError) as error:
            # The provider refused the code, or answered what cannot be trusted: no log-in, no 500.
            logger.warning("OIDC log-in refused: %s", error)
            return None

    def retrieve_matching_jwk(self, token):
        """The provider's signing key for this token: the one with its `kid`, or its only key when the
        provider names none (`kid` is optional in RFC 7517; mozilla-django-oidc would fail with a 500)."""
        reply = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=settings.OIDC_TIMEOUT)
        reply.raise_for_status()
        header = jwt.get_unverified_header(token)
        keys = [
            jwk
            for jwk in reply.json().get("keys", [])
            if jwk.get("alg", header.get("alg")) == header.get("alg") and jwk.get("use", "sig") == "sig"
        ]
        named = [jwk for jwk in keys if "kid" in header and jwk.get("kid") == header["kid"]]
        if named or len(keys) == 1:
            return jwt.PyJWK((named or keys)[0])
        raise SuspiciousOperation("no signing key of the provider matches the ID token")

    def username_from(self, claims: dict) -> str:
        name = claims.get(settings.OIDC_USERNAME_CLAIM)
        return name.strip() if isinstance(name, str) else ""

    def verify_claims(self, claims: dict) -> bool:
        name = self.username_from(claims)
        if not name or len(name) > 150:
            return False
        try:
            UnicodeUsernameValidator()(name)
        except ValidationError:
            return False
        return True

    def filter_users_by_claims(self, claims: dict):
        return self.UserModel.objects.filter(username=self.username_from(claims))

    def describe_user_by_claims(self, claims: dict) -> str:
        return f"{settings.OIDC_USERNAME_CLAIM} {self.username_from(claims)}"

    def create_user(self, claims: dict):
        email = claims.get("email") if isinstance(claims.get("email"), str) else ""
        user = self.UserModel(username=self.username_from(claims), email=email or "")
        user.is_active = settings.OIDC_CREATE_USERS_ACTIVE
        user.set_unusable_password()
        user.save()
        logger.info("OIDC created user %s (active=%s)", user.get_username(), user.is_active)
        return user

    def update_user(self, user, claims: dict):
        if user.is_staff or user.is_superuser:
            # Administrators log in with their password; a provider's name never opens their account.
            raise SuspiciousOperation(f"OIDC log-in to staff account {user.get_username()} refused")
        return user


class AuthenticateView(OIDCAuthenticationRequestView):
    """The "Sign in with ..." link, served by keys.oidc.authenticate_view once OIDC is on."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not self.OIDC_OP_AUTH_ENDPOINT:
            messages.error(request, unavailable_message())
            return redirect("login")
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back (keys.oidc.callback_view, once OIDC is on); a refusal lands on the
    log-in page with a message."""

    get_settings = staticmethod(oidc_setting)

    @property
    def failure_url(self) -> str:
        # The log-in page again, still going where the member was going (a local path only, and keyless).
        login = resolve_url(settings.LOGIN_REDIRECT_URL_FAILURE)
        next_url = without_keys(self.request.session.get("oidc_login_next") or "")
        if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts=set()):
            return f"{login}?{urlencode({REDIRECT_FIELD_NAME: next_url})}"
        return login

    def get(self, request: HttpRequest) -> HttpResponse:
        states = request.session.get("oidc_states") or {}
        if "code" in request.GET and request.GET.get("state") not in states:
            # A state this session did not send (an old tab, a second sign-in meanwhile): a refusal, not a 400.
            return self.login_failure()
        return super().get(request)

    def login_failure(self) -> HttpResponse:
        user = getattr(self, "user", None)
        if user is not None and not user.is_active:
            metrics.count_login("failed")  # authenticate() found them, so no user_login_failed counts it (keys.auth)
            record_event(
                action=AuditEvent.Action.LOGIN_FAILED,
                outcome=AuditEvent.Outcome.REFUSED,
                actor_username=user.get_username(),
                origin=Origin.from_request(self.request),
                reason="inactive_oidc_user",
                detail=f"OIDC via {settings.OIDC_PROVIDER_NAME}",
            )
            messages.error(
                self.request,
                gettext("Your account is waiting for an administrator to approve it. Try again once they have."),
            )
        else:
            messages.error(
                self.request,
                gettext("Signing in with %(provider)s did not work. Try again, or ask an administrator.")
                % {"provider": settings.OIDC_PROVIDER_NAME},
            )
        return super().login_failure()
