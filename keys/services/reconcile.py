"""The reconciler: one pass that makes the portal's keys the truth about NSML.

It lists NSML once, then settles `pending` keys (found: active; not found past the grace period:
failed, and the member is told), finishes `revoking` keys (gone: revoked; still held: DELETE again,
with backoff), marks active keys NSML lost, revokes those of deactivated members, attaches keys NSML
holds to the member whose failed submission they match, and records the rest as unmanaged. Every change,
and every DELETE no list showed to have worked (refused, still listed, no list to tell), is audited with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_lazy, ngettext

from keys import member_messages
from keys.audit import Origin, record_event
from keys.audit_display import detail_shown
from keys.locks import reconcile_lock
from keys.models import AuditEvent, ReconcilePass, RegisteredKey, UnmanagedKey
from keys.services import states
from keys.services.failures import upstream_fields
from keys.upstream import NsmlWait, nsml_client
from nsml.client import Failure, NsmlClient, NsmlError, Reply, UpstreamKey
from portal import metrics

logger = logging.getLogger("keys.reconcile")

Status = RegisteredKey.Status
Outcome = AuditEvent.Outcome


class ReconcileBusy(Exception):
    """Another process is running a pass right now."""


@dataclass
class PassReport:
    """What one pass changed, by kind: each entry is "title (owner)".

    Settling the portal's own work (`activated`, `failed`: its submissions, as NSML's list answered them; `revoked`:
    its revocations, confirmed) is routine. Drift is where NSML and the portal disagreed: `missing` (NSML lost an
    active key), `attached` and `unmanaged` (NSML holds a key the portal had no live record of), `departed` (an
    active key NSML holds for a member deactivated without its revocation: a directory sync, a queryset update)."""

    activated: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    departed: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    open_unmanaged: int = 0
    # Keys still pending or being revoked when the pass ended: later passes settle them.
    unsettled: int = 0
    # Active keys NSML's list lacked, more than RECONCILE_MISSING_LIMIT: none was marked revoked.
    held_missing: int = 0

    @property
    def changes(self) -> int:
        """Every key the pass changed, routine or drift (`ReconcilePass.changes`)."""
        return len(self.activated) + len(self.failed) + len(self.revoked) + self.repairs

    @property
    def repairs(self) -> int:
        """The keys the pass changed because NSML and the portal disagreed."""
        return len(self.missing) + len(self.attached) + len(self.unmanaged) + len(self.departed)

    @property
    def drift(self) -> bool:
        """NSML and the portal disagreed: something was repaired, or an unmanaged key awaits an admin, or keys
        missing from NSML were held back. Not a pass that only settled the portal's own submissions and revocations:
        that is what a pass is for, and `nsml_sync` exits 0 for it."""
        return bool(self.repairs or self.open_unmanaged or self.held_missing)

    @property
    def outcome(self) -> str:
        """The pass in one word, as `portal_reconcile_passes_total` counts it and the admin's message says it:
        drift first, then `unsettled` (keys still wait on NSML), then in_sync."""
        return "drift" if self.drift else "unsettled" if self.unsettled else "in_sync"

    def lines(self, *, most: int | None = None) -> list[str]:
        """One line per kind of change, in the active language; with `most`, each names at most that many
        keys and counts the rest (a page's message: the first pass over a large team can change thousands)."""
        return _lines(self.as_record(), most=most)

    def as_record(self) -> dict[str, list[str]]:
        """What `ReconcilePass.report` keeps: the kinds with entries (and how many missing keys were held back)."""
        record: dict = {name: list(getattr(self, name)) for name, _label in _LABELS if getattr(self, name)}
        if self.held_missing:
            record["held_missing"] = self.held_missing
        return record

    def summary(self) -> str:
        with translation.override("en"):
            return "; ".join(self.lines()) or "in sync"


_LABELS = (
    ("activated", gettext_lazy("pending keys found in NSML, now active")),
    ("failed", gettext_lazy("pending keys not in NSML after the grace period, now failed")),
    ("revoked", gettext_lazy("revocations confirmed")),
    ("missing", gettext_lazy("active keys NSML no longer holds, now revoked")),
    ("attached", gettext_lazy("keys NSML holds, attached to the member who submitted them")),
    ("unmanaged", gettext_lazy("new unmanaged keys")),
    ("departed", gettext_lazy("active keys of deactivated members, now being revoked")),
    ("retrying", gettext_lazy("revocations NSML has not confirmed yet (tried again)")),
)


# The audit's details of a DELETE a pass sent and no list confirmed (keys.audit_display translates them).
NOT_LISTED_IN_TIME = "the pass's wait for NSML ran out before the list that confirms it"
NEXT_PASS_DECIDES = "the next reconcile pass lists NSML again, and sends the DELETE again if NSML still holds the key"


# Keys named per kind of change on a page (the admin's messages, its list of passes).
TITLES_ON_A_PAGE = 10


def _lines(record: dict, *, most: int | None = None) -> list[str]:
    lines = [f"{label}: {_titles(record[name], most)}" for name, label in _LABELS if record.get(name)]
    if held := record.get("held_missing"):
        lines.append(held_back_line(held))
    return lines


def held_back_line(count: int) -> str:
    return ngettext(
        "held back: %(count)d active key is missing from NSML's list, more than RECONCILE_MISSING_LIMIT "
        "(%(limit)d), so none was marked revoked. Check NSML_API_URL and the NCP credentials; if NSML really "
        "lost them, run nsml_sync --apply --accept-missing.",
        "held back: %(count)d active keys are missing from NSML's list, more than RECONCILE_MISSING_LIMIT "
        "(%(limit)d), so none was marked revoked. Check NSML_API_URL and the NCP credentials; if NSML really "
        "lost them, run nsml_sync --apply --accept-missing.",
        count,
    ) % {"count": count, "limit": settings.RECONCILE_MISSING_LIMIT}


def _titles(titles: list[str], most: int | None) -> str:
    if most is None or len(titles) <= most:
        return ", ".join(titles)
    rest = len(titles) - most
    more = ngettext("and %(count)d more", "and %(count)d more", rest) % {"count": rest}
    return f"{', '.join(titles[:most])} {more}"


def describe_pass(record: ReconcilePass) -> str:
    """A pass's outcome in the reader's language: what it changed, or why NSML could not be listed.
    Passes recorded before the report was kept show their English summary."""
    report = record.report or {}
    if "failure" in report:
        failure = member_messages.FAILURE_NAMES.get(report["failure"], report["failure"])
        return gettext("NSML could not be listed: %(failure)s (%(detail)s)") % {
            "failure": failure,
            "detail": detail_shown(report.get("detail", "")),
        }
    if report:
        # The index's sentence ends with its own full stop: the held-back line's made "--accept-missing.."
        return "; ".join(_lines(report, most=TITLES_ON_A_PAGE)).removesuffix(".")
    if record.succeeded and record.summary in ("", "in sync"):
        return gettext("in sync")
    if record.finished_at is None and not record.summary:
        return gettext("it did not finish")
    return record.summary


def reconcile(
    *, origin: Origin, client: NsmlClient | None = None, within: float | None = None, accept_missing: bool = False
) -> PassReport:
    """Run one pass. Raises NsmlError when NSML cannot be listed (nothing changes), ReconcileBusy when
    another process holds the pass. Each pass counts in `portal_reconcile_passes_total` by its outcome
    (`PassReport.outcome`).

    `within`: the seconds its calls to NSML may take in all, for a pass someone waits for (the admin's *Check
    NSML now*): past them it sends no more DELETEs and no confirming list, and the keys still being revoked
    are left to the next pass. Without it each call has the reconciler's own timeout, however many there are.

    `accept_missing`: mark active keys NSML's list lacks revoked however many there are; otherwise more than
    RECONCILE_MISSING_LIMIT are held back (`PassReport.held_missing`), as a wrong NSML would lack them all."""
    outcome = "error"  # unless the pass ends otherwise: the database went away, a bug
    try:
        report = _locked_pass(origin, client, NsmlWait(within), accept_missing)
        outcome = report.outcome
        return report
    except ReconcileBusy:
        outcome = "busy"
        raise
    except NsmlError:
        outcome = "nsml_unavailable"
        raise
    finally:
        metrics.count_reconcile_pass(outcome)


def _locked_pass(origin: Origin, client: NsmlClient | None, wait: NsmlWait, accept_missing: bool) -> PassReport:
    with reconcile_lock() as acquired:
        if not acquired:
            raise ReconcileBusy
        record = ReconcilePass.objects.create()
        try:
            report = _run_pass(client or nsml_client(background=True), origin, wait, accept_missing)
        except NsmlError as error:
            _finish(
                record,
                succeeded=False,
                summary=f"NSML could not be listed: {error.failure} ({error.reply.detail})",
                report={"failure": str(error.failure), "detail": error.reply.detail[:500]},
            )
            raise
        _finish(record, succeeded=True, summary=report.summary(), changes=report.changes, report=report.as_record())
        return report


def _finish(record: ReconcilePass, *, succeeded: bool, summary: str, report: dict, changes: int = 0) -> None:
    ReconcilePass.objects.filter(pk=record.pk).update(
        finished_at=timezone.now(), succeeded=succeeded, summary=summary[:2000], changes=changes, report=report
    )


def _run_pass(client: NsmlClient, origin: Origin, wait: NsmlWait, accept_missing: bool = False) -> PassReport:
    listed_at = timezone.now()
    # Each row the pass writes carries this list's answer (status, trace id): what NSML said that decided it.
    held, listing = client.list_keys(within=wait.left())
    held_pairs = {(item.title, item.name) for item in held}
    report = PassReport()
    # Only keys that were in their state before the list was taken: a newer one may not be listed yet.
    settled_before = RegisteredKey.objects.filter(status_changed_at__lt=listed_at).select_related(
        "owner", "revoke_requested_by"
    )

    grace_ends = listed_at - timedelta(seconds=settings.NSML_PENDING_GRACE_SECONDS)
    departed = []  # pending keys NSML holds whose members were deactivated meanwhile: revoked, not activated
    for key in settled_before.filter(status=Status.PENDING):
        if (key.title, key.nsml_name) in held_pairs:
            if not key.owner.is_active:
                if _refuse_for_departed_member(key, origin, listing):
                    departed.append(key)
            elif states.activate(
                key,
                actor=key.owner,
                origin=origin,
                reply=listing,
                reason="found_upstream",
                detail=states.settled_by_pass(key, "found in NSML by a reconcile pass"),
                started_by=states.submitter(key),
            ):
                report.activated.append(_label(key))
        elif key.status_changed_at < grace_ends:
            detail = f"NSML did not hold the key {settings.NSML_PENDING_GRACE_SECONDS} s after it was submitted"
            failed = states.fail(
                key,
                actor=key.owner,
                origin=origin,
                outcome=AuditEvent.Outcome.FAILED,
                reason="not_found_after_grace",
                detail=states.settled_by_pass(key, detail),
                reply=listing,
                # "Add it again if you still need it" is no advice to a leaver, who can no longer log in.
                notify=key.owner.is_active,
                failure="not_held_after_grace",
            )
            if failed is not None:
                report.failed.append(_label(key))

    if settings.KEYS_REVOKE_ON_DEACTIVATE:
        # Active keys of members deactivated without their revocation (a queryset update or a directory sync, which
        # send no signal; a process stopped between the deactivation and its DELETEs): no leaver keeps a key.
        for key in settled_before.filter(status=Status.ACTIVE, owner__is_active=False):
            if (key.title, key.nsml_name) in held_pairs and _revoke_for_departed_member(key, origin):
                departed.append(key)
                report.departed.append(_label(key))

    deleted: list[tuple[RegisteredKey, Reply]] = []  # each key with NSML's answer to its DELETE
    for key in [*settled_before.filter(status=Status.REVOKING), *departed]:
        if (key.title, key.nsml_name) not in held_pairs:
            _confirm_revoked(key, origin, report, listing)
        elif wait.used_up():
            continue  # still revoking: the next pass sends its DELETE
        elif key.next_attempt_at is None or key.next_attempt_at <= listed_at:
            try:
                answer = client.delete_key(key.title, key.nsml_name, within=wait.left())
            except NsmlError as error:
                if not (error.failure is Failure.NOT_FOUND or error.failure.outcome_unknown):
                    refused = Outcome.REJECTED if error.failure is Failure.REJECTED else Outcome.FAILED
                    _retry_later(key, origin, error.reply, reason="delete_refused", outcome=refused)
                    report.retrying.append(_label(key))
                    continue
                answer = error.reply
            deleted.append((key, answer))

    # Active keys the list lacks: NSML lost them (deleted in the NCP console), unless the list itself is wrong. Found
    # by title and name alone, and only those read whole: every active key read as a model (with its owner) took
    # about 10 s at 80,000 keys, on each pass and each *Check NSML now*.
    active = settled_before.filter(status=Status.ACTIVE)
    gone = [pk for pk, *pair in active.values_list("pk", "title", "nsml_name") if tuple(pair) not in held_pairs]
    if len(gone) > settings.RECONCILE_MISSING_LIMIT and not accept_missing:
        report.held_missing, gone = len(gone), []
        with translation.override("en"):
            logger.warning("%s", held_back_line(report.held_missing))
    for key in _read_in_batches(active, gone):
        if states.mark_revoked(
            key,
            actor=None,
            origin=origin,
            reason="missing_upstream",
            note="NSML no longer had this key",
            reply=listing,
            expected=(Status.ACTIVE,),
        ):
            report.missing.append(_label(key))

    _settle_unknown_keys(held, listing, listed_at, origin, report)

    if deleted:
        _confirm_deletions(client, deleted, origin, report, wait)
    report.open_unmanaged = UnmanagedKey.objects.filter(status=UnmanagedKey.Status.OPEN).count()
    report.unsettled = RegisteredKey.objects.filter(status__in=(Status.PENDING, Status.REVOKING)).count()
    return report


def _read_in_batches(keys: QuerySet, ids: list[int], size: int = 1000) -> Iterator[RegisteredKey]:
    """The keys of `keys` with these ids, in their order, a batch per query (a query's parameters are limited)."""
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        found = keys.in_bulk(batch)
        yield from (found[pk] for pk in batch if pk in found)


def _settle_unknown_keys(
    held: list[UpstreamKey], listing: Reply, listed_at: datetime, origin: Origin, report: PassReport
) -> None:
    """Keys NSML holds that no live portal key matches: a member's failed submission, or unmanaged.

    A key that changed state since the list was taken is known too: a member who revoked it meanwhile
    left it listed, and it is not a stranger's."""
    known = Q(status__in=RegisteredKey.LIVE_STATUSES) | Q(status_changed_at__gte=listed_at)
    live = set(RegisteredKey.objects.filter(known).values_list("title", "nsml_name"))
    now = timezone.now()
    seen = set()
    for item in held:
        if (item.title, item.name) in live:
            continue
        submission = (
            RegisteredKey.objects.filter(status=Status.FAILED, title=item.title, nsml_name=item.name)
            .select_related("owner")
            .order_by("-created_at", "-id")
            .first()
        )
        if submission is not None and _attach(submission, origin, listing):
            report.attached.append(_label(submission))
            continue
        record, created = UnmanagedKey.objects.get_or_create(
            title=item.title,
            nsml_name=item.name,
            defaults={"fingerprint_md5": item.fingerprint, "nsml_create_time": item.create_time},
        )
        seen.add(record.pk)
        # A key marked gone, revoked or assigned that NSML holds again (added back in the NCP console, or
        # listed again after a list that left it out) is open again, for an admin to act on.
        reopened = not created and record.status != UnmanagedKey.Status.OPEN
        if reopened:
            UnmanagedKey.objects.filter(pk=record.pk).update(
                status=UnmanagedKey.Status.OPEN, assigned_to=None, last_seen=now, nsml_create_time=item.create_time
            )
        if created or reopened:
            report.unmanaged.append(item.title)
            was = f" again (it was {record.status} here)" if reopened else ""
            record_event(
                action=AuditEvent.Action.DRIFT,
                outcome=AuditEvent.Outcome.SUCCESS,
                actor_username=origin.runner,
                origin=origin,
                title=item.title[:64],
                fingerprint=item.fingerprint,
                reason="unmanaged",
                detail=f"NSML holds key {item.name}{was}, which the portal did not register",
                **upstream_fields(listing),
            )
        else:
            UnmanagedKey.objects.filter(pk=record.pk).update(last_seen=now)
    UnmanagedKey.objects.filter(status=UnmanagedKey.Status.OPEN).exclude(pk__in=seen).update(
        status=UnmanagedKey.Status.GONE
    )


def _refuse_for_departed_member(key: RegisteredKey, origin: Origin, listing: Reply) -> bool:
    """A pending key NSML holds, of a member deactivated since (an offboarding revokes active keys only):
    it moves to `revoking`, and this pass deletes it from NSML. True when this call moved it."""
    return (
        states.move_audited(
            key,
            to=Status.REVOKING,
            expected=(Status.PENDING,),
            fields={
                "next_attempt_at": None,
                "revoke_reason": RegisteredKey.MEMBER_DEACTIVATED,
                **states.asked_to_revoke(None, origin),
            },
            action=AuditEvent.Action.REGISTER,
            outcome=AuditEvent.Outcome.REFUSED,
            actor=None,
            origin=origin,
            reason="owner_deactivated",
            detail="NSML holds this submission, but its member was deactivated: revoked instead of activated",
            reply=listing,
        )
        is not None
    )


def _revoke_for_departed_member(key: RegisteredKey, origin: Origin) -> bool:
    """An active key of a member deactivated since: it moves to `revoking`, asked for by the pass, and this pass
    deletes it from NSML (the audit row of its revocation names the reason). True when this call moved it."""
    return states.move(
        key,
        to=Status.REVOKING,
        expected=(Status.ACTIVE,),
        where=Q(owner__is_active=False),
        next_attempt_at=None,
        revoke_reason=RegisteredKey.MEMBER_DEACTIVATED,
        **states.asked_to_revoke(None, origin),
    )


def _attach(submission: RegisteredKey, origin: Origin, listing: Reply) -> bool:
    """A submission the portal called failed that NSML holds after all becomes the member's active key;
    not a deactivated member's (it stays unmanaged, for an admin)."""
    if not submission.owner.is_active:
        return False
    detail = "NSML holds the key this submission sent, although the portal had recorded it as not registered"
    try:
        with transaction.atomic():
            return states.activate(
                submission,
                actor=submission.owner,
                origin=origin,
                reply=listing,
                reason="attached",
                detail=states.settled_by_pass(submission, detail),
                started_by=states.submitter(submission),
            )
    except IntegrityError:
        return False  # another live key has its title or key: an admin decides (it stays unmanaged)


def _confirm_deletions(
    client: NsmlClient,
    deleted: list[tuple[RegisteredKey, Reply]],
    origin: Origin,
    report: PassReport,
    wait: NsmlWait,
) -> None:
    """One list after this pass's DELETEs: a key is revoked only once NSML no longer lists it."""
    if wait.used_up():
        _left_to_next_pass(deleted, origin, report, NOT_LISTED_IN_TIME)
        return
    try:
        held, listing = client.list_keys(within=wait.left())
    except NsmlError as error:
        failed = f"the list that confirms it failed: {error}"
        if error.reply.trace_id:
            failed += f" (list trace id {error.reply.trace_id})"
        _left_to_next_pass(deleted, origin, report, failed)
        return
    held_pairs = {(item.title, item.name) for item in held}
    for key, answer in deleted:
        if (key.title, key.nsml_name) in held_pairs:
            still_listed = "NSML still lists the key after the DELETE"
            if listing.trace_id:
                still_listed += f" (list trace id {listing.trace_id})"
            _retry_later(key, origin, answer, reason="unconfirmed", outcome=Outcome.UNKNOWN, note=still_listed)
            report.retrying.append(_label(key))
        else:
            _confirm_revoked(key, origin, report, listing)


def _left_to_next_pass(
    deleted: list[tuple[RegisteredKey, Reply]], origin: Origin, report: PassReport, why: str
) -> None:
    """DELETEs that went out (NSML may have acted) with no list after them to tell: each key stays `revoking`, not
    backed off (NSML refused nothing), and one audit row per DELETE says what NSML answered to it and that the next
    pass's list decides."""
    for key, answer in deleted:
        states.audit_unsettled(
            key,
            still=Status.REVOKING,
            action=AuditEvent.Action.REVOKE,
            outcome=Outcome.UNKNOWN,
            actor=None,
            origin=origin,
            reason="unconfirmed",
            detail="; ".join(part for part in (answer.detail, why, NEXT_PASS_DECIDES) if part),
            reply=answer,
        )
        report.retrying.append(_label(key))


def _confirm_revoked(key: RegisteredKey, origin: Origin, report: PassReport, listing: Reply) -> None:
    """NSML's list no longer holds a key being revoked: revoked, in the name of whoever asked for it."""
    if states.confirm_revoked(key, confirmed_from=origin, reply=listing):
        report.revoked.append(_label(key))


def _retry_later(
    key: RegisteredKey, origin: Origin, answer: Reply, *, reason: str, outcome: str, note: str = ""
) -> None:
    """A DELETE that did not revoke the key: it stays `revoking`, its next DELETE waits (30 s, doubling, at most an
    hour), and one audit row says what NSML answered and when the next one goes: one row per attempt, not per pass."""
    backoff = states.backed_off(key)
    again = states.sends_again("the reconciler", backoff)
    states.audit_unsettled(
        key,
        still=Status.REVOKING,
        fields=backoff,
        action=AuditEvent.Action.REVOKE,
        outcome=outcome,
        actor=None,
        origin=origin,
        reason=reason,
        detail="; ".join(part for part in (answer.detail, note, again) if part),
        reply=answer,
    )


def _label(key: RegisteredKey) -> str:
    return f"{key.title} ({key.owner.get_username()})"
