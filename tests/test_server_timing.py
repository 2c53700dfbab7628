"""Server-Timing on every response: the portal's total time and the part spent waiting for NSML.

Behaviour only: the header is there, has the documented shape, and counts the NSML wait where the
HTTP call happens. How fast anything is gets measured by `make bench`, never here.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from nsml.simulator import Faults
from portal.timing import add_upstream_time, upstream_timer

pytestmark = pytest.mark.django_db

NEW = reverse("keys:new")
HEADER = re.compile(r"total;dur=(?P<total>[0-9]+\.[0-9]), nsml;dur=(?P<nsml>[0-9]+\.[0-9])")


def timings(response) -> tuple[float, float]:
    match = HEADER.fullmatch(response["Server-Timing"])
    assert match, response["Server-Timing"]
    return float(match["total"]), float(match["nsml"])


def test_it_times_the_health_check_without_nsml(client):
    response = client.get(reverse("healthz"))

    total, nsml = timings(response)
    assert response.status_code == 200
    assert nsml == 0.0
    assert total >= 0.0


def test_it_times_pages_that_are_not_found(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    timings(response)


def test_it_counts_the_nsml_call_of_a_key_submission(member_client, nsml, new_public_key):
    response = member_client.post(NEW, {"title": "laptop", "key": new_public_key()})

    total, upstream = timings(response)
    assert response.status_code == 302
    assert upstream > 0.0
    assert total >= upstream


def test_it_counts_the_whole_wait_for_a_slow_nsml(member_client, nsml, new_public_key):
    nsml.set_faults(Faults(latency=0.2))

    response = member_client.post(NEW, {"title": "laptop", "key": new_public_key()})

    total, upstream = timings(response)
    assert response.status_code == 302
    assert upstream >= 200.0
    assert total >= upstream


def test_it_counts_a_failed_nsml_call_too(member_client, nsml, new_public_key):
    nsml.set_faults(Faults(latency=0.05, fail_status=503))

    response = member_client.post(NEW, {"title": "laptop", "key": new_public_key()})

    _total, upstream = timings(response)
    assert response.status_code == 200  # the form again, with the error
    assert upstream >= 50.0


def test_nsml_time_outside_a_request_goes_nowhere():
    add_upstream_time(5.0)
    with upstream_timer():
        pass  # a command or a shell calling NSML has no request to report to
