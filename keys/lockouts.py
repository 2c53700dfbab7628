"""Log-in lock-outs as an admin sees them: how many recent failures a name has, and unlocking it (audited).

django-axes counts the failures (keys.auth); this module only reads its counts and resets them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.utils import timezone

from keys.audit import Origin, record_event
from keys.models import AuditEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def recent_failures(username: str) -> int:
    """Failed log-ins for `username` that still count towards a lock-out."""
    attempts = AccessAttempt.objects.filter(username=username)
    cool_off = get_cool_off()
    if cool_off is not None:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


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
