"""Server-Timing: how long the portal took for a request, and how much of that was waiting for NSML.

Pure: no Django import. The NSML client reports each wait to `add_upstream_time` (keys.upstream); the middleware opens
an accumulator per request and writes `Server-Timing: total;dur=X, nsml;dur=Y` (milliseconds) on
every response it sees, so a browser's network panel and the benchmark (bench/) read the same figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# A one-item list, so code called from the request adds to the request's own total.
_upstream_ms: ContextVar[list[float] | None] = ContextVar("upstream_ms", default=None)


def add_upstream_time(ms: float) -> None:
    """Count `ms` of waiting for NSML against the current request; outside a request, nothing."""
    total = _upstream_ms.get()
    if total is not None:
        total[0] += ms


@contextmanager
def upstream_timer() -> Iterator[None]:
    """Time the block as waiting for NSML, whether it returns or raises."""
    started = time.perf_counter()
    try:
        yield
    finally:
        add_upstream_time((time.perf_counter() - started) * 1000)


class ServerTimingMiddleware:
    """Adds `Server-Timing: total;dur=X, nsml;dur=Y` to every response that passes through it."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        upstream = [0.0]
        token = _upstream_ms.set(upstream)
        try:
            response = self.get_response(request)
        finally:
            _upstream_ms.reset(token)
        total = (time.perf_counter() - started) * 1000
        response["Server-Timing"] = f"total;dur={total:.1f}, nsml;dur={upstream[0]:.1f}"
        return response
