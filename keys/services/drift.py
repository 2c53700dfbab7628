"""Drift between NSML and the portal (a report), and the keys NSML holds that no member registered here."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from keys import selectors
from keys.audit import Origin, record_event
from keys.models import AuditEvent, RegisteredKey, UnmanagedKey
from keys.services.failures import RevocationFailed, record_upstream_failure, upstream_fields
from keys.services.revocation import revoke_failure_message
from keys.upstream import lookup_time, nsml_client, wait_used_up
from nsml.client import Failure, NsmlClient, NsmlError, UpstreamKey

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome


@dataclass
class Drift:
    """How NSML and the portal disagree: keys only NSML has, active keys NSML lacks, and active keys NSML holds
    for deactivated members (which a pass revokes, with KEYS_REVOKE_ON_DEACTIVATE). Of the keys only NSML has,
    those a member's failed submission sent are `attachable` (a pass makes each that member's active key), the
    rest `unmanaged`."""

    unmanaged: list[UpstreamKey] = field(default_factory=list)
    missing: list[RegisteredKey] = field(default_factory=list)
    departed: list[RegisteredKey] = field(default_factory=list)
    attachable: list[RegisteredKey] = field(default_factory=list)
    # Keys still pending or being revoked: no drift, but not settled either (a pass may activate or revoke them).
    unsettled: int = 0

    def __bool__(self) -> bool:
        return bool(self.unmanaged or self.missing or self.departed or self.attachable)


def find_drift(client: NsmlClient | None = None) -> Drift:
    """What a reconcile pass would find, without changing anything (`nsml_sync` without --apply)."""
    upstream, _reply = (client or nsml_client(background=True)).list_keys()
    live = RegisteredKey.objects.filter(status__in=RegisteredKey.LIVE_STATUSES).select_related("owner")
    known = {(key.title, key.nsml_name): key for key in live}
    held = {(item.title, item.name) for item in upstream}
    strangers = [item for item in upstream if (item.title, item.name) not in known]
    submissions = _failed_submissions_of_active_members(strangers)
    return Drift(
        unmanaged=[item for item in strangers if (item.title, item.name) not in submissions],
        attachable=list(submissions.values()),
        missing=[key for pair, key in known.items() if pair not in held and key.is_active],
        departed=[
            key
            for pair, key in known.items()
            if settings.KEYS_REVOKE_ON_DEACTIVATE and pair in held and key.is_active and not key.owner.is_active
        ],
        unsettled=sum(key.is_settling for key in live),
    )


def _failed_submissions_of_active_members(items: list[UpstreamKey]) -> dict[tuple[str, str], RegisteredKey]:
    """For each of these keys, the latest failed submission that sent it, where its member is active: what a
    pass attaches (keys.services.reconcile._attach) rather than records as unmanaged."""
    pairs = {(item.title, item.name) for item in items}
    if not pairs:
        return {}
    names = sorted({name for _, name in pairs})
    found: dict[tuple[str, str], RegisteredKey] = {}
    for start in range(0, len(names), _NAMES_PER_QUERY):
        failed = (
            RegisteredKey.objects.filter(
                status=RegisteredKey.Status.FAILED, nsml_name__in=names[start : start + _NAMES_PER_QUERY]
            )
            .select_related("owner")
            .order_by("-created_at", "-id")
        )
        for key in failed:
            pair = (key.title, key.nsml_name)
            if pair in pairs and pair not in found:
                found[pair] = key
    return {pair: key for pair, key in found.items() if key.owner.is_active}


_NAMES_PER_QUERY = 500  # well under SQLite's limit on a statement's parameters


def revoke_unmanaged_key(
    *, record: UnmanagedKey, actor: User, origin: Origin, client: NsmlClient | None = None, given_reason: str = ""
) -> None:
    """Delete a key NSML holds that no member registered through the portal; `given_reason`, what the
    admin wrote on the confirmation page, goes in the audit."""
    client = client or nsml_client()
    audit = {"title": record.title[:64], "fingerprint": record.fingerprint_md5}
    sent = time.monotonic()
    try:
        reply = client.delete_key(record.title, record.nsml_name)
    except NsmlError as error:
        gone = error.failure is Failure.NOT_FOUND or _gone_after(client, record, sent, error, actor, origin, audit)
        if not gone:
            event = record_upstream_failure(Action.REVOKE, actor, record.assigned_to, origin, error, audit)
            raise RevocationFailed(
                error.failure, revoke_failure_message(error), event, retry_after=error.reply.retry_after
            ) from error
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
            detail=f"reason given: {given_reason.strip()}" if given_reason.strip() else "",
            **upstream_fields(reply),
            **audit,
        )


UNMANAGED_REVOKE_UNCONFIRMED = _(
    "NSML did not confirm that the key is revoked; it may be gone already. The next reconcile pass shows it as "
    "Gone from NSML if it is, or leaves it open to revoke again."
)


def _gone_after(
    client: NsmlClient, record: UnmanagedKey, sent: float, error: NsmlError, actor: User, origin: Origin, audit: dict
) -> bool:
    """After a DELETE that failed: whether its outcome was unknown (no answer in time, a 503, or a refusal of a retry
    after an attempt whose answer was lost) and one list, as
    after a member's DELETE, no longer holds the key. When that list fails too, RevocationFailed says that it is
    not known, audited as unknown: a reconcile pass marks the key Gone from NSML if it is."""
    if not (error.failure.outcome_unknown or error.after_unknown):
        return False
    within = lookup_time(client, sent)
    try:
        held, _reply = client.list_keys(within=within)
    except NsmlError as lookup_error:
        detail = f"{error.reply.detail}; the list that confirms it failed: {lookup_error}"
        event = record_event(
            action=Action.REVOKE,
            outcome=Outcome.UNKNOWN,
            actor=actor,
            subject=record.assigned_to,
            origin=origin,
            reason="unconfirmed",
            detail=detail + wait_used_up(client, within, call="DELETE", lookup="list"),
            **upstream_fields(error.reply),
            **audit,
        )
        raise RevocationFailed(error.failure, str(UNMANAGED_REVOKE_UNCONFIRMED), event) from error
    return not any(item.title == record.title and item.name == record.nsml_name for item in held)


ASSIGN_REFUSED = _("A key of the portal already has this title or this key, so it cannot be assigned.")
ASSIGN_INACTIVE = _("%(member)s is deactivated and cannot hold a key. Reactivate the account first, or revoke the key.")


def check_assignable(record: UnmanagedKey, member: User) -> None:
    """Refuse, before anything is saved, a member who is deactivated (their keys are revoked, and a key given to
    them would stay active in NSML with nobody to manage it), or a key whose title or name a live key of the
    portal holds, so the admin's form can say so on its field; assign_unmanaged_key refuses the same."""
    if not member.is_active:
        raise ValidationError(ASSIGN_INACTIVE, code="inactive", params={"member": member.get_username()})
    if selectors.live_keys_with_title_or_name(record.title[:64], record.nsml_name):
        raise ValidationError(ASSIGN_REFUSED, code="duplicate")


def assign_unmanaged_key(*, record: UnmanagedKey, member: User, actor: User, origin: Origin) -> RegisteredKey:
    """Make a key NSML holds, which no member registered here, `member`'s active key.

    NSML's list tells only the title and the MD5 name, so that is what the member's key shows, marked
    "added outside the portal". Raises ValidationError when the member is deactivated, or a key of the portal
    already has its title.
    """
    inactive = ValidationError(ASSIGN_INACTIVE, code="inactive", params={"member": member.get_username()})
    if not member.is_active:
        raise inactive
    try:
        with transaction.atomic():
            # Read again, and held, in this transaction: an offboarding that committed since the admin's form
            # read the member has revoked their keys already, and one that commits after this sees the key.
            if not get_user_model().objects.select_for_update().filter(pk=member.pk, is_active=True).exists():
                raise inactive
            key = RegisteredKey.objects.create(
                owner=member,
                title=record.title[:64],
                fingerprint_md5=record.fingerprint_md5,
                nsml_name=record.nsml_name,
                status=RegisteredKey.Status.ACTIVE,
                source=RegisteredKey.Source.OUTSIDE,
            )
            UnmanagedKey.objects.filter(pk=record.pk).update(assigned_to=member, status=UnmanagedKey.Status.ASSIGNED)
            record_event(
                action=Action.ASSIGN,
                outcome=Outcome.SUCCESS,
                actor=actor,
                subject=member,
                origin=origin,
                registered_key=key,
                title=record.title[:64],
                fingerprint=record.fingerprint_md5,
            )
    except IntegrityError:
        raise ValidationError(ASSIGN_REFUSED, code="duplicate") from None
    return key
