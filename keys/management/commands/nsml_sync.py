"""The reconciler. Without --apply: report how NSML and the portal differ. With --apply: one pass that
settles every unknown outcome and repairs drift, then revokes expired keys and sends expiry reminders
(keys/services/lifetimes.py); with --every N, a pass every N seconds until SIGTERM. Either way, the email notices
the mail server did not take before are sent again once due (keys/outbox.py); with --apply, the notices done with
are deleted once EMAIL_NOTICE_RETENTION_DAYS have passed.

Exit status: EXIT_STATUS below, which --help shows and README's Operating table repeats.
"""

from __future__ import annotations

import logging
import signal
import threading
import traceback

from django.conf import settings
from django.core.management.base import CommandError
from django.db import DatabaseError, close_old_connections

from keys import outbox, services
from keys.audit import Origin
from keys.clock import format_moment
from keys.management.database import database_failure
from keys.management.failures import PortalCommand
from nsml.client import NsmlError
from portal import metrics
from portal.outages import is_outage

logger = logging.getLogger("keys.reconcile")

MIN_INTERVAL_SECONDS = 5
# A day: reminders and expiries are due by the day, and a longer wait is past what the clock can sleep.
MAX_INTERVAL_SECONDS = 24 * 60 * 60

# A command line it cannot use (an unknown option, --every out of range): sysexits.h's EX_USAGE, since argparse's 2
# already means that NSML could not be listed, and 1 that drift was found.
USAGE_STATUS = 64

# The cache (CACHE_URL, Redis) went away: the keys are settled, only the sessions of deactivated users wait for it.
CACHE_UNREACHABLE = (
    "Could not end the sessions of deactivated users: the cache (CACHE_URL) cannot be reached. The keys are "
    "settled; the next pass ends the sessions."
)

EXIT_STATUS = (
    "Exit status: 0 in sync (also after a pass that only settled the portal's own submissions and revocations as "
    "NSML's list answered them), not settled yet (keys still wait on NSML), or another pass was running (with "
    "--every: once stopped); 1 drift found: NSML lacks an active key, holds a key the portal has no live record of "
    "(unmanaged, or sent by a failed submission), or holds an active key of a deactivated member, or an unmanaged "
    "key awaits an admin (with --apply, repaired as far as a pass can); 2 NSML could not be listed (nothing "
    "changed); 3 the database could not be reached; 64 the command line could not be used (an unknown option, a "
    "value out of range, options that do not go together: refused before anything runs, with a line saying why)."
)


class Command(PortalCommand):
    usage_status = USAGE_STATUS

    help = (
        "Reconcile the portal with NSML. Without --apply, report 'unmanaged' keys NSML holds that the portal "
        "did not register, 'attach' keys NSML holds that a member's failed submission sent (a pass makes each that "
        "member's active key), 'missing' keys the portal shows active that NSML lacks, and 'departed' active keys of "
        "deactivated members (which a pass revokes when KEYS_REVOKE_ON_DEACTIVATE is on). With --apply, settle "
        "pending and revoking keys and repair drift (audited); --every N repeats the pass until SIGTERM. " + EXIT_STATUS
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--apply",
            action="store_true",
            help="Settle pending and revoking keys, mark missing keys revoked, attach or record unmanaged keys; "
            "then revoke expired keys and send expiry reminders.",
        )
        parser.add_argument(
            "--accept-missing",
            action="store_true",
            help="With --apply: mark the active keys NSML's list lacks revoked however many they are (more than "
            "RECONCILE_MISSING_LIMIT are otherwise held back, as a wrong NSML_API_URL or subscription lacks them all).",
        )
        parser.add_argument(
            "--every",
            type=int,
            metavar="SECONDS",
            help=f"With --apply: run a pass every SECONDS ({MIN_INTERVAL_SECONDS} to {MAX_INTERVAL_SECONDS}) until "
            "SIGTERM or "
            "Ctrl-C; a pass under way finishes first.",
        )

    def log_failure(self, message: str, exc_info=None) -> None:
        """With LOG_FORMAT=json, the line a failed run ends with ("Could not list NSML's keys...", the line an alert
        looks for) is one of keys.reconcile's, with the pass's own lines (keys/management/failures.py)."""
        logger.error(message, exc_info=exc_info)

    def handle(self, *args, apply: bool, every: int | None, accept_missing: bool, **options) -> None:
        metrics.count_as_command()  # its NSML calls and passes, in the scrape of the gunicorn sharing the directory
        if accept_missing and (not apply or every is not None):
            raise CommandError(
                "--accept-missing is for one pass, so it needs --apply and no --every.", returncode=USAGE_STATUS
            )
        self.accept_missing = accept_missing
        if every is not None:
            if not apply:
                raise CommandError("--every repeats the reconciler, so it needs --apply.", returncode=USAGE_STATUS)
            if not MIN_INTERVAL_SECONDS <= every <= MAX_INTERVAL_SECONDS:
                raise CommandError(
                    f"--every must be at least {MIN_INTERVAL_SECONDS} and at most {MAX_INTERVAL_SECONDS} "
                    "seconds (a day).",
                    returncode=USAGE_STATUS,
                )
            self._loop(every)
            return
        try:
            report = self._pass() if apply else self._report()
        except DatabaseError as error:
            raise database_failure(error, "nothing was checked or changed.") from None
        if report is not None and report.drift:
            held = f", {report.held_missing} missing key(s) held back" if report.held_missing else ""
            raise CommandError(
                f"Drift found: {report.repairs} repair(s) made, {report.open_unmanaged} unmanaged key(s) open{held}.",
                returncode=1,
            )

    def _pass(self) -> services.PassReport | None:
        origin = Origin.command("nsml_sync")
        try:
            report = services.reconcile(origin=origin, accept_missing=self.accept_missing)
        except services.ReconcileBusy:
            self._say("Another reconcile pass is running; skipped this one.")
            return None
        except NsmlError as error:
            self._lifetimes(origin)  # reminders need no NSML; an expired key is tried, and again next pass
            self._send_notices(origin)
            self._prune_notices()
            raise CommandError(
                f"Could not list NSML's keys: {error.failure} ({error.reply.detail}). Nothing was changed.",
                returncode=2,
            ) from None
        lifetimes = self._lifetimes(origin)
        for line in report.lines():
            self._say(line)
        self._send_notices(origin)
        self._prune_notices()
        if report.open_unmanaged:
            self._say(f"{report.open_unmanaged} unmanaged key(s) await an admin under Admin > Unmanaged keys.")
        # A key NSML has not confirmed yet (a revocation backing off, a submission in its grace period, an
        # expired key's revocation): the lists may agree on the rest, but the portal is not done.
        unsettled = report.unsettled + len(lifetimes.unconfirmed)
        if unsettled:
            self._say(f"Not settled yet: {unsettled} key(s) pending or being revoked; later passes settle them.")
        elif not report.drift:
            self._say("In sync: NSML and the portal hold the same keys.", style=self.style.SUCCESS)
        return report

    def _lifetimes(self, origin: Origin) -> services.LifetimeReport:
        """After the reconcile pass: revoke the keys past their expiry, send the reminders that are due, and end
        what deactivated users still hold (tokens, sessions)."""
        report = services.apply_lifetimes(origin=origin)
        for line in report.lines():
            self._say(line)
        try:
            tokens, sessions = services.end_access_of_deactivated(origin=origin)
        except Exception as error:
            if not is_outage(error) or isinstance(error, DatabaseError):
                raise
            # The pass and the expiry job are done; only the sessions wait for the cache, and the next pass ends them.
            self._say(CACHE_UNREACHABLE, error=True)
            return report
        if tokens or sessions:
            self._say(f"Deactivated users: {tokens} access token(s) revoked, {sessions} session(s) ended.")
        return report

    def _send_notices(self, origin: Origin) -> None:
        """The email notices the mail server did not take before, once their backoff is over (keys/outbox.py)."""
        for line in outbox.send_due(origin=origin).lines():
            self._say(line)

    def _prune_notices(self) -> None:
        """The notices done with past EMAIL_NOTICE_RETENTION_DAYS (keys/outbox.py); --apply only: a dry run deletes
        nothing."""
        if deleted := outbox.prune():
            self._say(
                f"email notices deleted (sent, given up on or dropped, written more than "
                f"{settings.EMAIL_NOTICE_RETENTION_DAYS} days ago): {deleted}"
            )

    def _loop(self, every: int) -> None:
        stop = threading.Event()

        def request_stop(signum, frame) -> None:
            stop.set()  # the pass under way finishes; the loop ends before the next one

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        self._say(f"Reconciler: a pass every {every} s; SIGTERM or Ctrl-C stops it after the current pass.")
        self.stdout.flush()
        metrics.reconciler_loop_running(True)
        while not stop.is_set():
            close_old_connections()
            try:
                self._pass()
            except CommandError as error:
                self._say(str(error), error=True)
            except DatabaseError as error:  # the words of a one-shot pass, naming DATABASE_URL, not the driver's
                failure = database_failure(error, "this pass did not finish; the next one tries again.")
                self._say(str(failure), error=True)
            except Exception as error:  # a broken pass must not end the loop; the next one tries again
                self._say(f"Reconcile pass failed: {error!r}", error=True, with_traceback=True)
            self.stdout.flush()
            stop.wait(every)
        metrics.reconciler_loop_running(False)
        self._say("Reconciler stopped.")

    def _say(self, text: str, *, error: bool = False, style=None, with_traceback: bool = False) -> None:
        """A line of the pass's report: on stdout (stderr for a failure), or with LOG_FORMAT=json as one of
        the JSON log lines (logger keys.reconcile), so that a reconciler's stream is JSON throughout.
        `with_traceback`: the exception being handled, for a bug someone must find (in `exception` with JSON)."""
        if settings.LOG_FORMAT == "json":
            (logger.error if error else logger.info)(text, exc_info=with_traceback)
        else:
            if with_traceback:
                text = f"{text}\n{traceback.format_exc().rstrip()}"
            (self.stderr if error else self.stdout).write(style(text) if style else text)

    def _report(self) -> None:
        # Sending the notices waiting in the outbox changes nothing in NSML or the keys: a dry run sends them too.
        self._send_notices(Origin.command("nsml_sync"))
        try:
            drift = services.find_drift()
        except NsmlError as error:
            raise CommandError(
                f"Could not list NSML's keys: {error.failure} ({error.reply.detail})", returncode=2
            ) from None
        # The lists may agree, but a key still pending or being revoked is not settled: a pass may yet change it
        # (a pending key NSML holds becomes active), so "in sync" would not be true; the apply pass says the same.
        unsettled = (
            f"Not settled yet: {drift.unsettled} key(s) pending or being revoked; "
            "a pass (nsml_sync --apply) settles them."
            if drift.unsettled
            else ""
        )
        if not drift:
            if unsettled:
                self._say(unsettled)
            else:
                self._say("In sync: NSML and the portal hold the same keys.", style=self.style.SUCCESS)
            return
        rows = [("unmanaged", item.title, item.name, item.create_time, "-") for item in drift.unmanaged]
        rows += [
            (
                "missing",
                key.title,
                key.nsml_name,
                format_moment(key.created_at),
                key.owner.get_username(),
            )
            for key in drift.missing
        ]
        rows += [
            ("attach", key.title, key.nsml_name, format_moment(key.created_at), key.owner.get_username())
            for key in drift.attachable
        ]
        rows += [
            ("departed", key.title, key.nsml_name, format_moment(key.created_at), key.owner.get_username())
            for key in drift.departed
        ]
        self._table(("drift", "title", "nsml name", "created", "owner"), rows)
        counts = f"{len(drift.unmanaged)} unmanaged, {len(drift.missing)} missing"
        if drift.attachable:
            counts += (
                f", {len(drift.attachable)} sent by a member's failed submission "
                "(a pass makes them that member's active keys)"
            )
        if drift.departed:
            counts += f", {len(drift.departed)} active for a deactivated member (a pass revokes them)"
        if unsettled:
            self._say(unsettled)
        raise CommandError(f"Drift found: {counts}.", returncode=1)

    def _table(self, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        if settings.LOG_FORMAT == "json":  # a line per row, each naming its columns: no table in a JSON stream
            for row in rows:
                details = ", ".join(f"{name} {cell}" for name, cell in zip(header[2:], row[2:], strict=True))
                logger.info("%s: %s (%s)", row[0], row[1], details)
            return
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, tuple("-" * width for width in widths), *rows]:
            self.stdout.write(
                "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )
