"""How often a member's key submissions may reach NSML: KEYS_SUBMIT_RATE (e.g. 10/m), counted per member
in the shared cache (CACHE_URL), so the limit holds across every process that serves the portal.

Only a submission that passes the portal's checks and goes to NSML is counted: a refusal, a typo or a
duplicate costs nothing. Counting is django-ratelimit's (fixed windows, atomic increments in the cache).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from keys.audit import Origin, record_event
from keys.models import AuditEvent
from keys.services import SubmissionLimited

logger = logging.getLogger("keys.ratelimit")

GROUP = "keys.submit"


def _member(group: str, request: HttpRequest) -> str:
    return str(request.user.pk)


class SubmissionQuota:
    """One member's KEYS_SUBMIT_RATE, as `register_key` uses it: check before, spend when NSML is asked."""

    def __init__(self, request: HttpRequest, origin: Origin | None = None) -> None:
        self.request = request
        self.origin = origin  # where the audit says a refused submission came from (the API names its token)

    def check(self) -> None:
        """Raises SubmissionLimited (with the seconds to wait) when no submission may reach NSML now."""
        usage = self._usage(increment=False)
        if usage is None or usage["count"] < usage["limit"]:
            return
        retry_after = max(int(usage["time_left"]), 1)
        self._audit_once(retry_after)
        raise SubmissionLimited(retry_after)

    def spend(self) -> None:
        self._usage(increment=True)

    def _usage(self, *, increment: bool) -> dict | None:
        return get_usage(
            self.request, group=GROUP, key=_member, rate=settings.KEYS_SUBMIT_RATE, method="POST", increment=increment
        )

    def _audit_once(self, retry_after: int) -> None:
        # One audit row per window, however hard the member keeps trying: the first refusal adds the flag.
        cache = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
        if not cache.add(f"{GROUP}.audited.{self.request.user.pk}", True, retry_after):
            return
        logger.warning(
            "member %s passed the submission rate %s", self.request.user.get_username(), settings.KEYS_SUBMIT_RATE
        )
        record_event(
            action=AuditEvent.Action.REGISTER,
            outcome=AuditEvent.Outcome.REFUSED,
            actor=self.request.user,
            subject=self.request.user,
            origin=self.origin or Origin.from_request(self.request),
            reason="rate_limited",
            detail=f"more than {settings.KEYS_SUBMIT_RATE} submissions to NSML",
        )
