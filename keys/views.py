from __future__ import annotations

import logging
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views import i18n
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_safe

from keys import member_messages, oidc, readiness, selectors, services
from keys.audit import Origin, record_event
from keys.auth import SSO_ACCOUNT_INACTIVE
from keys.forms import ConfirmPasswordForm, ExpiryForm, KeyForm, PortalAuthenticationForm, TokenForm
from keys.lockouts import tries_left
from keys.models import ApiToken, AuditEvent, RegisteredKey
from keys.ratelimit import SubmissionQuota
from keys.reauth import (
    keep_refused_form,
    login_required_for_changes,
    mark_password_confirmed,
    pending_change,
    refused_form,
    refused_here,
    requires_recent_password,
    resume_pending_change,
    resumed_after_password,
)
from keys.services import tokens
from keys.sshkeys import usual_public_key_file
from keys.suggest import suggest_next_title, suggest_title, title_stem

logger = logging.getLogger("keys.views")

Status = RegisteredKey.Status


@login_required
@require_safe
@never_cache
def key_list(request: HttpRequest) -> HttpResponse:
    current, history = selectors.keys_of_by_standing(request.user)
    context = {"current": current, "history": history}
    settling = [key.status_changed_at for key in current if key.is_settling]
    if settling:
        context["nsml_quiet_since"] = selectors.nsml_quiet_since(min(settling))
    return render(request, "keys/key_list.html", context)


@login_required_for_changes
@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_post_parameters("key")
@requires_recent_password
@never_cache
def key_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = KeyForm(request.POST)
    elif (kept := refused_form(request, KeyForm)) is not None:
        form = kept
    else:
        suggestion = suggest_title(request.user.get_username(), taken=selectors.active_titles_of(request.user))
        form = KeyForm(initial={"title": suggestion})
    if request.method == "POST" and form.is_valid():
        _remember_language(request)
        try:
            key = services.register_key(
                owner=request.user,
                title=form.cleaned_data["title"],
                key_text=form.cleaned_data["key"],
                expires_on=_submitted_expiry(form),
                origin=Origin.from_request(request),
                quota=SubmissionQuota(request),
            )
        except ValidationError as refusal:
            form.add_error(None, refusal)
        except services.SubmissionLimited as limited:
            # The form stays filled; the member reads, next to it, how long to wait.
            form.add_error(None, member_messages.submission_limit_message(limited.retry_after))
            if not resumed_after_password(request):
                response = render(request, "keys/key_form.html", {"form": form}, status=429)
                response["Retry-After"] = str(limited.retry_after)
                return response
        except services.RegistrationFailed as failure:
            form.add_error(failure.field, failure.message)
        else:
            if key.is_active:
                messages.success(request, gettext(member_messages.REGISTERED_MESSAGE) % {"title": key.title})
                messages.info(request, gettext(member_messages.NEXT_STEPS))
            elif key.status == key.Status.PENDING:  # the key's page shows it pending until it is settled
                messages.info(request, gettext(member_messages.PENDING_NOTICE) % {"title": key.title})
            else:  # revoked (or being revoked) before NSML's answer came back
                messages.warning(request, gettext(member_messages.REVOKED_MEANWHILE_NOTICE) % {"title": key.title})
            if key.joined_lines:
                messages.info(request, gettext(member_messages.JOINED_NOTICE))
            return redirect("keys:detail", pk=key.pk)
    if request.method == "POST" and resumed_after_password(request):
        return keep_refused_form(request, form)
    return render(request, "keys/key_form.html", {"form": form})


def _remember_language(request: HttpRequest) -> None:
    """Keep the member's language for later emails: written when it changed in this session, not on every
    submission (two queries off the submission's path)."""
    if request.session.get(_LANGUAGE_KEPT) != request.LANGUAGE_CODE:
        services.remember_language(request.user, request.LANGUAGE_CODE)
        request.session[_LANGUAGE_KEPT] = request.LANGUAGE_CODE


_LANGUAGE_KEPT = "keys.language_kept"


# The language form's field that carries a new token's sealed secret (tokens.seal_secret), and where the switch
# keeps it for the next Access tokens page.
_TOKEN_SHOWN_FIELD = "token_shown"
_TOKEN_SHOWN = "keys.token_shown"


@sensitive_post_parameters(_TOKEN_SHOWN_FIELD)
def set_language(request: HttpRequest) -> HttpResponse:
    """The header's language switch (Django's): a member's choice is kept too, so the emails sent to them
    later (a revoke's notice, the job's reminders) are in the language they chose, not their log-in's."""
    response = i18n.set_language(request)
    language = request.POST.get("language")
    if request.method == "POST" and request.user.is_authenticated and language in dict(settings.LANGUAGES):
        services.remember_language(request.user, language)
        request.session[_LANGUAGE_KEPT] = language
        sealed = request.POST.get(_TOKEN_SHOWN_FIELD, "")
        if sealed and len(sealed) <= 1000 and urlsplit(response.get("Location", "")).path == reverse("tokens"):
            # A new token's secret, still sealed: the next Access tokens page shows it again, in this language.
            request.session[_TOKEN_SHOWN] = sealed
    return response


def _submitted_expiry(form) -> str | None:
    # A form sent without the field (an older page, a script) gets the default lifetime; an empty one means never.
    return form.cleaned_data["expires_at"] if "expires_at" in form.data else None


@login_required
@require_safe
@never_cache
def key_detail(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(selectors.keys_of(request.user), pk=pk)
    expiry_form = None
    if key.expiry_applies:
        # A date refused after the password step (key_expiry) comes back here once, as typed, with its refusal.
        expiry_form = refused_form(request, ExpiryForm, key=key) or ExpiryForm(key=key)
    context = {"key": key, "expiry_form": expiry_form, "pub_file": usual_public_key_file(key.key_type)}
    if key.is_settling:
        context["nsml_quiet_since"] = selectors.nsml_quiet_since(key.status_changed_at)
    if key.status == key.Status.FAILED:
        context["failure_message"] = member_messages.failed_key_page_message(key.failure, title=key.title)
    revoked = key.status in (key.Status.REVOKING, key.Status.REVOKED)
    if revoked and key.revoke_requested_by_id not in (None, key.owner_id):
        # Someone else revoked it (an administrator): the member's email names them, and so does this page.
        context["revoked_by"] = key.revoke_requested_by.get_username()
    return render(request, "keys/key_detail.html", context)


@login_required_for_changes
@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_post_parameters("key")
@requires_recent_password
@never_cache
def key_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    """Replace a key in one step: the new key is registered, then the old one revoked."""
    old = get_object_or_404(selectors.keys_of(request.user), pk=pk)
    if not old.is_active:
        # Revoked or rotated in another tab meanwhile: a new key sent here was not registered, and the page says so
        # (after the password step, on this page's address: the refusal is kept for its next GET).
        if request.method == "POST" and resumed_after_password(request):
            return keep_refused_form(request, None)
        sent = request.method == "POST" or refused_here(request) is not None
        context = {"key": old, "form": None, "sent": sent}
        return render(request, "keys/key_rotate.html", context, status=409 if request.method == "POST" else 200)
    if request.method == "POST":
        form = KeyForm(request.POST)
    elif (kept := refused_form(request, KeyForm)) is not None:
        form = kept
    else:
        taken = selectors.live_titles(starting_with=title_stem(old.title))
        form = KeyForm(initial={"title": suggest_next_title(old.title, taken=taken)})
    if request.method == "POST" and form.is_valid():
        _remember_language(request)
        try:
            rotation = services.rotate_key(
                old=old,
                title=form.cleaned_data["title"],
                key_text=form.cleaned_data["key"],
                expires_on=_submitted_expiry(form),
                actor=request.user,
                origin=Origin.from_request(request),
                quota=SubmissionQuota(request),
            )
        except ValidationError as refusal:
            form.add_error(None, refusal)
        except services.RegistrationFailed as failure:
            form.add_error(failure.field, failure.message)
        except services.SubmissionLimited as limited:
            form.add_error(None, member_messages.submission_limit_message(limited.retry_after))
            if not resumed_after_password(request):
                response = render(request, "keys/key_rotate.html", {"key": old, "form": form}, status=429)
                response["Retry-After"] = str(limited.retry_after)
                return response
        else:
            _tell_rotation(request, rotation)
            return redirect("keys:detail", pk=rotation.new.pk)
    if request.method == "POST" and resumed_after_password(request):
        return keep_refused_form(request, form)
    return render(request, "keys/key_rotate.html", {"key": old, "form": form})


def _tell_rotation(request: HttpRequest, rotation: services.Rotation) -> None:
    names = {"title": rotation.new.title, "old": rotation.old.title}
    if rotation.complete:
        messages.success(request, gettext(member_messages.ROTATED_MESSAGE) % names)
    elif rotation.new.status in (Status.REVOKING, Status.REVOKED):  # revoked before NSML's answer came back
        notice = member_messages.ROTATE_NEW_REVOKED_NOTICE if rotation.old.is_active else None
        messages.warning(request, gettext(notice or member_messages.REVOKED_MEANWHILE_NOTICE) % names)
    elif not rotation.new.is_active and rotation.old.is_active:
        messages.info(request, gettext(member_messages.ROTATE_PENDING_NOTICE) % names)
    elif not rotation.new.is_active:  # the old key was revoked meanwhile, elsewhere: only the new key is news
        messages.info(request, gettext(member_messages.PENDING_NOTICE) % names)
    elif rotation.revoke_failure is not None:
        reason = str(member_messages.FAILURE_NAMES[rotation.revoke_failure.failure])
        messages.error(request, gettext(member_messages.ROTATE_REVOKE_FAILED) % {**names, "reason": reason})
    else:
        messages.info(request, gettext(member_messages.ROTATE_REVOKING_NOTICE) % names)


@login_required_for_changes
@require_http_methods(["GET", "HEAD", "POST"])
@requires_recent_password
@never_cache
def key_expiry(request: HttpRequest, pk: int) -> HttpResponse:
    """A member shortens their key's lifetime (or lengthens it up to the maximum)."""
    key = get_object_or_404(selectors.keys_of(request.user), pk=pk)
    if request.method != "POST":
        # A refused date is shown at this address: the language switch or a reload asks for it again with a GET.
        return redirect("keys:detail", pk=key.pk)
    if not key.expiry_applies:
        messages.error(request, gettext(member_messages.EXPIRY_FIXED_MESSAGE) % {"title": key.title})
        return redirect("keys:detail", pk=key.pk)
    form = ExpiryForm(request.POST, key=key)
    if form.is_valid():
        try:
            services.change_expiry(
                key=key, value=form.cleaned_data["expires_at"], actor=request.user, origin=Origin.from_request(request)
            )
        except ValidationError as refusal:
            if getattr(refusal, "code", None) == "expiry_fixed":
                # Revoked meanwhile (the job, another tab): the key's page says what it is now, and why not.
                messages.error(request, refusal.message)
                return redirect("keys:detail", pk=key.pk)
            form.add_error(None, refusal)
        else:
            if key.expires_at is None:
                messages.success(request, gettext(member_messages.EXPIRY_REMOVED_MESSAGE) % {"title": key.title})
            else:
                day = services.lifetimes.local_day(key.expires_at).isoformat()
                messages.success(
                    request, gettext(member_messages.EXPIRY_CHANGED_MESSAGE) % {"title": key.title, "day": day}
                )
            return redirect("keys:detail", pk=key.pk)
    if resumed_after_password(request):
        return keep_refused_form(request, form, page=reverse("keys:detail", args=[key.pk]))
    context = {"key": key, "expiry_form": form, "pub_file": usual_public_key_file(key.key_type)}
    return render(request, "keys/key_detail.html", context, status=400)


@login_required_for_changes
@require_http_methods(["GET", "HEAD", "POST"])
@requires_recent_password
@never_cache
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(selectors.keys_of(request.user), pk=pk)
    if request.method == "POST" and key.is_active:
        try:
            services.revoke_key(key=key, actor=request.user, origin=Origin.from_request(request))
        except services.RevocationFailed as failure:
            messages.error(request, failure.message)
        else:
            if key.status == key.Status.REVOKED:
                messages.success(request, gettext(member_messages.REVOKED_MESSAGE) % {"title": key.title})
            elif key.status == key.Status.REVOKING:
                messages.info(request, gettext(member_messages.REVOKING_NOTICE) % {"title": key.title})
        return redirect("keys:detail", pk=key.pk)
    if request.method == "POST":  # sent from a page that was out of date: the key is no longer active
        messages.info(request, member_messages.not_revocable(key))
        return redirect("keys:detail", pk=key.pk)
    return render(request, "keys/key_revoke.html", {"key": key, "not_revocable": member_messages.not_revocable(key)})


@login_required_for_changes
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@requires_recent_password
def token_list(request: HttpRequest) -> HttpResponse:
    """The member's access tokens, and the form for a new one; its secret is shown in this answer only."""
    max_days = settings.API_TOKEN_MAX_DAYS
    new = None
    blank = TokenForm(max_days=max_days, initial={"days": min(30, max_days)})
    form = refused_form(request, TokenForm, max_days=max_days) or blank
    kept = request.session.pop(_TOKEN_SHOWN, None)
    if request.method != "POST" and kept:
        new = tokens.unseal_secret(kept, user=request.user)
    if request.method == "POST":
        made = _token_made_by_this_form(request)
        if made is not None:
            # The same page sent again (a reload after creating, or back then resend): not a second token, and
            # not "choose another name", which had the member make a second one while the first went unused.
            messages.warning(request, gettext(member_messages.TOKEN_FORM_SENT_AGAIN) % {"name": made.name})
            if resumed_after_password(request):
                return redirect("tokens")
        else:
            form = TokenForm(request.POST, max_days=max_days)
            if form.is_valid():
                try:
                    new = tokens.create_token(
                        user=request.user,
                        name=form.cleaned_data["name"],
                        days=form.cleaned_data["days"],
                        origin=Origin.from_request(request),
                    )
                except ValidationError as refusal:
                    form.add_error(None, refusal)
                else:
                    _remember_token_form(request, new.token.pk)
                    form = blank
                    if resumed_after_password(request):
                        # Shown once on this page's address, not the password page's: the secret waits sealed (as
                        # through the language switch), never in a URL; the next GET takes it out of the session.
                        request.session[_TOKEN_SHOWN] = tokens.seal_secret(new)
                        return redirect("tokens")
            if resumed_after_password(request):
                return keep_refused_form(request, form)
    context = {
        "form": form,
        "new": new,
        "tokens": selectors.tokens_of(request.user),
        "now": timezone.now(),
        "form_id": secrets.token_urlsafe(12),
        "sealed": tokens.seal_secret(new) if new else "",
    }
    return render(request, "keys/token_list.html", context)


# Session: the ids of the last token forms that made a token (each page of the form carries a fresh one).
_TOKEN_FORMS = "keys.token_forms"
_TOKEN_FORMS_KEPT = 10


def _token_made_by_this_form(request: HttpRequest) -> ApiToken | None:
    token_pk = request.session.get(_TOKEN_FORMS, {}).get(request.POST.get("form_id", ""))
    return selectors.tokens_of(request.user).filter(pk=token_pk).first() if token_pk else None


def _remember_token_form(request: HttpRequest, token_pk: int) -> None:
    form_id = request.POST.get("form_id", "")
    if form_id:
        made = request.session.get(_TOKEN_FORMS, {})
        made[form_id] = token_pk
        request.session[_TOKEN_FORMS] = dict(list(made.items())[-_TOKEN_FORMS_KEPT:])


@login_required_for_changes
@require_http_methods(["GET", "HEAD", "POST"])
@requires_recent_password
@never_cache
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Asks first, as revoking a key does: the scripts that use a token stop working at once."""
    token = get_object_or_404(selectors.tokens_of(request.user), pk=pk)
    if request.method != "POST":
        return render(request, "keys/token_revoke.html", {"token": token})
    if tokens.revoke_token(token=token, actor=request.user, origin=Origin.from_request(request)):
        messages.success(
            request, gettext("The token “%(name)s” is revoked; it no longer works.") % {"name": token.name}
        )
    else:  # sent from a page that was out of date: another tab (or an administrator) revoked it first
        messages.info(
            request, gettext("The token “%(name)s” was already revoked; it no longer works.") % {"name": token.name}
        )
    return redirect("tokens")


@login_required_for_changes
@sensitive_post_parameters("password")
@require_http_methods(["GET", "HEAD", "POST"])
@never_cache
def confirm_password(request: HttpRequest) -> HttpResponse:
    """The interstitial before a key change when the password is not recent: confirm, then go ahead."""
    form = ConfirmPasswordForm(request, data=request.POST if request.method == "POST" else None)
    if form.is_valid():
        mark_password_confirmed(request)
        pending = pending_change(request)
        record_event(
            action=AuditEvent.Action.LOGIN,
            outcome=AuditEvent.Outcome.SUCCESS,
            actor=request.user,
            subject=request.user,
            origin=Origin.from_request(request),
            reason="password_confirmed",
            detail=f"before {pending['path']}" if pending else "",
        )
        return resume_pending_change(request) or redirect("keys:list")
    context = {"form": form, "pending": pending_change(request), "settings_minutes": settings.KEYS_REAUTH_MINUTES}
    if form.is_bound:
        # Wrong passwords here count toward the log-in lock-out: warn as the log-in page does.
        context["tries_left"] = tries_left(request.user.get_username())
        context["lockout_minutes"] = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/confirm_password.html", context)


class PortalLoginView(oidc.LoginView):
    """The log-in page (with OIDC's button, keys.oidc), which from the third failure for a name says how
    many tries are left."""

    redirect_authenticated_user = True
    http_method_names = ["get", "head", "post"]
    authentication_form = PortalAuthenticationForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # The proxy vouched for this person, but their account is not active: no password of theirs would help.
        context["sso_account_inactive"] = getattr(self.request, SSO_ACCOUNT_INACTIVE, False)
        # The name as the form cleaned it (" alice" is alice), as the lock-out counts it; none when the form refused
        # it (a private key pasted as the name).
        form = context["form"]
        typed = form.cleaned_data.get("username", "") if self.request.method == "POST" else ""
        # A deactivated account's right password is not a failure: no tries are counted, none are left to tell.
        if typed and not form.has_error(NON_FIELD_ERRORS, "inactive"):
            context["tries_left"] = tries_left(typed)
            context["lockout_minutes"] = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
        return context


# The probes read and change nothing, and a client sends no cookie: another method is told 405, not (by the CSRF
# check, which runs first) that its page is out of date.
@csrf_exempt
@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers, the shared cache keeps what it is given, and a reconcile
    pass succeeded lately. 503 names each part that failed. NSML itself is not asked (the reconciler is)."""
    findings = readiness.check_all()
    failed = [name for name, finding in findings.items() if finding]
    if failed:  # the log says which part, as the body does, and what its error said
        logger.warning("readyz: not ready: %s", "; ".join(findings[name].for_the_log() for name in failed))
    checks = {name: finding.reason or "ok" for name, finding in findings.items()}
    body = {"status": "fail" if failed else "ok", "failed": failed, "checks": checks}
    return _probe_answer(JsonResponse(body, status=503 if failed else 200))


@csrf_exempt
@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with readiness.database_deadline(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        # A probe reads the status; the JSON says which part, as /readyz does. The traceback is not needed.
        logger.warning("healthz: the database did not answer")
        return _probe_answer(JsonResponse({"status": "fail", "failed": ["database"]}, status=503))
    return JsonResponse({"status": "ok"})


def _probe_answer(response: JsonResponse) -> JsonResponse:
    """A probe's 503 is logged once, as the WARNING above that says why; not also as Django's ERROR "Service
    Unavailable" (django.utils.log.log_response skips a response marked logged), at every probe of a load balancer
    that asks every few seconds."""
    response._has_been_logged = True
    return response
