from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from keys import member_messages, readiness, selectors, services
from keys.audit import Origin, record_event
from keys.forms import ConfirmPasswordForm, KeyForm
from keys.models import AuditEvent
from keys.ratelimit import submission_rate_limited
from keys.reauth import mark_password_confirmed, pending_change, requires_recent_password, resume_pending_change
from keys.suggest import suggest_title


@login_required
def key_list(request: HttpRequest) -> HttpResponse:
    keys = selectors.keys_of(request.user)
    return render(request, "keys/key_list.html", {"keys": keys})


@login_required
@sensitive_post_parameters("key")
@requires_recent_password
@submission_rate_limited
def key_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = KeyForm(request.POST)
    else:
        suggestion = suggest_title(request.user.get_username(), taken=selectors.active_titles_of(request.user))
        form = KeyForm(initial={"title": suggestion})
    if form.is_valid():
        try:
            key = services.register_key(
                owner=request.user,
                title=form.cleaned_data["title"],
                key_text=form.cleaned_data["key"],
                origin=Origin.from_request(request),
            )
        except ValidationError as refusal:
            form.add_error(None, refusal)
        except services.RegistrationFailed as failure:
            form.add_error(failure.field, failure.message)
        else:
            if key.is_active:
                messages.success(request, gettext(member_messages.REGISTERED_MESSAGE) % {"title": key.title})
            else:  # NSML's answer is unknown: the key's page shows it as pending until it is settled
                messages.info(request, gettext(member_messages.PENDING_NOTICE) % {"title": key.title})
            return redirect("keys:detail", pk=key.pk)
    return render(request, "keys/key_form.html", {"form": form})


@login_required
def key_detail(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(selectors.keys_of(request.user), pk=pk)
    return render(request, "keys/key_detail.html", {"key": key})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@requires_recent_password
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
    return render(request, "keys/key_revoke.html", {"key": key})


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "HEAD", "POST"])
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
    return render(request, "registration/confirm_password.html", context)


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers, the shared cache keeps what it is given, and a reconcile
    pass succeeded lately. 503 names each part that failed. NSML itself is not asked (the reconciler is)."""
    checks = readiness.check_all()
    failed = [name for name, problem in checks.items() if problem]
    body = {"status": "fail" if failed else "ok", "failed": failed, "checks": {k: v or "ok" for k, v in checks.items()}}
    return JsonResponse(body, status=503 if failed else 200)


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
