"""How often a member's key submissions may reach NSML: KEYS_SUBMIT_RATE (e.g. 10/m), counted per member
in the shared cache (CACHE_URL), so the limit holds across every process that serves the portal.

Only a submission that passes the portal's checks and goes to NSML is counted: a refusal, a typo or a
duplicate costs nothing. The count is django-ratelimit's (its fixed windows and cache keys, atomic
increments in the cache): one increment per submission, taken just before the key is stored, and given
back if the database refuses it as a duplicate (or cannot be reached to store it). Taking costs one cache
round trip once a window has begun: the increment is tried first (portal.cache makes it one step), and the
window's first count is added only when there was nothing to increment. django-ratelimit's `get_usage` asks
in the other order, add then increment, which costs two on every submission.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key, _split_rate

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
        # django-ratelimit's own key and window for this member (its helpers; the version is pinned).
        rate = settings.KEYS_SUBMIT_RATE
        limit, period = _split_rate(rate)
        member = _member(GROUP, self.request)
        window = _get_window(member, period)
        cache_key = _make_cache_key(GROUP, window, rate, member, "POST")
        if _count(cache_key, period) > limit:
            retry_after = max(window - int(time.time()), 1)
            self._audit_once(retry_after)
            raise SubmissionLimited(retry_after)
        self._taken = cache_key

    def give_back(self) -> None:
        """The submission taken did not go to NSML (the database refused it, or was away): it costs nothing."""
        if self._taken is None:
            return
        try:
            _cache().decr(self._taken)
        except ValueError:  # the window ended in between: nothing left to give back
            pass
        self._taken = None

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


def _count(cache_key: str, period: int) -> int:
    """One more in the window's count: the count after it."""
    cache = _cache()
    try:
        return cache.incr(cache_key)
    except ValueError:  # the window's first submission
        pass
    if cache.add(cache_key, 1, period + EXPIRATION_FUDGE):
        return 1
    return cache.incr(cache_key)  # another submission began the window in between


def _cache():
    return caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
