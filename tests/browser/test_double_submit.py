"""A double click on "Register key" or "Create token" sends one request: the button is disabled meanwhile."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from keys.models import ApiToken
from nsml.simulator import Faults
from tests.helpers import posts_seen

pytestmark = pytest.mark.browser


def double_click_like_a_person(page, locator) -> None:
    # Playwright's dblclick() fires both clicks in one task, which Chromium folds into one submission
    # with or without our script. A person's second click comes ~100 ms later, once the first request
    # is on its way; without the script that one is sent too (tried: two POSTs reach the portal).
    box = locator.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(120)
    page.mouse.click(x, y, click_count=2)


def test_a_double_click_sends_one_registration(page, log_in, nsml, new_public_key):
    nsml.set_faults(Faults(latency=0.5))  # the first submission is still in flight when the second click lands
    log_in(page)
    page.goto("/keys/new/")
    page.get_by_label("Title", exact=True).fill("kim-minsu-laptop")
    page.get_by_label("Public key", exact=True).fill(new_public_key())
    submissions: list[str] = []
    page.on("request", lambda request: submissions.append(request.url) if request.method == "POST" else None)

    double_click_like_a_person(page, page.get_by_role("button", name="Register key"))

    page.wait_for_url(re.compile(r"/keys/\d+/$"))
    expect(page.locator("#fingerprint")).to_be_visible()
    assert len(submissions) == 1
    assert posts_seen(nsml) == ["/nsml/v1/auth-keys"]


def test_a_double_click_on_create_token_makes_one_token_and_shows_its_secret(page, log_in):
    # The second click of a quick double click lands while the first request runs: sent too, it made a second
    # request that lost the race (the name taken, or the form "sent again"), and its answer, the one the browser
    # showed, had no secret: the member was left with a token whose secret they never saw.
    log_in(page)
    page.goto("/tokens/")
    page.get_by_label("Token name").fill("provisioning")
    submissions: list[str] = []
    page.on("request", lambda request: submissions.append(request.url) if request.method == "POST" else None)
    button = page.get_by_role("button", name="Create token")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    page.mouse.click(x, y)
    page.wait_for_timeout(30)
    page.mouse.click(x, y, click_count=2)

    secret_box = page.get_by_label("Token", exact=True)
    expect(secret_box).to_be_visible()
    assert len(submissions) == 1
    assert secret_box.input_value().startswith(ApiToken.objects.get().prefix)
