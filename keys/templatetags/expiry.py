"""`{% expiry key %}`: when a key expires, in words ("in 12 days"), with the exact time on hover and focus."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext

from keys.services import lifetimes

register = template.Library()

SOON = timedelta(days=7)


# A simple tag, not an inclusion tag: a member's list shows it on every row, and a template of its own (a context and
# a render each time) made it the dearest part of a row.
@register.simple_tag
def expiry(key) -> SafeString:
    if key.expires_at is None:
        return format_html('<span class="muted">{}</span>', gettext("never"))
    now = timezone.now()
    days = (lifetimes.local_day(key.expires_at) - lifetimes.local_today()).days
    past = key.expires_at <= now
    soon = not past and key.expires_at <= now + SOON
    if past:
        words = gettext("expired")
    elif days == 0:
        words = gettext("today")
    elif days == 1:
        words = gettext("tomorrow")
    else:
        words = ngettext("in %(days)d day", "in %(days)d days", days) % {"days": days}
    local = timezone.localtime(key.expires_at, timezone.get_default_timezone())
    exact = f"{local:%Y-%m-%d %H:%M:%S} ({settings.TIME_ZONE})"
    return format_html(
        '<time class="expiry{}" datetime="{}" title="{}" data-exact="{}" tabindex="0">{}</time>',
        " soon" if soon else " past" if past else "",
        local.isoformat(timespec="seconds"),
        exact,
        exact,
        format_html("<strong>{}</strong>", words) if soon else words,
    )
