"""With NSML misbehaving in each way, a member submitting through the browser always gets a clear
page in about NSML_TIMEOUT plus one lookup, and a slow-commit key shows as registered."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from nsml.simulator import Faults
from tests.helpers import generate_private_key, nsml_sync, public_line

pytestmark = pytest.mark.browser

TIMEOUT = 1.0
POST = frozenset({"POST"})

FAULTS = [
    pytest.param(Faults(fail_status=503, fail_methods=POST), "NSML is not available right now", id="unavailable"),
    pytest.param(Faults(fail_status=401, fail_code="200"), "Please tell an administrator", id="credentials"),
    pytest.param(Faults(fail_status=429, fail_code="420"), "try again in a minute", id="throttled"),
    pytest.param(
        Faults(fail_status=502, fail_body="html", fail_methods=POST), "NSML is not available right now", id="html-body"
    ),
    pytest.param(Faults(drop=True, fail_methods=frozenset({"POST"})), "your key is not registered", id="dropped"),
]


def submit(page, title: str) -> float:
    page.goto("/keys/new/")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Public key", exact=True).fill(public_line(generate_private_key()))
    started = time.monotonic()
    page.get_by_role("button", name="Register key").click()
    page.wait_for_load_state()
    return started


@pytest.mark.parametrize(("faults", "says"), FAULTS)
def test_each_fault_gets_a_clear_page_in_time(page, log_in, nsml, settings, faults, says):
    settings.NSML_TIMEOUT = TIMEOUT
    log_in(page)
    nsml.set_faults(faults)

    started = submit(page, "kim-minsu-laptop")

    expect(page.get_by_role("alert").filter(has_text=says)).to_be_visible(timeout=10_000)
    assert time.monotonic() - started < TIMEOUT * 2 + settings.NSML_CONNECT_TIMEOUT + 2
    expect(page.get_by_label("Title", exact=True)).to_have_value("kim-minsu-laptop")  # input survives
    assert nsml.held_keys() == []


def test_an_nsml_slower_than_the_timeout_shows_the_key_as_pending_then_active(page, log_in, nsml, settings):
    settings.NSML_TIMEOUT = TIMEOUT
    settings.NSML_SYNC_TIMEOUT = 5.0
    log_in(page)
    nsml.set_faults(Faults(latency=2.0))

    submit(page, "kim-minsu-laptop")

    page.wait_for_url(re.compile(r"/keys/\d+/$"), timeout=10_000)
    expect(page.locator(".status.pending")).to_have_text("Checking with NSML")
    expect(page.get_by_role("status").filter(has_text="no need to submit it again")).to_be_visible()
    expect(page.get_by_role("button", name="Register key")).to_have_count(0)

    time.sleep(2.5)  # the simulator stores the key once its latency has passed
    # Settling the portal's own submission is what a pass is for: in sync (0), not drift (1).
    assert nsml_sync("--apply")[0] == 0
    page.reload()
    expect(page.locator(".status.active")).to_have_text("Active")


def test_a_slow_commit_shows_as_registered(page, log_in, nsml, settings):
    settings.NSML_TIMEOUT = TIMEOUT
    log_in(page)
    nsml.set_faults(Faults(slow_commit=2.5))

    submit(page, "kim-minsu-laptop")

    page.wait_for_url(re.compile(r"/keys/\d+/$"), timeout=10_000)
    expect(page.get_by_role("status").filter(has_text="is registered with NSML")).to_be_visible()
    assert [key["title"] for key in nsml.held_keys()] == ["kim-minsu-laptop"]
