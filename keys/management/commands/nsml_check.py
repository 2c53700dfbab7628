"""A signed `GET /auth-keys` that tells an operator what is wrong, in words they can act on."""

from __future__ import annotations

import email.utils
import logging
import time

from django.conf import settings
from django.core.management.base import CommandError

from keys.checks import check_nsml_url, check_numbers
from keys.management.failures import PortalCommand
from keys.upstream import nsml_client
from nsml.client import Cause, Failure, NsmlError, Reply
from portal import metrics

# The gateway refuses timestamps 5 minutes or more away; warn well before that.
SKEW_WARNING_SECONDS = 60
SKEW_LIMIT_SECONDS = 300

REQUIRED_SETTINGS = ("NSML_API_URL", "NCP_ACCESS_KEY", "NCP_SECRET_KEY", "NSML_API_KEY")

ADVICE = {
    Failure.CREDENTIALS: "Credentials refused: check NCP_ACCESS_KEY, NCP_SECRET_KEY and NSML_API_KEY.",
    Failure.PERMISSION: "Subscription missing or not permitted: the API key or account may not use NSML "
    "(ask for the NSML subscription and API Gateway approval in the NCP console).",
    Failure.NOT_FOUND: "Not found: check that NSML_API_URL ends in /nsml/v1.",
    Failure.THROTTLED: "Throttled by the API Gateway's usage plan: try again later.",
    Failure.UNAVAILABLE: "NSML is unavailable: the gateway or NSML answered with a server error.",
    Failure.BAD_RESPONSE: "NSML answered in an unexpected shape: is NSML_API_URL really NSML?",
    Failure.UNREACHABLE: "Host unreachable: check NSML_API_URL, DNS, the VPC route and any firewall.",
    Failure.NO_ANSWER: "No answer: the request was sent, and the connection ended without NSML's answer.",
    Failure.REJECTED: "The request was refused.",
}

# A call with no HTTP answer: what happened to the connection, which says where to look.
CAUSE_ADVICE = {
    Cause.REFUSED: "Host unreachable: the connection was refused, or no route led to the host: check NSML_API_URL's "
    "host and port, the VPC route and any firewall.",
    Cause.DNS: "Host unreachable: NSML_API_URL's host name could not be resolved: check it, and this host's DNS.",
    Cause.CONNECT_TIMEOUT: "Host unreachable: connecting timed out after NSML_CONNECT_TIMEOUT ({connect:g}s) with no "
    "reply: a firewall dropping the packets, or no route (check the VPC route and security groups).",
    Cause.TLS: "Host unreachable: the TLS handshake failed: check that NSML_API_URL's scheme is right and that this "
    "host trusts the certificate.",
    Cause.PROXY_REFUSED: "Host unreachable: the proxy (HTTPS_PROXY or HTTP_PROXY) refused the connection.",
    Cause.READ_TIMEOUT: "Timed out: the host accepted the request but did not answer within NSML_TIMEOUT "
    "({timeout:g}s).",
    Cause.DROPPED: "Connection dropped: the host accepted the request, then closed the connection without an "
    "answer (a proxy or load balancer in between, or NSML restarting).",
}


EXIT_STATUS = (
    "Exit status: 0 when NSML answered (a clock-skew warning on stderr does not change it); 1 when it did not, "
    "or a setting is missing or unusable: the message says which."
)


class Command(PortalCommand):
    help = "Check the NSML settings, connectivity, clock and credentials with one signed GET /auth-keys. " + EXIT_STATUS
    requires_system_checks = []

    def handle(self, *args, **options) -> None:
        metrics.count_as_command()  # its call, in the scrape of the gunicorn sharing the metrics directory
        missing = [name for name in REQUIRED_SETTINGS if not str(getattr(settings, name, "")).strip()]
        if missing:
            raise CommandError(f"Settings missing: {', '.join(missing)}. Set them in the environment.")
        # This command skips the system checks, so it asks those of the address and of its two timeouts:
        # no call could diagnose them (a timeout of 0 was requests' ValueError, a traceback).
        unusable = check_nsml_url(None) + [
            error for error in check_numbers(None) if error.msg.startswith(("NSML_TIMEOUT ", "NSML_CONNECT_TIMEOUT "))
        ]
        if unusable:
            raise CommandError(unusable[0].msg)
        self.say(f"Checking {settings.NSML_API_URL} (timeout {settings.NSML_TIMEOUT:g}s)...")

        try:
            keys, reply = nsml_client().list_keys(retry=False)
        except NsmlError as error:
            skew = self._report_clock(error.reply)
            advice = self._advice(error)
            if error.failure is Failure.CREDENTIALS and skew is not None and abs(skew) >= SKEW_LIMIT_SECONDS:
                advice = "Clock skew: this host's clock is off by 5 minutes or more; fix NTP before anything else."
            status = f"HTTP {error.reply.status}" if error.reply.status else "no HTTP answer"
            code = f", gateway code {error.reply.error_code}" if error.reply.error_code else ""
            trace = f", trace id {error.reply.trace_id}" if error.reply.trace_id else ""
            raise CommandError(f"{advice}\n  ({status}{code}{trace}: {error.reply.detail})") from None

        self._report_clock(reply)
        self.say(f"OK: NSML answered in {reply.duration_ms} ms and holds {len(keys)} key(s).", self.style.SUCCESS)

    @staticmethod
    def _advice(error: NsmlError) -> str:
        if error.reply.cause in CAUSE_ADVICE:
            return CAUSE_ADVICE[Cause(error.reply.cause)].format(
                connect=settings.NSML_CONNECT_TIMEOUT, timeout=settings.NSML_TIMEOUT
            )
        return ADVICE[error.failure]

    def _report_clock(self, reply: Reply) -> float | None:
        """Compare NSML's Date header with this host's clock; returns the skew in seconds."""
        if not reply.server_date:
            return None
        try:
            server_time = email.utils.parsedate_to_datetime(reply.server_date).timestamp()
        except (TypeError, ValueError):
            return None
        skew = time.time() - server_time
        if abs(skew) >= SKEW_WARNING_SECONDS:
            self.note(
                f"Clock skew: this host is {skew:+.0f} s away from NSML's clock.", logging.WARNING, self.style.WARNING
            )
        return skew
