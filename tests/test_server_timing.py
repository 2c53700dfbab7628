"""Server-Timing on every response: the portal's total time and the part spent waiting for NSML.

Behaviour only: the header is there, has the documented shape, its total is no more than the caller
waited, and its nsml figure is the simulator's injected latency, counted once and only in the request
that waited. How fast the portal is gets measured by `make bench`, never here.
"""

from __future__ import annotations

import re
import time

import pytest
from django.urls import reverse

from nsml.simulator import Faults
from portal.timing import add_upstream_time, upstream_timer

pytestmark = pytest.mark.django_db

NEW = reverse("keys:new")
HEADER = re.compile(r"total;dur=(?P<total>[0-9]+\.[0-9]), nsml;dur=(?P<nsml>[0-9]+\.[0-9])")


def timed(call) -> tuple[object, float, float, float]:
    """The response, its Server-Timing total and nsml figures, and how long the caller waited (all in ms)."""
    started = time.perf_counter()
    response = call()
    waited = (time.perf_counter() - started) * 1000
    match = HEADER.fullmatch(response["Server-Timing"])
    assert match, response["Server-Timing"]
    return response, float(match["total"]), float(match["nsml"]), waited


def test_it_times_the_health_check_without_nsml(client):
    response, total, nsml, waited = timed(lambda: client.get(reverse("healthz")))

    assert response.status_code == 200
    assert nsml == 0.0
    assert 0.0 < total <= waited + 0.1  # the header rounds to 0.1 ms


def test_it_times_pages_that_are_not_found(client):
    response, total, nsml, waited = timed(lambda: client.get("/no-such-page/"))

    assert response.status_code == 404
    assert nsml == 0.0
    assert 0.0 < total <= waited + 0.1


def test_it_counts_the_nsml_call_of_a_key_submission(member_client, nsml, new_public_key):
    response, total, upstream, waited = timed(
        lambda: member_client.post(NEW, {"title": "laptop", "key": new_public_key()})
    )

    assert response.status_code == 302
    assert 0.0 < upstream <= total <= waited + 0.1


# An NSML that takes LATENCY_S per call: the nsml figure is that wait, counted once, not doubled.
LATENCY_S = 0.2


def test_it_counts_the_whole_wait_for_a_slow_nsml(member_client, nsml, new_public_key):
    nsml.set_faults(Faults(latency=LATENCY_S))

    response, total, upstream, waited = timed(
        lambda: member_client.post(NEW, {"title": "laptop", "key": new_public_key()})
    )

    assert response.status_code == 302
    assert LATENCY_S * 1000 <= upstream < 2 * LATENCY_S * 1000
    assert upstream <= total <= waited + 0.1


def test_it_counts_a_failed_nsml_call_too(member_client, nsml, new_public_key):
    nsml.set_faults(Faults(latency=LATENCY_S, fail_status=503, fail_methods=frozenset({"POST"})))

    response, total, upstream, waited = timed(
        lambda: member_client.post(NEW, {"title": "laptop", "key": new_public_key()})
    )

    assert response.status_code == 200  # the form again, with the error
    # The POST (never retried) and the one lookup that settles its unknown outcome.
    assert 2 * LATENCY_S * 1000 <= upstream < 3 * LATENCY_S * 1000
    assert upstream <= total <= waited + 0.1


def test_nsml_time_outside_a_request_is_not_charged_to_the_next_one(client):
    add_upstream_time(5000.0)
    with upstream_timer():
        time.sleep(0.01)  # a command or a shell calling NSML has no request to report to

    response, _total, nsml, _waited = timed(lambda: client.get(reverse("healthz")))

    assert response.status_code == 200
    assert nsml == 0.0
