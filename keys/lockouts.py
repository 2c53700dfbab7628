"""The log-in lock-out as people see it: how many tries a name has left (the log-in page), until when a
lock-out holds (the lock-out page), and, for admins, a name's recent failures and unlocking it (audited).

django-axes counts the failures (keys.auth); this module only reads its counts and resets them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from axes.helpers import get_client_ip_address, get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Max, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from keys.audit import Origin, record_event
from keys.login_names import recorded_name
from keys.models import AuditEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# From this many failures for a name on, the log-in page says how many tries are left: sooner when the limit is
# lower, so that the warning comes while two tries are still left, not with the lock-out.
WARN_FROM_FAILURES = 3
WARN_WITH_TRIES_LEFT = 2
NUL = "\x00"


def recent_failures(username: str) -> int:
    """Failed log-ins for `username` that still count towards a lock-out."""
    if NUL in username:
        return 0  # no stored name holds one (PostgreSQL refuses NUL in text): asking would fail, not answer
    attempts = AccessAttempt.objects.filter(username=username)
    cool_off = get_cool_off()
    if cool_off is not None:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def tries_left(typed: str) -> int | None:
    """Tries left for the name `typed` before the lock-out, once it has failed WARN_FROM_FAILURES times (or has
    WARN_WITH_TRIES_LEFT tries left, under a lower limit); else None."""
    if not typed:
        return None
    failures = recent_failures(recorded_name(typed))
    left = settings.AXES_FAILURE_LIMIT - failures
    if failures < 1 or (failures < WARN_FROM_FAILURES and left > WARN_WITH_TRIES_LEFT):
        return None
    return max(left, 0)


def locked_until(username: str | None, ip_address: str | None) -> datetime | None:
    """When the lock-out on this name or address ends: the last counted failure plus the cool-off time."""
    query = Q(pk__in=[])
    if username and NUL not in username:
        query |= Q(username=username)
    if ip_address:
        query |= Q(ip_address=ip_address)
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    last = AccessAttempt.objects.filter(query, attempt_time__gt=since).aggregate(last=Max("attempt_time"))["last"]
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


def is_locked_out(failures: int) -> bool:
    return failures >= settings.AXES_FAILURE_LIMIT


def unlock(*, username: str = "", ip: str | None = None, actor: User, origin: Origin) -> int:
    """Forget the failed log-ins of `username` and, when given, of address `ip`: the lock-out ends now.

    Returns how many failure records were removed. Audited, with the unlocked user as subject.
    """
    if not username and not ip:
        return 0  # axes' reset() with neither would forget every failure of everyone
    removed = reset(username=username or None, ip=ip or None, ip_or_username=bool(username and ip))
    subject = get_user_model()._default_manager.filter(username=username).first() if username else None
    record_event(
        action=AuditEvent.Action.UNLOCK,
        outcome=AuditEvent.Outcome.SUCCESS,
        actor=actor,
        subject=subject,
        origin=origin,
        detail=f"username={username or '-'} address={ip or '-'}; {removed} failure record(s) removed",
    )
    return removed
