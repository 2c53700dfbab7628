"""Metrics for Prometheus at /metrics: what the portal and NSML are doing.

Counters and histograms live in prometheus-client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR
is set (gunicorn.conf.py sets it), so every gunicorn worker writes its own file and a scrape, whichever
worker answers it, adds them up. The reconciler and `nsml_check`, run with the same directory, count
there too (`count_as_command`, portal/metrics_files.py), so their NSML calls are in the same scrape.
Figures that are state rather than events (keys by status, the email outbox, the last successful reconcile
pass) are read from the database at scrape time, so every instance tells the same.

/metrics is off (404) unless METRICS_TOKEN is set; then it wants `Authorization: Bearer <token>`. A scrape
that accepts gzip (Prometheus does) gets the page compressed.
"""

from __future__ import annotations

import atexit
import hmac
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from whitenoise.middleware import WhiteNoiseFileResponse

from nsml.client import OPERATIONS, Failure
from portal import metrics_files

# NSML answers in milliseconds to tens of seconds (its timeouts are 10 s, 30 s for the reconciler).
logger = logging.getLogger("portal.metrics")

_NSML_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

NSML_REQUESTS = Counter(
    "portal_nsml_requests", "HTTP exchanges with NSML, by operation and how they ended.", ["operation", "outcome"]
)
NSML_DURATION = Histogram(
    "portal_nsml_request_duration_seconds", "How long an exchange with NSML took.", ["operation"], buckets=_NSML_BUCKETS
)
KEY_SUBMISSIONS = Counter(
    "portal_key_submissions",
    "Key submissions by outcome: registered, pending, refused, failed, rate_limited.",
    ["outcome"],
)
RECONCILE_PASSES = Counter(
    "portal_reconcile_passes",
    "Reconcile passes by outcome: in_sync, drift, unsettled (keys still wait on NSML), nsml_unavailable, "
    "busy (another pass held the lock), error.",
    ["outcome"],
)
LOGINS = Counter("portal_logins", "Log-ins by outcome: success, failed, locked_out, lockout.", ["outcome"])
HTTP_REQUESTS = Counter("portal_http_requests", "HTTP requests by view and status.", ["view", "method", "status"])
HTTP_DURATION = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer an HTTP request, by view and status.",
    ["view", "status"],
    buckets=_HTTP_BUCKETS,
)


# Every outcome each counter counts, so a scrape shows them at 0 before their first event: a rate() or an
# alert on a series that does not exist yet reads as "no data", not as none happened.
SUBMISSION_OUTCOMES = ("registered", "pending", "refused", "failed", "rate_limited")
LOGIN_OUTCOMES = ("success", "failed", "locked_out", "lockout")
RECONCILE_OUTCOMES = ("in_sync", "drift", "unsettled", "nsml_unavailable", "busy", "error")
NSML_OUTCOMES = ("success", *(str(failure) for failure in Failure))


def _known_series() -> None:
    """Give every known label set a value in this process (0 unless counted). Done in the process that
    scrapes, not at import: a command switches prometheus-client's value class (count_as_command) after its
    imports, and a series made before that would count outside its files."""
    for outcome in SUBMISSION_OUTCOMES:
        KEY_SUBMISSIONS.labels(outcome=outcome)
    for outcome in LOGIN_OUTCOMES:
        LOGINS.labels(outcome=outcome)
    for outcome in RECONCILE_OUTCOMES:
        RECONCILE_PASSES.labels(outcome=outcome)
    for operation in OPERATIONS.values():
        NSML_DURATION.labels(operation=operation)
        for outcome in NSML_OUTCOMES:
            NSML_REQUESTS.labels(operation=operation, outcome=outcome)


def observe_nsml(operation: str, outcome: str, seconds: float) -> None:
    """The NSML client's `observe` hook (keys.upstream): one exchange, how it ended, how long it took."""
    NSML_REQUESTS.labels(operation=operation, outcome=outcome).inc()
    NSML_DURATION.labels(operation=operation).observe(seconds)


def count_submission(outcome: str) -> None:
    KEY_SUBMISSIONS.labels(outcome=outcome).inc()


def count_login(outcome: str) -> None:
    LOGINS.labels(outcome=outcome).inc()


def count_reconcile_pass(outcome: str) -> None:
    RECONCILE_PASSES.labels(outcome=outcome).inc()


def count_as_command() -> None:
    """For a command whose NSML calls count (nsml_sync, nsml_check): with PROMETHEUS_MULTIPROC_DIR set, its
    figures go to that directory under a command slot rather than its pid (portal/metrics_files.py), so a
    scrape of the gunicorn sharing the directory adds them up, and one-shot runs reuse one set of files.
    Called before the command counts anything; without the variable, the figures stay in the process."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory or getattr(values.ValueClass, "command_slot", None):
        return  # the process's own figures, or already counting under a slot (one set of open files)
    try:
        identifier = metrics_files.take_command_slot(Path(directory))
    except OSError as error:  # the command's work matters more than its figures
        logger.warning("metrics: %s cannot be written (%s); this command's figures are not counted", directory, error)
        values.ValueClass = values.MutexValue
        return
    values.ValueClass = values.MultiProcessValue(lambda: identifier)
    values.ValueClass.command_slot = identifier
    # A live gauge leaves with its process (on kill -9, at the next scrape: metrics_files.forget_dead_commands).
    atexit.register(multiprocess.mark_process_dead, identifier, directory)


_reconciler_loops: Gauge | None = None


def reconciler_loop_running(running: bool) -> None:
    """`nsml_sync --every` says it is running (1) or has stopped (0). Made at the first call, so only a loop
    writes it: a process that runs none leaves `portal_reconciler_loops` out of the scrape."""
    global _reconciler_loops
    if _reconciler_loops is None:
        _reconciler_loops = Gauge(
            "portal_reconciler_loops",
            "Reconciler loops (nsml_sync --apply --every) running with this metrics directory.",
            multiprocess_mode="livesum",
        )
    _reconciler_loops.set(1 if running else 0)


class HttpMetricsMiddleware:
    """Counts every request and times it, labelled by the view's URL name (a bounded set), not the path."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        except Exception:
            # Django answers a view's exception with its 500 page; one that escapes (that page, or the 404 page,
            # failed too: a static manifest without an asset the page names) gunicorn answers 500 itself. Counted
            # as that, or an outage of every page left the 500s at 0.
            _count(request, None, "500", started)
            raise
        _count(request, response, str(response.status_code), started)
        return response


def _count(request: HttpRequest, response: HttpResponse | None, status: str, started: float) -> None:
    view = _view_label(request, response)
    HTTP_REQUESTS.labels(view=view, method=_method(request.method), status=status).inc()
    HTTP_DURATION.labels(view=view, status=status).observe(time.perf_counter() - started)


def _view_label(request: HttpRequest, response: HttpResponse | None) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return _api_operation(match, request) or match.view_name or "unnamed"
    if response is None:
        return "unmatched"
    if _https_redirect(request, response):
        return "https_redirect"  # SecurityMiddleware sent a plain-HTTP request to https:// before any view
    if isinstance(response, WhiteNoiseFileResponse):
        return "static"  # WhiteNoise served a file of STATIC_ROOT (or its 304, its 405) before any view
    return "unmatched"


def _api_operation(match, request: HttpRequest) -> str | None:
    """`api:create_key` for the API's POST /api/v1/keys: django-ninja serves every method at an address with
    one view, named after the address's first operation (`api:list_keys`), so the name is the operation's."""
    if "api" not in match.namespaces:
        return None
    # ninja's view is a closure over its PathView, which holds the operations and picks one by method.
    for cell in getattr(match.func, "__closure__", None) or ():
        operations = getattr(cell.cell_contents, "operations", None)
        if operations is not None:
            for operation in operations:
                if request.method in operation.methods:
                    return f"{':'.join(match.namespaces)}:{operation.view_func.__name__}"
    return None


def _https_redirect(request: HttpRequest, response: HttpResponse) -> bool:
    """SecurityMiddleware's answer to plain HTTP (SECURE_SSL_REDIRECT): a 301 to the same URL over https."""
    if not settings.SECURE_SSL_REDIRECT or response.status_code != 301 or request.is_secure():
        return False
    try:
        host = settings.SECURE_SSL_HOST or request.get_host()
    except DisallowedHost:  # then the 301 came from somewhere else: SecurityMiddleware reads the host first
        return False
    return response.get("Location") == f"https://{host}{request.get_full_path()}"


def _method(method: str | None) -> str:
    # A client can send any method name; only the ones the portal answers become a label.
    return method if method in ("GET", "HEAD", "POST", "DELETE", "OPTIONS") else "other"


class DatabaseCollector(Collector):
    """Keys by status, the email outbox and the last successful reconcile pass, read at scrape time (four cheap
    queries).

    With the database unreachable the scrape still answers, with the counters and `portal_database_up` 0
    in place of these gauges: an outage is when the counters matter most."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db import DatabaseError

        from keys import readiness, selectors  # the app registry is ready by the time anyone scrapes

        try:
            # A database that stopped answering on a kept connection would hold the scrape past its timeout.
            with readiness.database_deadline():
                counts = selectors.key_counts_by_status()
                last = selectors.last_successful_reconcile()
                notices = selectors.email_notice_counts()
        except DatabaseError as error:
            logger.warning("metrics: the database could not be read (%s); its gauges left out", type(error).__name__)
            yield GaugeMetricFamily("portal_database_up", "Whether the database answered this scrape.", value=0)
            return
        yield GaugeMetricFamily("portal_database_up", "Whether the database answered this scrape.", value=1)
        keys = GaugeMetricFamily("portal_keys", "Registered keys by status.", labels=["status"])
        for status, count in counts.items():
            keys.add_metric([status], count)
        yield keys
        outbox = GaugeMetricFamily(
            "portal_email_notices",
            "Email notices in the outbox: waiting (not sent yet: the mail server was down, refused or is being tried "
            "again) and given_up (not sent within 2 days).",
            labels=["state"],
        )
        for state, count in notices.items():
            outbox.add_metric([state], count)
        yield outbox
        if last is not None:
            yield GaugeMetricFamily(
                "portal_reconcile_last_success_timestamp_seconds",
                "When the last successful reconcile pass finished (Unix time).",
                value=last.timestamp(),
            )


def registry() -> CollectorRegistry:
    """Every worker's counters added up (multiprocess mode), or this process's alone, plus the database's."""
    if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_files.forget_dead_commands(Path(directory))
        scraped = CollectorRegistry()
        MultiProcessCollector(scraped)
    else:
        scraped = CollectorRegistry()
        scraped.register(_ProcessMetrics())
    scraped.register(DatabaseCollector())
    return scraped


class _ProcessMetrics(Collector):
    """The default registry's metrics (this process's), for a portal not run under gunicorn.conf.py."""

    def collect(self):
        yield from REGISTRY.collect()


@csrf_exempt  # a scrape sends no cookie: a POST is told 405, not a 403 that reads as a wrong token
@require_safe  # GET, and HEAD for a checker that only wants the status
@never_cache
@gzip_page  # Prometheus asks with Accept-Encoding: gzip; the page holds counts, no secret BREACH could guess at
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    scheme, _, offered = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not offered:
        response = HttpResponse(
            "Authorization: Bearer <METRICS_TOKEN> required\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not hmac.compare_digest(offered.strip().encode(), token.encode()):
        return HttpResponse("wrong metrics token\n", status=403, content_type="text/plain")
    _known_series()
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
