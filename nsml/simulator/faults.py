"""What the simulated gateway answers when things go wrong: its error table and the faults to inject."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from http import HTTPStatus

JSON_TYPE = "application/json;charset=UTF-8"


# The gateway's error table, (status, errorCode) -> message; a status's first code is its default.
GATEWAY_ERRORS = {
    (400, "100"): "Bad Request Exception",
    (401, "200"): "Authentication Failed",
    (401, "210"): "Permission Denied",
    (403, "230"): "Forbidden",
    (404, "300"): "Not Found Exception",
    (406, "100"): "Not Acceptable",
    (413, "430"): "Request Entity Too Large",
    (429, "400"): "Quota Exceeded",
    (429, "410"): "Throttle Limited",
    (429, "420"): "Rate Limited",
    (500, "900"): "Unexpected Error",
    (502, "500"): "Endpoint Error",
    (503, "500"): "Endpoint Error",
    (504, "510"): "Endpoint Timeout",
}
FAULT_BODIES = ("gateway", "gateway-numeric", "text-plain", "html", "garbage", "empty")
RETRY_AFTER_STATUSES = (429, 503)
# What `fault_rate` draws from, one kind per hit request. "before": the change is not made; "after": NSML
# made the change, then the answer was lost, late or replaced by something in between.
RANDOM_FAULTS = (
    "error",  # before: a gateway error (429, 500, 502, 503 or 504) in NSML's JSON
    "html-error",  # before: a 502 HTML page from a proxy
    "drop-before",  # before: the connection closes without an answer
    "drop-after",  # after: the change is made, then the connection closes without an answer
    "late",  # after: the change is made, the answer comes `late_seconds` later (past the client's timeout)
    "html-200",  # after: the change is made, and something in between answers 200 with an HTML page
    "bad-retry-after",  # before: a 503 with a Retry-After that is not a valid date or number
)
# The methods NSML's auth-keys API answers: list, create, delete.
NSML_METHODS = frozenset({"GET", "POST", "DELETE"})
RANDOM_ERROR_STATUSES = (429, 500, 502, 503, 504)
# Retry-After values no client can parse: an impossible date, and digits that are not ASCII.
BAD_RETRY_AFTERS = ("Mon, 32 Jan 2026 00:00:00 GMT", "\u00b2\u00b3")


@dataclass
class Faults:
    """Failures to inject; all off by default.

    `fail_methods`, `fail_rate` and `fail_count` choose which requests `fail_status` or `drop` hits.
    """

    latency: float = 0.0  # seconds added before every answer (of `latency_methods`)
    # The methods `latency` slows; empty means all (a slow create with a fast list: latency_methods={"POST"}).
    latency_methods: frozenset[str] = frozenset()
    fail_status: int | None = None  # answer this gateway error instead of serving
    fail_code: str | None = None  # the errorCode, when the status has several (401, 429)
    fail_rate: float = 1.0  # probability that a matching request is hit
    fail_count: int | None = None  # hit only the next N matching requests
    fail_methods: frozenset[str] = frozenset()  # methods that can be hit; empty means all
    fail_body: str = "gateway"  # one of FAULT_BODIES
    retry_after: int | str | None = None  # Retry-After on 429 and 503: seconds, or any text to send as it is
    drop: bool = False  # close the connection without answering
    slow_commit: float = 0.0  # on create: store the key, then wait this long before the 201
    seed: int | None = None  # for fail_rate and fault_rate
    fault_rate: float = 0.0  # share of requests hit by one fault drawn from `fault_kinds`
    fault_kinds: tuple[str, ...] = RANDOM_FAULTS
    late_seconds: float = 12.0  # how late a "late" answer comes
    short_list: int | None = None  # the key list holds at most N keys; its totalCount still counts them all

    def __post_init__(self) -> None:
        self.fail_methods = frozenset(method.upper() for method in self.fail_methods)
        self.latency_methods = frozenset(method.upper() for method in self.latency_methods)
        # A misspelt method (PSOT) hit no request at all, and the simulator said nothing.
        for name, methods in (("fail_methods", self.fail_methods), ("latency_methods", self.latency_methods)):
            if unknown_methods := sorted(methods - NSML_METHODS):
                raise ValueError(
                    f"{name} are among {', '.join(sorted(NSML_METHODS))} (NSML's), not {', '.join(unknown_methods)}"
                )
        if self.fail_status is not None:
            codes = [code for status, code in GATEWAY_ERRORS if status == self.fail_status]
            if not codes:
                statuses = ", ".join(sorted({str(status) for status, _ in GATEWAY_ERRORS}))
                raise ValueError(f"fail_status {self.fail_status} is not one the gateway answers ({statuses})")
            if self.fail_code is None:
                self.fail_code = codes[0]
            elif self.fail_code not in codes:
                raise ValueError(f"fail_code for {self.fail_status} is one of {', '.join(codes)}")
        elif self.fail_code is not None:
            raise ValueError("fail_code needs fail_status")
        if self.fail_body not in FAULT_BODIES:
            raise ValueError(f"fail_body is one of {', '.join(FAULT_BODIES)}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate is a probability between 0 and 1")
        if self.fail_count is not None and self.fail_count < 0:
            raise ValueError("fail_count cannot be negative")
        # nan passed "not negative", and every answer then failed in time.sleep(nan); inf held every answer for good.
        if not all(0 <= seconds < math.inf for seconds in (self.latency, self.slow_commit, self.late_seconds)):
            raise ValueError("latency, slow_commit and late_seconds are a number of seconds, 0 or more")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate is a probability between 0 and 1")
        if self.short_list is not None and self.short_list < 0:
            raise ValueError("short_list cannot be negative")
        self.fault_kinds = tuple(self.fault_kinds)
        unknown = [kind for kind in self.fault_kinds if kind not in RANDOM_FAULTS]
        if unknown or not self.fault_kinds:
            raise ValueError(f"fault kinds are among {', '.join(RANDOM_FAULTS)}")

    def describe(self) -> str:
        """One line for an operator: which faults are on."""
        parts = []
        if self.latency:
            on = f" on {','.join(sorted(self.latency_methods))}" if self.latency_methods else ""
            parts.append(f"latency {self.latency:g}s{on}")
        if self.drop or self.fail_status is not None:
            hit = f"answer {self.fail_status}/{self.fail_code} ({self.fail_body} body)"
            if self.drop:
                hit = "drop the connection"
            if self.fail_methods:
                hit += f" on {','.join(sorted(self.fail_methods))}"
            if self.fail_rate < 1:
                hit += f" at rate {self.fail_rate:g}"
            if self.fail_count is not None:
                hit += f" for the next {self.fail_count} matching requests"
            if self.retry_after is not None and self.fail_status in RETRY_AFTER_STATUSES:
                hit += f" with Retry-After {self.retry_after}"
            parts.append(hit)
        if self.slow_commit:
            parts.append(f"slow commit {self.slow_commit:g}s")
        if self.short_list is not None:
            parts.append(f"key lists cut to {self.short_list}")
        if self.fault_rate:
            parts.append(f"random faults at rate {self.fault_rate:g} ({', '.join(self.fault_kinds)})")
        if parts and self.seed is not None:
            parts.append(f"seed {self.seed}")
        return ", ".join(parts) or "none"


@dataclass
class SimulatedResponse:
    """One answer of the simulated gateway, before it goes on the wire."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def error_body(error_code: str | int, message: str, details: str) -> bytes:
    return json.dumps({"error": {"errorCode": error_code, "message": message, "details": details}}).encode()


def gateway_error(status: int, error_code: str, details: str) -> SimulatedResponse:
    return SimulatedResponse(status, error_body(error_code, GATEWAY_ERRORS[status, error_code], details), JSON_TYPE)


def fault_response(faults: Faults) -> SimulatedResponse:
    status, code = faults.fail_status, faults.fail_code
    headers = {}
    if faults.retry_after is not None and status in RETRY_AFTER_STATUSES:
        headers["Retry-After"] = str(faults.retry_after)
    if faults.fail_body == "empty":
        return SimulatedResponse(status, headers=headers)
    if faults.fail_body == "garbage":
        return SimulatedResponse(status, b"\x89\x00\xffnot json {{", JSON_TYPE, headers)
    if faults.fail_body == "html":
        page = html_page(status)
        page.headers.update(headers)
        return page
    error_code = int(code) if faults.fail_body == "gateway-numeric" else code
    body = error_body(error_code, GATEWAY_ERRORS[status, code], "simulated fault")
    content_type = "text/plain;charset=UTF-8" if faults.fail_body == "text-plain" else JSON_TYPE
    return SimulatedResponse(status, body, content_type, headers)


def cut_short(listing: SimulatedResponse, keep: int) -> SimulatedResponse:
    """A key list holding only its first `keep` keys, its totalCount unchanged: an answer cut short."""
    data = json.loads(listing.body)
    data["keyList"] = data["keyList"][:keep]
    return SimulatedResponse(listing.status, json.dumps(data).encode(), listing.content_type, dict(listing.headers))


def random_fault_response(kind: str, rng) -> SimulatedResponse:
    """The answer of a "before" kind of random fault (the change is not made)."""
    if kind == "error":
        status = rng.choice(RANDOM_ERROR_STATUSES)
        code = next(code for (each, code) in GATEWAY_ERRORS if each == status)
        return gateway_error(status, code, "simulated random fault")
    if kind == "html-error":
        return html_page(502)
    if kind == "bad-retry-after":
        response = gateway_error(503, "500", "simulated random fault")
        response.headers["Retry-After"] = rng.choice(BAD_RETRY_AFTERS)
        return response
    raise ValueError(f"{kind} is not answered before the change")


def html_page(status: int) -> SimulatedResponse:
    phrase = f"{status} {HTTPStatus(status).phrase}"
    page = f"<html><head><title>{phrase}</title></head><body><h1>{phrase}</h1></body></html>"
    return SimulatedResponse(status, page.encode(), "text/html;charset=UTF-8")
