"""What a member is told about the log-in lock-out (django-axes): how many tries are left before it,
and until when it holds. The counting itself is axes'."""

from __future__ import annotations

from datetime import datetime

from axes.helpers import get_client_ip_address, get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

# From this many failures for a name on, the log-in page says how many tries are left.
WARN_FROM_FAILURES = 3


def _recent(query: Q):
    return AccessAttempt.objects.filter(query, attempt_time__gt=timezone.now() - settings.AXES_COOLOFF_TIME)


def tries_left(username: str) -> int | None:
    """Tries left for `username` before the lock-out, once it has failed WARN_FROM_FAILURES times; else None."""
    if not username:
        return None
    failures = _recent(Q(username=username)).aggregate(total=Sum("failures_since_start"))["total"] or 0
    if failures < WARN_FROM_FAILURES:
        return None
    return max(settings.AXES_FAILURE_LIMIT - failures, 0)


def locked_until(username: str | None, ip_address: str | None) -> datetime | None:
    """When the lock-out on this name or address ends: the last counted failure plus the cool-off time."""
    query = Q(pk__in=[])
    if username:
        query |= Q(username=username)
    if ip_address:
        query |= Q(ip_address=ip_address)
    last = _recent(query).aggregate(last=Max("attempt_time"))["last"]
    return last + settings.AXES_COOLOFF_TIME if last else None


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """The lock-out page (AXES_LOCKOUT_CALLABLE): what happened, until when (local time), and a way back."""
    username = get_client_username(request, credentials) or ""
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "username": username,
        "until": locked_until(username, get_client_ip_address(request)),
        "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
    return render(request, "lockout.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
