"""Compare NSML's key list with the portal's; with --apply, repair what can be repaired.

Safe from cron: it is idempotent, and its exit status is 1 when drift was found (2 when NSML
could not be asked), 0 when NSML and the portal agree.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from keys import services
from keys.audit import Origin
from nsml.client import NsmlError


class Command(BaseCommand):
    help = (
        "Compare NSML's keys with the portal's: 'unmanaged' keys NSML holds that the portal did not "
        "register, and 'missing' keys the portal shows active that NSML lacks."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--apply",
            action="store_true",
            help="Mark missing keys revoked and record unmanaged keys for an admin to assign or revoke (audited).",
        )

    def handle(self, *args, apply: bool, **options) -> None:
        try:
            drift = services.find_drift()
        except NsmlError as error:
            raise CommandError(
                f"Could not list NSML's keys: {error.failure} ({error.reply.detail})", returncode=2
            ) from None

        if not drift:
            if apply:
                services.repair_drift(drift, origin=Origin.command("nsml_sync"))  # records keys gone from NSML
            self.stdout.write(self.style.SUCCESS("In sync: NSML and the portal hold the same keys."))
            return

        rows = [("unmanaged", item.title, item.name, item.create_time, "-") for item in drift.unmanaged]
        rows += [
            (
                "missing",
                key.title,
                key.nsml_name,
                key.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                key.owner.get_username(),
            )
            for key in drift.missing
        ]
        self._table(("drift", "title", "nsml name", "created", "owner"), rows)

        if apply:
            services.repair_drift(drift, origin=Origin.command("nsml_sync"))
            self.stdout.write(
                f"Applied: {len(drift.missing)} missing key(s) marked revoked; {len(drift.unmanaged)} unmanaged "
                "key(s) recorded under Admin > Unmanaged keys."
            )
        raise CommandError(
            f"Drift found: {len(drift.unmanaged)} unmanaged, {len(drift.missing)} missing.", returncode=1
        )

    def _table(self, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, tuple("-" * width for width in widths), *rows]:
            self.stdout.write(
                "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )
