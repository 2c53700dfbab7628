"""How often a member may submit a key: KEYS_SUBMIT_RATE (e.g. 10/m), counted per member in the
shared cache (CACHE_URL), so the limit holds across every process that serves the portal.

Counting is django-ratelimit's (fixed windows, atomic increments in the cache); the answer is ours:
a 429 page in the member's language, with Retry-After.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import get_usage

from keys.audit import Origin, record_event
from keys.models import AuditEvent
from portal import metrics

logger = logging.getLogger("keys.ratelimit")

GROUP = "keys.submit"


def _member(group: str, request: HttpRequest) -> str:
    return str(request.user.pk)


def count_submission(request: HttpRequest) -> dict | None:
    """Count one POST by this member; django-ratelimit's usage (count, limit, should_limit, time_left)."""
    return get_usage(request, group=GROUP, key=_member, rate=settings.KEYS_SUBMIT_RATE, method="POST", increment=True)


def too_many_submissions(request: HttpRequest, retry_after: int) -> HttpResponse:
    """The 429 page: what happened, and when to try again."""
    response = render(request, "429.html", {"retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def submission_rate_limited(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer a member's POST with 429 once they pass KEYS_SUBMIT_RATE. Goes under @login_required."""

    @functools.wraps(view)
    def limited(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        usage = count_submission(request) if request.method == "POST" else None
        if usage is None or not usage["should_limit"]:
            return view(request, *args, **kwargs)
        retry_after = max(int(usage["time_left"]), 1)
        metrics.count_submission("rate_limited")
        logger.warning("member %s passed the submission rate %s", request.user.get_username(), usage["limit"])
        if usage["count"] == usage["limit"] + 1:
            # One audit row per window, however hard the member keeps trying.
            record_event(
                action=AuditEvent.Action.REGISTER,
                outcome=AuditEvent.Outcome.REFUSED,
                actor=request.user,
                subject=request.user,
                origin=Origin.from_request(request),
                reason="rate_limited",
                detail=f"more than {settings.KEYS_SUBMIT_RATE} submissions",
            )
        return too_many_submissions(request, retry_after)

    return limited
