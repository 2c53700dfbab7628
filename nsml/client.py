"""The one HTTP client for CLOVA NSML: signs each request, sends it, retries only what is safe,
and names every way a call can fail. Facts: ../shared/nsml-api.md.

Plain Python: it is given an `NsmlConfig` (the portal builds one from its settings in
`keys.upstream`), and every client in a process shares one pooled `requests` session.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import requests.adapters
from requests.hooks import dispatch_hook
from urllib3 import HTTPResponse
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import ProxyError as UrllibProxyError

from nsml.deadlines import cut_off_after, shut_down
from nsml.signing import sign_request, timestamp_ms

logger = logging.getLogger("nsml.client")

# GET and DELETE are safe to repeat; these answers mean "try again later", not "no".
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 0.25
# The longest Retry-After this client waits out before a retry. NSML asking for longer ends the call with its
# answer at once: asking again sooner would only hear the same, and keep a member waiting for it.
MAX_RETRY_AFTER_SECONDS = 5.0
# What a Reply keeps of NSML's words (the audit's columns), cut only once the credentials are out.
KEPT_LENGTHS = {"detail": 500, "error_code": 32, "trace_id": 128}
MAX_ADVISED_RETRY_AFTER_SECONDS = 3600.0  # the longest Retry-After passed on (Reply.retry_after)
USER_AGENT = "nsml-key-portal/1"
POOL_SIZE = 64


class Failure(StrEnum):
    """Why a call did not succeed, in the terms an operator acts on."""

    REJECTED = "rejected"  # NSML refused the request itself (400, 406, 413, other 4xx)
    CREDENTIALS = "credentials"  # 401, gateway code 200: access key, secret key or API key refused
    PERMISSION = "permission"  # 401 code 210 or 403: the subscription or permission is missing
    NOT_FOUND = "not_found"  # 404
    THROTTLED = "throttled"  # 429
    UNAVAILABLE = "unavailable"  # 5xx
    BAD_RESPONSE = "bad_response"  # an answer the portal cannot read
    UNREACHABLE = "unreachable"  # connection refused, DNS or TLS failure: the request never arrived
    NO_ANSWER = "no_answer"  # timed out or dropped after sending: the outcome is unknown

    @property
    def outcome_unknown(self) -> bool:
        """NSML may or may not have made the change: only a lookup can tell."""
        return self in (Failure.NO_ANSWER, Failure.UNAVAILABLE, Failure.BAD_RESPONSE)


class Cause(StrEnum):
    """What happened to a call that got no HTTP answer: UNREACHABLE's causes, then NO_ANSWER's."""

    REFUSED = "refused"  # nothing listens at the host and port, or a firewall rejects the connection
    DNS = "dns"  # the host name could not be resolved
    CONNECT_TIMEOUT = "connect_timeout"  # no reply to the connection attempt in time
    TLS = "tls"  # the TLS handshake failed
    PROXY_REFUSED = "proxy_refused"  # the proxy (HTTPS_PROXY, HTTP_PROXY) refused the connection
    READ_TIMEOUT = "read_timeout"  # the request was sent; no answer within the read timeout
    DROPPED = "dropped"  # the request was sent; the connection closed without a (whole) answer


_CAUSE_DETAILS = {
    Cause.REFUSED: "connection to NSML refused",
    Cause.DNS: "NSML's host name could not be resolved",
    Cause.CONNECT_TIMEOUT: "connecting to NSML timed out",
    Cause.TLS: "TLS handshake with NSML failed",
    Cause.PROXY_REFUSED: "connection to the proxy refused (HTTPS_PROXY or HTTP_PROXY)",
    Cause.READ_TIMEOUT: "NSML did not answer within the read timeout",
}


@dataclass(frozen=True)
class NsmlConfig:
    base_url: str
    access_key: str
    secret_key: str = field(repr=False)
    api_key: str = field(repr=False)
    connect_timeout: float = 3.05
    read_timeout: float = 10.0


@dataclass(frozen=True)
class Reply:
    """What one call came to. `detail` is for operators; it never holds a credential."""

    status: int | None
    trace_id: str = ""
    duration_ms: int = 0
    error_code: str = ""
    detail: str = ""
    data: Any = None
    server_date: str = ""
    # Seconds NSML's Retry-After asked for (seconds or an HTTP date), when it sent one it could read.
    retry_after: float | None = None
    # With no HTTP answer, what happened to the connection (`Cause`); empty when NSML answered.
    cause: str = ""


class NsmlError(Exception):
    """`after_unknown`: an earlier attempt of the same call may have made the change (its answer was lost),
    so a NOT_FOUND on the retry of a DELETE can be that attempt's own work."""

    def __init__(self, failure: Failure, reply: Reply, *, after_unknown: bool = False):
        super().__init__(f"NSML {failure}: {reply.detail}")
        self.failure = failure
        self.reply = reply
        self.after_unknown = after_unknown


@dataclass(frozen=True)
class UpstreamKey:
    name: str
    title: str
    fingerprint: str
    create_time: str


_session: requests.Session | None = None
_session_lock = threading.Lock()


def http_session() -> requests.Session:
    """The process's one pooled session (created on first use, so forked workers get their own)."""
    global _session
    with _session_lock:
        if _session is None:
            _session = requests.Session()
            _session.headers["User-Agent"] = USER_AGENT
            # The environment (proxies, NO_PROXY, a CA bundle) is read once per NSML URL by
            # `_environment`, not by requests on every call; and never ~/.netrc credentials.
            _session.trust_env = False
            # One pooled connection per thread that may call NSML at once (gunicorn's threads).
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=POOL_SIZE)
            _session.mount("http://", adapter)
            _session.mount("https://", adapter)
        return _session


@functools.lru_cache(maxsize=8)
def _environment(base_url: str) -> dict[str, Any]:
    """What requests takes from the environment for calls to `base_url` (HTTPS_PROXY, NO_PROXY,
    REQUESTS_CA_BUNDLE...), read once per process: reading it again cost about 0.3 ms a call."""
    reader = requests.Session()
    settings = reader.merge_environment_settings(base_url, {}, None, None, None)
    reader.close()
    return {"proxies": settings["proxies"], "verify": settings["verify"]}


# The operation names `observe` is told, one per kind of call.
OPERATIONS = {"POST": "create", "GET": "list", "DELETE": "delete"}


class NsmlClient:
    """`on_wait(ms)` is told how long each HTTP exchange took (the portal's Server-Timing figure);
    `observe(operation, outcome, seconds)` is told what each exchange was ("create", "list", "delete"),
    how it ended ("success" or a `Failure` value) and how long it took (the portal's metrics).
    """

    def __init__(
        self,
        config: NsmlConfig,
        session: requests.Session | None = None,
        on_wait: Callable[[float], None] | None = None,
        observe: Callable[[str, str, float], None] | None = None,
    ):
        self.config = config
        self.session = session or http_session()
        self.on_wait = on_wait
        self.observe = observe

    def create_key(self, title: str, key: str) -> Reply:
        """POST /auth-keys. Never retried: a lost answer is settled by a lookup, not a second POST."""
        return self._call("POST", "/auth-keys", body={"title": title, "key": key}, attempts=1, success=201)

    def list_keys(self, *, retry: bool = True, within: float | None = None) -> tuple[list[UpstreamKey], Reply]:
        """`within`: the seconds the whole call may take, when they are fewer than its own deadline allows (a
        lookup that must not keep a member waiting much longer than one timeout)."""
        attempts = MAX_ATTEMPTS if retry else 1
        reply = self._call("GET", "/auth-keys", attempts=attempts, success=200, within=within)
        try:
            keys = [
                UpstreamKey(
                    name=str(item["name"]),
                    title=str(item["title"]),
                    fingerprint=str(item.get("fingerprint", "")),
                    create_time=str(item.get("createTime", "")),
                )
                for item in reply.data["keyList"]
            ]
        except (TypeError, KeyError) as exc:
            detail = f"key list not in the documented shape ({exc!r})"
            raise NsmlError(Failure.BAD_RESPONSE, replace(reply, detail=detail)) from exc
        total = reply.data.get("totalCount")
        if isinstance(total, int) and not isinstance(total, bool) and total != len(keys):
            # Part of a list (cut short, or a page of one) read as the whole would make every key left out
            # look deleted in NSML: no list is better than that one.
            detail = f"the key list holds {len(keys)} keys but its totalCount says {total}"
            raise NsmlError(Failure.BAD_RESPONSE, replace(reply, detail=detail))
        return keys, reply

    def delete_key(self, title: str, name: str, *, within: float | None = None) -> Reply:
        """DELETE one key; `within` as for `list_keys`."""
        path = f"/auth-keys/title/{quote(title, safe='')}/name/{quote(name, safe='')}"
        return self._call("DELETE", path, attempts=MAX_ATTEMPTS, success=200, within=within)

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        attempts: int,
        success: int,
        within: float | None = None,
    ) -> Reply:
        """Only `success`, NSML's documented answer, counts as done; any other 2xx is BAD_RESPONSE.

        The whole call, retries included, ends by its deadline: the read timeout plus the connect timeout
        after it began, or `within` seconds when that is sooner. A retry gets only the time left, so a slow
        NSML costs a member one timeout and a little, not one per attempt."""
        started = time.monotonic()
        deadline = started + self.config.read_timeout + self.config.connect_timeout
        if within is not None:
            deadline = min(deadline, started + within)
        unknown_before = False
        for attempt in range(1, attempts + 1):
            sent = time.perf_counter()
            left = deadline - time.monotonic()
            timeout = (min(self.config.connect_timeout, left), min(self.config.read_timeout, left))
            reply, failure, wait = self._attempt(method, path, body, started, success, timeout, deadline)
            reply = self._without_credentials(reply)
            if self.observe is not None:
                self.observe(OPERATIONS[method], str(failure or "success"), time.perf_counter() - sent)
            retryable = failure in (Failure.UNREACHABLE, Failure.NO_ANSWER) or reply.status in RETRY_STATUSES
            if failure is None:
                return reply
            asked_to_wait_longer = reply.retry_after is not None and reply.retry_after > MAX_RETRY_AFTER_SECONDS
            if attempt == attempts or not retryable or asked_to_wait_longer or time.monotonic() + wait >= deadline:
                raise NsmlError(failure, reply, after_unknown=unknown_before)
            logger.warning(
                "nsml %s %s: %s (attempt %d), retrying in %.2fs",
                method,
                path,
                failure,
                attempt,
                wait,
                extra={"nsml_trace_id": reply.trace_id},
            )
            time.sleep(wait)
            if time.monotonic() >= deadline:
                # The sleep ended late (a busy host) and no time is left to ask again: this answer stands.
                raise NsmlError(failure, reply, after_unknown=unknown_before)
            unknown_before = unknown_before or failure.outcome_unknown
        raise AssertionError("unreachable")  # pragma: no cover

    def _without_credentials(self, reply: Reply) -> Reply:
        """`detail`, `error_code` and `trace_id` with the credentials cut out, then cut to what is kept: a gateway
        or proxy that echoes the request's headers in its error (or its trace id header) would otherwise put them
        in the audit, the logs and the reconciler's record. Cut after, so no part of a credential is left at the
        end of a long answer."""
        # Real credentials are long; a short test value would cut letters out of every message.
        secrets = [
            value for value in (self.config.access_key, self.config.secret_key, self.config.api_key) if len(value) >= 8
        ]
        fields = {"detail": reply.detail, "error_code": reply.error_code, "trace_id": reply.trace_id}
        for name, value in fields.items():
            fields[name] = _cut_credentials(value, secrets)[: KEPT_LENGTHS[name]]
        # The key list's names and titles too (kept as unmanaged keys and in the audit), when any holds one.
        if secrets:
            serialised = json.dumps(reply.data)  # once, not once per credential: a list can hold 100,000 keys
            if any(secret in serialised for secret in secrets):
                fields["data"] = _cut_credentials(reply.data, secrets)
        return replace(reply, **fields)

    def _attempt(
        self,
        method: str,
        path: str,
        body: dict | None,
        started: float,
        success: int,
        timeout: tuple[float, float],
        deadline: float,
    ):
        url = self.config.base_url + path
        timestamp = timestamp_ms()
        headers = {
            "x-ncp-apigw-timestamp": timestamp,
            "x-ncp-iam-access-key": self.config.access_key,
            "x-ncp-apigw-signature-v2": sign_request(
                method, _request_target(url), timestamp, self.config.access_key, self.config.secret_key
            ),
            "x-ncp-apigw-api-key": self.config.api_key,
            "Content-Type": "application/json",
        }
        data = json.dumps(body).encode() if body is not None else None
        sent = time.perf_counter()
        try:
            prepared = _prepared(method, url, data, {**self.session.headers, **headers}, self.session.hooks)
            # Sent by the session's transport adapter, as `session.send` sends it with redirects off and the body
            # streamed (its response hooks called too), without what `session.send` adds for a browser's needs:
            # keeping the cookies an answer sets (none is sent back) and looking for a redirect to follow (none is).
            # 0.07 M instructions fewer a call, 0.7 % of a submission's (callgrind).
            response = self.session.get_adapter(url).send(
                prepared, stream=True, timeout=timeout, cert=None, **_environment(self.config.base_url)
            )
            response = dispatch_hook("response", prepared.hooks, response)
            _read_body_by(response, deadline)
        except requests.RequestException as exc:
            failure = Failure.UNREACHABLE if _never_sent(exc) else Failure.NO_ANSWER
            cause = _cause(exc)
            # The detail's words are the audit's (keys/audit_display.py translates them): kept as they were.
            detail = _CAUSE_DETAILS.get(cause) or f"connection to NSML lost ({type(exc).__name__})"
            reply = Reply(status=None, duration_ms=_ms_since(started), detail=detail, cause=cause)
            return reply, failure, BACKOFF_SECONDS
        finally:
            if self.on_wait is not None:
                self.on_wait((time.perf_counter() - sent) * 1000)
        return _read(response, started, success)


def _prepared(method: str, url: str, body: bytes | None, headers: dict, hooks: dict) -> requests.PreparedRequest:
    """The call as requests prepares it, to be sent by the session's adapter (requests' "prepared requests"), not
    by `session.request`, which merges the session's settings, cookies and environment into each call (seven
    merges, 0.1 ms): its headers and response hooks are all the session holds, and NSML sets no cookie to send
    back. So no cookie is prepared either, and the URL is prepared once per URL: parsing and quoting it again was
    a tenth of the call's own work. Otherwise the steps of `PreparedRequest.prepare`, in its order."""
    prepared = requests.PreparedRequest()
    prepared.prepare_method(method)
    prepared.url = _prepared_url(url)
    prepared.prepare_headers(headers)
    prepared.prepare_body(body, None)
    prepared.prepare_auth(None, prepared.url)
    prepared.prepare_hooks(hooks)
    return prepared


@functools.lru_cache(maxsize=1024)
def _prepared_url(url: str) -> str:
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, None)
    return prepared.url


def _read_body_by(response: requests.Response, deadline: float) -> None:
    """Read the answer's body, cut off at `deadline` (a ReadTimeout then). The read timeout bounds each wait for
    bytes, not the whole body: an answer sent a few bytes at a time kept a member waiting as long as it went on."""
    raw = response.raw
    connection = raw.connection if isinstance(raw, HTTPResponse) else None
    if connection is None:
        response.content  # noqa: B018 (reads the body: read already, an empty one)
        return
    cut = threading.Event()

    def cut_off() -> None:
        if raw.connection is not connection:
            return  # read to the end and back in the pool: the socket may be another call's by now
        cut.set()
        # The body's socket: the connection's, or the response's own when the answer closes the connection.
        with contextlib.suppress(OSError, ValueError):  # closed meanwhile: the read has ended
            shut_down(raw.fileno())

    with cut_off_after(deadline - time.monotonic(), cut_off):
        try:
            response.content  # noqa: B018 (reads the body)
        except requests.RequestException:
            if not cut.is_set():
                raise
    if cut.is_set():
        # A body that had no length ends at the cut as if complete: it is not NSML's whole answer either way.
        response.close()
        raise requests.ReadTimeout("NSML's answer was still arriving at the call's deadline")


def _cut_credentials(value: Any, secrets: list[str]) -> Any:
    """`value` (text, or JSON's lists and objects of it) with each of `secrets` written as [credential]."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "[credential]")
        return value
    if isinstance(value, list):
        return [_cut_credentials(item, secrets) for item in value]
    if isinstance(value, dict):
        return {_cut_credentials(key, secrets): _cut_credentials(item, secrets) for key, item in value.items()}
    return value


def _read(response: requests.Response, started: float, success: int) -> tuple[Reply, Failure | None, float]:
    status = response.status_code
    payload, error_code, message = _parse_body(response)
    reply = Reply(
        status=status,
        trace_id=response.headers.get("x-ncp-trace-id", ""),
        duration_ms=_ms_since(started),
        error_code=error_code,
        detail=message,
        data=payload,
        server_date=response.headers.get("Date", ""),
        retry_after=_retry_after(response),
    )
    if status == success and not _is_html(response):
        return reply, None, 0.0
    if 200 <= status < 400:
        # Something in between (a proxy, a captive portal) answered, or NSML said something undocumented:
        # whether the change was made is unknown, and only a lookup can tell.
        kind = "an HTML page" if _is_html(response) else f"HTTP {status}"
        detail = f"{kind} where NSML answers {success}" + (f" ({message})" if message else "")
        return replace(reply, detail=detail), Failure.BAD_RESPONSE, 0.0
    failure = _failure_for(status, error_code)
    wait = BACKOFF_SECONDS if reply.retry_after is None else reply.retry_after
    return reply, failure, wait


def _is_html(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower() == "text/html"


def _failure_for(status: int, error_code: str) -> Failure:
    if status == 401:
        return Failure.PERMISSION if error_code == "210" else Failure.CREDENTIALS
    if status == 403:
        return Failure.PERMISSION
    if status == 404:
        return Failure.NOT_FOUND
    if status == 429:
        return Failure.THROTTLED
    if 400 <= status < 500:
        return Failure.REJECTED
    if status >= 500:
        return Failure.UNAVAILABLE
    return Failure.BAD_RESPONSE


def _parse_body(response: requests.Response) -> tuple[Any, str, str]:
    """(payload, gateway errorCode, message). The gateway may label JSON as text/plain, or send HTML."""
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    if not response.content:
        return None, "", "" if response.ok else f"HTTP {response.status_code} with an empty body"
    try:
        payload = json.loads(response.content)
    except ValueError:
        size = len(response.content)
        return None, "", f"HTTP {response.status_code}: answer is not JSON ({content_type}, {size} bytes)"
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return payload, "", "" if response.ok else f"HTTP {response.status_code}: JSON without an error object"
    code = error.get("errorCode", "")
    parts = [str(error.get(name, "")).strip() for name in ("message", "details")]
    return payload, str(code), ": ".join(part for part in parts if part)


def _retry_after(response: requests.Response) -> float | None:
    """Seconds to wait, from Retry-After (seconds or an HTTP date); None when there is none it can read."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        when = _http_date(value) if value else None
        if when is None:
            return None
        seconds = when - time.time()
    return min(max(seconds, 0.0), MAX_ADVISED_RETRY_AFTER_SECONDS)


def _http_date(value: str) -> float | None:
    """An HTTP date as a Unix time, or None when it is not one (e.g. "Mon, 32 Jan 2026 00:00:00 GMT")."""
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when.timestamp() if when.tzinfo is not None else None


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached NSML: no connection, DNS or TLS failure."""
    if isinstance(exc, (requests.ConnectTimeout, requests.exceptions.SSLError, requests.exceptions.InvalidURL)):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError) or _proxy_refused(reason)


def _proxy_refused(reason: object) -> bool:
    """The proxy (HTTPS_PROXY...) refused the connection: the request went no further."""
    return isinstance(reason, UrllibProxyError) and isinstance(reason.original_error, NewConnectionError)


def _cause(exc: requests.RequestException) -> Cause:
    if isinstance(exc, requests.exceptions.SSLError):
        return Cause.TLS
    if isinstance(exc, requests.ConnectTimeout):
        return Cause.CONNECT_TIMEOUT
    if isinstance(exc, requests.ReadTimeout):
        return Cause.READ_TIMEOUT
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if reason is not None and "NameResolution" in type(reason).__name__:
        return Cause.DNS
    if isinstance(reason, NewConnectionError):
        return Cause.REFUSED
    if _proxy_refused(reason):
        return Cause.PROXY_REFUSED
    return Cause.DROPPED


def _request_target(url: str) -> str:
    """The path and query as they go on the wire: what the gateway signs."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
