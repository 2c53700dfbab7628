"""`manage.py nsml_simulator`: serve the local NSML simulator (nsml/simulator/) for development."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from nsml.simulator import FAULT_BODIES, Faults, NsmlSimulator


def _methods(text: str) -> frozenset[str]:
    return frozenset(method.strip().upper() for method in text.split(",") if method.strip())


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 0 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0 to 65535)")
    return int(text)


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds the server the same way Ctrl-C does


class Command(BaseCommand):
    help = (
        "Serve CLOVA NSML's auth-keys API locally: it verifies the NCP API Gateway's headers and signature "
        "with the portal's credentials from settings, keeps keys in a state file, and can inject faults."
    )
    # The simulator stands in for an upstream; the portal's own checks should not keep it from starting.
    requires_system_checks = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default %(default)s).")
        parser.add_argument("--port", type=_port, default=8001, help="Port to listen on (default %(default)s).")
        parser.add_argument(
            "--state-file",
            type=Path,
            default=Path(settings.BASE_DIR) / "var" / "nsml-simulator.json",
            help="JSON file that keeps the registered keys across restarts; its folder is created if missing "
            "(default var/nsml-simulator.json).",
        )
        parser.add_argument("--latency", type=float, default=0.0, help="Seconds to wait before every answer.")
        parser.add_argument(
            "--fail-status",
            type=int,
            help="Answer this gateway error status (400, 401, 403, 404, 406, 413, 429, 500, 502, 503, 504) "
            "instead of serving, without touching the keys.",
        )
        parser.add_argument(
            "--fail-code",
            help="Gateway errorCode to send with --fail-status when it has several "
            "(401: 200 or 210; 429: 400, 410 or 420). Default: the first.",
        )
        parser.add_argument(
            "--fail-rate",
            type=float,
            default=1.0,
            help="Probability that a request is hit by --fail-status or --drop (default %(default)s).",
        )
        parser.add_argument(
            "--fail-count",
            type=int,
            help="Only the next N matching requests are hit by --fail-status or --drop, then normal service.",
        )
        parser.add_argument(
            "--fail-methods",
            type=_methods,
            default=frozenset(),
            help="Comma-separated methods that --fail-status and --drop hit, e.g. POST,GET (default: all).",
        )
        parser.add_argument(
            "--fail-body",
            choices=FAULT_BODIES,
            default="gateway",
            help="Body of a --fail-status answer: gateway JSON, gateway JSON with a numeric errorCode, gateway "
            "JSON labelled text/plain, an HTML page, non-JSON bytes, or nothing (default %(default)s).",
        )
        parser.add_argument("--retry-after", type=int, help="Send Retry-After: S with 429 and 503 failures.")
        parser.add_argument(
            "--drop", action="store_true", help="Close the connection without answering (before anything else)."
        )
        parser.add_argument(
            "--slow-commit",
            type=float,
            default=0.0,
            help="On POST /auth-keys, store the key, then wait this many seconds before answering 201.",
        )
        parser.add_argument(
            "--fault-rate",
            type=float,
            default=0.0,
            help="Share of requests (0 to 1) hit by one fault drawn at random: a gateway error, a 502 HTML page, "
            "a dropped connection before or after the change is made, an answer later than the portal's "
            "timeout, a 200 with an HTML page, or a 503 with a Retry-After nobody can parse.",
        )
        parser.add_argument(
            "--late-seconds",
            type=float,
            default=12.0,
            help="How late a random 'late' answer comes (default %(default)s, past the portal's 10 s timeout).",
        )
        parser.add_argument(
            "--short-list",
            type=int,
            metavar="N",
            help="Answer GET /auth-keys with at most N keys, its totalCount still counting all of them.",
        )
        parser.add_argument(
            "--fault-seed", "--seed", dest="seed", type=int, help="Seed for --fail-rate and --fault-rate."
        )

    def handle(self, *args, **options) -> None:
        try:
            faults = Faults(
                latency=options["latency"],
                fail_status=options["fail_status"],
                fail_code=options["fail_code"],
                fail_rate=options["fail_rate"],
                fail_count=options["fail_count"],
                fail_methods=options["fail_methods"],
                fail_body=options["fail_body"],
                retry_after=options["retry_after"],
                drop=options["drop"],
                slow_commit=options["slow_commit"],
                seed=options["seed"],
                fault_rate=options["fault_rate"],
                late_seconds=options["late_seconds"],
                short_list=options["short_list"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        state_file: Path = options["state_file"]
        try:
            state_file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CommandError(f"Cannot keep the state file {state_file}: {error.strerror}") from error
        try:
            simulator = NsmlSimulator(
                access_key=settings.NCP_ACCESS_KEY,
                secret_key=settings.NCP_SECRET_KEY,
                api_key=settings.NSML_API_KEY,
                state_path=state_file,
                host=options["host"],
                port=options["port"],
                faults=faults,
            )
        except OSError as error:
            raise CommandError(f"Cannot listen on {options['host']}:{options['port']}: {error}") from error
        except ValueError as error:
            raise CommandError(str(error)) from error

        self.stdout.write(
            f"NSML simulator listening on {simulator.base_url} (state {state_file}; faults: {faults.describe()})"
        )
        self.stdout.flush()
        signal.signal(signal.SIGTERM, _stop)
        try:
            simulator.serve_forever()
        except KeyboardInterrupt:
            # make run's Ctrl-C reaches this process twice (the terminal's SIGINT, then the trap's SIGTERM):
            # the second must not interrupt the shutdown under way.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.stdout.write("NSML simulator stopped.")
