"""Reads that several places share."""

from __future__ import annotations

from django.db.models import QuerySet

from keys.models import RegisteredKey


def keys_of(user) -> QuerySet[RegisteredKey]:
    """A member's keys, newest first: the only keys a member's pages may show."""
    return RegisteredKey.objects.filter(owner=user)


def active_keys_of(user) -> QuerySet[RegisteredKey]:
    return keys_of(user).filter(status=RegisteredKey.Status.ACTIVE).select_related("owner")


def active_titles_of(user) -> set[str]:
    return set(active_keys_of(user).values_list("title", flat=True))


def active_key_with_title(title: str) -> RegisteredKey | None:
    return RegisteredKey.objects.filter(status=RegisteredKey.Status.ACTIVE, title=title).first()


def active_key_with_fingerprint(fingerprint_sha256: str) -> RegisteredKey | None:
    return RegisteredKey.objects.filter(
        status=RegisteredKey.Status.ACTIVE, fingerprint_sha256=fingerprint_sha256
    ).first()


def active_keys(*, owners: QuerySet) -> QuerySet[RegisteredKey]:
    """The active keys of several members (an admin's offboarding of a selection)."""
    return RegisteredKey.objects.filter(owner__in=owners, status=RegisteredKey.Status.ACTIVE).select_related("owner")
