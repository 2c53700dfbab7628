"""The admin's side of key lifetimes: the *Set expiry* action (with a confirmation page) and the expiry filters.

Kept apart from keys/admin.py, which only names these in RegisteredKeyAdmin.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from keys import services
from keys.audit import Origin
from keys.models import RegisteredKey
from keys.pagination import LISTED_ON_A_CONFIRMATION
from keys.services import lifetimes


class ExpiryFilter(admin.SimpleListFilter):
    title = _("expiry")
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [("7d", _("expires within 7 days")), ("expired", _("expired"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "7d":
            return queryset.filter(expires_at__gt=now, expires_at__lte=now + timedelta(days=7))
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        return queryset


class SetExpiryForm(forms.Form):
    expires_at = forms.DateField(
        label=_("Expires at the end of"),
        required=False,
        help_text=_("A day in the portal's time zone, from today on; leave it empty for keys that never expire."),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


class SetExpiryMixin:
    """*Set expiry* on selected keys: a confirmation page with the date, then one audit row per key changed."""

    @admin.action(description=_("Set expiry of selected keys"), permissions=["change"])
    def set_expiry(self, request, queryset):
        keys = queryset.filter(status__in=RegisteredKey.LIVE_STATUSES).select_related("owner")
        applying = "apply" in request.POST
        form = SetExpiryForm(request.POST if applying else None, initial={"expires_at": lifetimes.default_expiry_day()})
        if applying and form.is_valid():
            day = form.cleaned_data["expires_at"]
            selected = list(keys)
            try:
                changed = services.set_expiry(
                    keys=selected, day=day, actor=request.user, origin=Origin.from_request(request)
                )
            except ValidationError as refusal:
                form.add_error(None, refusal)
            else:
                self._report(request, selected, changed, None if day is None else lifetimes.end_of_day(day))
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Set expiry"),
            "opts": self.model._meta,
            "keys": keys[:LISTED_ON_A_CONFIRMATION],
            "more_keys": max(0, keys.count() - LISTED_ON_A_CONFIRMATION),
            "queryset": queryset,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "time_zone": lifetimes.end_of_day(lifetimes.local_today()).tzname(),
        }
        return TemplateResponse(request, "admin/keys/set_expiry.html", context)

    def _report(self, request, selected: list[RegisteredKey], changed: list[RegisteredKey], expires_at) -> None:
        # Keys that already had the day are said to have it: "Expiry set on 0 keys." read as if nothing worked.
        already = sum(1 for key in selected if key not in changed and key.expires_at == expires_at)
        if changed or not already:
            count = len(changed)
            self.message_user(
                request, ngettext("Expiry set on %d key.", "Expiry set on %d keys.", count) % count, messages.SUCCESS
            )
        if already:
            self.message_user(
                request,
                ngettext("%d key already had this expiry.", "%d keys already had this expiry.", already) % already,
                messages.INFO,
            )
