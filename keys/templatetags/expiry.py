"""`{% expiry key %}`: when a key expires, in words ("in 12 days"), with the exact time on hover and focus."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from keys.services import lifetimes

register = template.Library()

SOON = timedelta(days=7)


@register.inclusion_tag("keys/_expiry.html")
def expiry(key) -> dict:
    if key.expires_at is None:
        return {"never": True}
    now = timezone.now()
    days = (lifetimes.local_day(key.expires_at) - lifetimes.local_today()).days
    if key.expires_at <= now:
        words = gettext("expired")
    elif days == 0:
        words = gettext("today")
    elif days == 1:
        words = gettext("tomorrow")
    else:
        words = ngettext("in %(days)d day", "in %(days)d days", days) % {"days": days}
    local = timezone.localtime(key.expires_at, timezone.get_default_timezone())
    return {
        "never": False,
        "words": words,
        "iso": local.isoformat(timespec="seconds"),
        "exact": f"{local:%Y-%m-%d %H:%M:%S} ({settings.TIME_ZONE})",
        "soon": now < key.expires_at <= now + SOON,
        "past": key.expires_at <= now,
    }
