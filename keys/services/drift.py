"""Drift between NSML and the portal, and the keys NSML holds that no member registered here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from keys.audit import Origin, record_event
from keys.models import AuditEvent, RegisteredKey, UnmanagedKey
from keys.services.failures import RevocationFailed, record_upstream_failure, upstream_fields
from keys.services.revocation import mark_revoked, revoke_failure_message
from keys.upstream import nsml_client
from nsml.client import Failure, NsmlClient, NsmlError, UpstreamKey

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome


@dataclass
class Drift:
    """How NSML and the portal disagree: keys only NSML has, and active keys NSML lacks."""

    unmanaged: list[UpstreamKey] = field(default_factory=list)
    missing: list[RegisteredKey] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.unmanaged or self.missing)


def find_drift(client: NsmlClient | None = None) -> Drift:
    upstream, _reply = (client or nsml_client()).list_keys()
    active = {
        (key.title, key.nsml_name): key for key in RegisteredKey.objects.filter(status=RegisteredKey.Status.ACTIVE)
    }
    held = {(item.title, item.name) for item in upstream}
    return Drift(
        unmanaged=[item for item in upstream if (item.title, item.name) not in active],
        missing=[key for pair, key in active.items() if pair not in held],
    )


def repair_drift(drift: Drift, *, origin: Origin) -> None:
    """Mark missing keys revoked and record unmanaged ones for an admin; safe to repeat."""
    for key in drift.missing:
        mark_revoked(
            key, actor=None, origin=origin, reason="missing_upstream", note="NSML no longer had this key", reply=None
        )
    now = timezone.now()
    seen = set()
    for item in drift.unmanaged:
        record, created = UnmanagedKey.objects.get_or_create(
            title=item.title,
            nsml_name=item.name,
            defaults={"fingerprint_md5": item.fingerprint, "nsml_create_time": item.create_time},
        )
        seen.add(record.pk)
        if created:
            record_event(
                action=Action.DRIFT,
                outcome=Outcome.SUCCESS,
                actor_username=origin.user_agent,
                origin=origin,
                title=item.title[:64],
                fingerprint=item.fingerprint,
                reason="unmanaged",
                detail=f"NSML holds key {item.name}, which the portal did not register",
            )
        else:
            UnmanagedKey.objects.filter(pk=record.pk).update(last_seen=now)
    UnmanagedKey.objects.filter(status=UnmanagedKey.Status.OPEN).exclude(pk__in=seen).update(
        status=UnmanagedKey.Status.GONE
    )


def revoke_unmanaged_key(
    *, record: UnmanagedKey, actor: User, origin: Origin, client: NsmlClient | None = None
) -> None:
    """Delete a key NSML holds that no member registered through the portal."""
    client = client or nsml_client()
    audit = {"title": record.title[:64], "fingerprint": record.fingerprint_md5}
    try:
        reply = client.delete_key(record.title, record.nsml_name)
    except NsmlError as error:
        if error.failure is not Failure.NOT_FOUND:
            event = record_upstream_failure(Action.REVOKE, actor, record.assigned_to, origin, error, audit)
            raise RevocationFailed(error.failure, revoke_failure_message(error), event) from error
        reply = error.reply
    with transaction.atomic():
        UnmanagedKey.objects.filter(pk=record.pk).update(status=UnmanagedKey.Status.REVOKED)
        record_event(
            action=Action.REVOKE,
            outcome=Outcome.SUCCESS,
            actor=actor,
            subject=record.assigned_to,
            origin=origin,
            reason="unmanaged",
            **upstream_fields(reply),
            **audit,
        )


def assign_unmanaged_key(*, record: UnmanagedKey, member: User, actor: User, origin: Origin) -> None:
    """Record which member an unmanaged key belongs to, so it has an owner to ask about it."""
    with transaction.atomic():
        UnmanagedKey.objects.filter(pk=record.pk).update(assigned_to=member)
        record_event(
            action=Action.ASSIGN,
            outcome=Outcome.SUCCESS,
            actor=actor,
            subject=member,
            origin=origin,
            title=record.title[:64],
            fingerprint=record.fingerprint_md5,
        )
