"""Reads that several places share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from keys.models import ReconcilePass, RegisteredKey, UnmanagedKey


def keys_of(user) -> QuerySet[RegisteredKey]:
    """A member's keys, newest first: the only keys a member's pages may show."""
    return RegisteredKey.objects.filter(owner=user)


def active_keys_of(user) -> QuerySet[RegisteredKey]:
    return keys_of(user).filter(status=RegisteredKey.Status.ACTIVE).select_related("owner")


def active_titles_of(user) -> set[str]:
    return set(active_keys_of(user).values_list("title", flat=True))


def live_keys_with_title_or_name(title: str, nsml_name: str) -> list[RegisteredKey]:
    """The live keys with this title or this MD5 name, in one query: at most one of each (the unique
    constraints), so at most two rows."""
    live = RegisteredKey.objects.filter(status__in=RegisteredKey.LIVE_STATUSES)
    return list(live.filter(Q(title=title) | Q(nsml_name=nsml_name)).only("owner_id", "status", "title", "nsml_name"))


def active_keys(*, owners: QuerySet) -> QuerySet[RegisteredKey]:
    """The active keys of several members (an admin's offboarding of a selection)."""
    return RegisteredKey.objects.filter(owner__in=owners, status=RegisteredKey.Status.ACTIVE).select_related("owner")


@dataclass(frozen=True)
class Attention:
    """What an admin should look at: keys stuck waiting for NSML, open unmanaged keys, the last pass."""

    stuck_pending: int
    stuck_revoking: int
    open_unmanaged: int
    last_pass: ReconcilePass | None


def attention() -> Attention:
    stuck_before = timezone.now() - timedelta(seconds=settings.NSML_PENDING_GRACE_SECONDS)
    stuck = RegisteredKey.objects.filter(status_changed_at__lt=stuck_before)
    return Attention(
        stuck_pending=stuck.filter(status=RegisteredKey.Status.PENDING).count(),
        stuck_revoking=stuck.filter(status=RegisteredKey.Status.REVOKING).count(),
        open_unmanaged=UnmanagedKey.objects.filter(status=UnmanagedKey.Status.OPEN).count(),
        last_pass=ReconcilePass.objects.first(),
    )


def key_counts_by_status() -> dict[str, int]:
    """How many keys are in each state, every state named (zero included): one GROUP BY."""
    counts = dict.fromkeys(RegisteredKey.Status.values, 0)
    rows = RegisteredKey.objects.order_by().values_list("status").annotate(count=Count("id"))
    counts.update(dict(rows))
    return counts


def last_successful_reconcile() -> datetime | None:
    """When the newest successful reconcile pass finished; None when none has."""
    return (
        ReconcilePass.objects.filter(succeeded=True, finished_at__isnull=False)
        .order_by("-started_at")
        .values_list("finished_at", flat=True)
        .first()
    )
