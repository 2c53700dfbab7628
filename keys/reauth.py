"""Ask for the password again before key changes ("sudo mode"), as GitHub does.

A stolen session could otherwise add the thief's own key and keep access to NSML long after the
session ends. Adding, rotating or revoking a key needs a password entered within KEYS_REAUTH_MINUTES
(the log-in counts). Otherwise the submission waits in the server-side session while the member
confirms their password on an interstitial page, then goes ahead as submitted: the pasted key is not
lost and never goes into a URL. What it comes to is then shown on its own page, not at the password page's address
(POST/redirect/GET): a form refused then comes back filled as sent (`keep_refused_form`), a new token's secret
waits sealed for the Access tokens page (keys.views.token_list), so the member is where they were.

Members who log in through the trusted-header single sign-on or OpenID Connect have no password here,
and the portal does not yet send them back to the provider to authenticate again, so the rule does not
cover their sessions (README).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import Resolver404, resolve
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from keys.sshkeys import InvalidKey, holds_private_key, parse_public_key
from portal.logs import TOKEN_SECRET

SESSION_CONFIRMED_AT = "keys.password_confirmed_at"
SESSION_PENDING = "keys.pending_change"
SESSION_REFUSED = "keys.refused_after_password"
# OIDC sessions too: asking the provider again (prompt=login) is not built yet; README says so.
SSO_BACKENDS = frozenset({"keys.auth.TrustedHeaderBackend", "keys.oidc.OidcBackend"})
# What a waiting submission may carry: the guarded forms' fields (no CSRF token: a new one comes). The token form's
# form_id too, so that a token form sent again, whose token was made, makes no second one after the password.
KEPT_FIELDS = ("title", "key", "expires_at", "new_title", "new_key", "reason", "name", "days", "form_id")

SESSION_ENDED = _("Your session ended before the form was sent, so nothing was changed. Log in, then try again.")
SESSION_ENDED_WITH_KEY = _(
    "Your session ended before the form was sent, so your key was not sent to NSML, and the portal did not keep "
    "it. Log in, then paste your key again."
)


def login_required_for_changes(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`login_required`, except that a form sent after the session ended is not dropped in silence: the log-in
    page says it was not sent, and that a pasted key must be pasted again (it is kept nowhere, least of all in
    the log-in page's URL)."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.method == "POST":
            pasted = any(request.POST.get(name, "").strip() for name in ("key", "new_key"))
            messages.error(request, gettext(SESSION_ENDED_WITH_KEY if pasted else SESSION_ENDED))
        return redirect_to_login(request.get_full_path())

    return guarded


def mark_password_confirmed(request: HttpRequest) -> None:
    request.session[SESSION_CONFIRMED_AT] = time.time()
    request.password_confirmed_now = True  # even with KEYS_REAUTH_MINUTES=0, this request goes ahead


def password_recently_confirmed(request: HttpRequest) -> bool:
    if getattr(request, "password_confirmed_now", False):
        return True
    if request.session.get("_auth_user_backend") in SSO_BACKENDS:
        return True  # nothing to ask again: see the module's docstring
    confirmed_at = request.session.get(SESSION_CONFIRMED_AT)
    return confirmed_at is not None and time.time() - confirmed_at < settings.KEYS_REAUTH_MINUTES * 60


def requires_recent_password(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A POST to `view` goes ahead only after a recent password; else it waits for the confirmation."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST" or password_recently_confirmed(request):
            return view(request, *args, **kwargs)
        if not _safe_to_keep(request.POST):
            # Refused by the view without reaching NSML: a private key, an access token's secret, or a key the portal
            # cannot read as a public one (it may be a private key in a form no rule recognises), is never kept in the
            # session.
            return view(request, *args, **kwargs)
        request.session[SESSION_PENDING] = {
            "path": request.path,
            "data": {name: request.POST[name] for name in KEPT_FIELDS if name in request.POST},
        }
        return redirect("confirm_password")

    guarded.requires_recent_password = True
    return guarded


def _safe_to_keep(data) -> bool:
    if any(holds_private_key(value) or TOKEN_SECRET.search(value) for value in data.values()):
        return False
    for name in ("key", "new_key"):
        if data.get(name):
            try:
                parse_public_key(data[name], min_rsa_bits=settings.KEYS_MIN_RSA_BITS)
            except InvalidKey:
                return False
    return True


def pending_change(request: HttpRequest) -> dict | None:
    return request.session.get(SESSION_PENDING)


def resume_pending_change(request: HttpRequest) -> HttpResponse | None:
    """Run the submission that waited for the password, as the POST it was; None when there is none."""
    pending = request.session.pop(SESSION_PENDING, None)
    if not pending:
        return None
    try:
        match = resolve(pending["path"])
    except Resolver404:
        return None
    if not getattr(match.func, "requires_recent_password", False):
        return None  # only the guarded views can be resumed, whatever the session says
    data = QueryDict(mutable=True)
    for name, value in pending["data"].items():
        data[name] = value
    data._mutable = False
    request.POST = data
    request.path = request.path_info = pending["path"]
    request.resumed_after_password = True
    return match.func(request, *match.args, **match.kwargs)


def resumed_after_password(request: HttpRequest) -> bool:
    """True in a submission run by `resume_pending_change`: the browser's address is the password page's."""
    return getattr(request, "resumed_after_password", False)


def keep_refused_form(request: HttpRequest, form: forms.Form | None, *, page: str | None = None) -> HttpResponse:
    """A resumed submission's refusal, sent to the page that shows it (POST/redirect/GET; `page`, else the form's
    own): shown under the password page's address, a reload asked for the password again and the member was not
    where they had been. The fields as the form shows them (one it empties, such as a key it cannot read, stays
    empty) and its errors wait in the session for that page's next GET (`refused_form`). No form: a refusal the page
    says in its own words (`refused_here`)."""
    page = page or request.path
    request.session[SESSION_REFUSED] = {
        "path": page,
        "data": {name: form.data[name] for name in form.fields if name in form.data} if form is not None else {},
        "errors": form.errors.get_json_data() if form is not None else {},
    }
    return redirect(page)


def refused_here(request: HttpRequest) -> dict | None:
    """What `keep_refused_form` kept for this page (its data and errors), once; else None."""
    kept = request.session.get(SESSION_REFUSED)
    if request.method != "GET" or not kept or kept["path"] != request.path:
        return None
    del request.session[SESSION_REFUSED]
    return kept


def refused_form(request: HttpRequest, form_class: type[forms.Form], **kwargs) -> forms.Form | None:
    """The form `keep_refused_form` kept for this page, filled and with its errors, once; else None."""
    kept = refused_here(request)
    if kept is None:
        return None
    form = form_class(kept["data"], **kwargs)
    for field, errors in kept["errors"].items():
        shown = form.errors.get(field, [])  # the form's own checks ran again on the kept data: no error twice
        for error in errors:
            if error["message"] not in shown:
                refusal = ValidationError(error["message"], code=error["code"] or None)
                form.add_error(None if field == NON_FIELD_ERRORS else field, refusal)
    return form


@receiver(user_logged_in, dispatch_uid="keys-reauth-login")
def log_in_counts_as_confirmation(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        mark_password_confirmed(request)
