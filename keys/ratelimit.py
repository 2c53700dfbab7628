"""How often a member's key submissions may reach NSML: KEYS_SUBMIT_RATE (e.g. 10/m), counted per member
in the shared cache (CACHE_URL), so the limit holds across every process that serves the portal.

Only a submission that passes the portal's checks and goes to NSML is counted: a refusal, a typo or a
duplicate costs nothing. Counting is django-ratelimit's (fixed windows, atomic increments in the cache):
one increment per submission, taken just before the key is stored, and given back if the database
refuses it as a duplicate. Taking costs two cache round trips (django-ratelimit's add, then the
increment, which portal.cache makes one step), where a check and a later spend took five.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django_ratelimit.core import _get_window, _make_cache_key, _split_rate, get_usage

from keys.audit import Origin, record_event
from keys.models import AuditEvent
from keys.services import SubmissionLimited

logger = logging.getLogger("keys.ratelimit")

GROUP = "keys.submit"


def _member(group: str, request: HttpRequest) -> str:
    return str(request.user.pk)


class SubmissionQuota:
    """One member's KEYS_SUBMIT_RATE, as `register_key` uses it: take one before NSML is asked, give it back
    when the submission does not reach NSML after all."""

    def __init__(self, request: HttpRequest, origin: Origin | None = None) -> None:
        self.request = request
        self.origin = origin  # where the audit says a refused submission came from (the API names its token)
        self._taken: str | None = None  # the cache key of the count this quota added to, until given back

    def take(self) -> None:
        """Count one submission; raises SubmissionLimited (with the seconds to wait) when it is one too many."""
        usage = get_usage(
            self.request, group=GROUP, key=_member, rate=settings.KEYS_SUBMIT_RATE, method="POST", increment=True
        )
        if usage is None:
            return
        if usage["count"] > usage["limit"]:
            retry_after = max(int(usage["time_left"]), 1)
            self._audit_once(retry_after)
            raise SubmissionLimited(retry_after)
        self._taken = self._cache_key()

    def give_back(self) -> None:
        """The submission taken did not go to NSML (the database refused it): it costs nothing."""
        if self._taken is None:
            return
        try:
            _cache().decr(self._taken)
        except ValueError:  # the window ended in between: nothing left to give back
            pass
        self._taken = None

    def _cache_key(self) -> str:
        # django-ratelimit's own key for this member's current window (its helpers; the version is pinned).
        rate = settings.KEYS_SUBMIT_RATE
        _limit, period = _split_rate(rate)
        member = _member(GROUP, self.request)
        return _make_cache_key(GROUP, _get_window(member, period), rate, member, "POST")

    def _audit_once(self, retry_after: int) -> None:
        # One audit row per window, however hard the member keeps trying: the first refusal adds the flag.
        if not _cache().add(f"{GROUP}.audited.{self.request.user.pk}", True, retry_after):
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


def _cache():
    return caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
