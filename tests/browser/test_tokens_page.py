"""A member makes an access token on the Tokens page, uses it from a script over real HTTP, and revokes it;
the page in English and in Korean."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from keys.models import ApiToken
from tests.browser.test_language import switch_to
from tests.helpers import generate_private_key, public_line

pytestmark = pytest.mark.browser


def test_a_member_makes_a_token_uses_it_and_revokes_it(page, portal, log_in, browser_member, nsml, check_page):
    log_in(page)
    page.get_by_role("navigation").get_by_role("link", name="Access tokens").click()
    page.wait_for_url("**/tokens/")
    expect(page.get_by_text("You have no tokens yet.")).to_be_visible()
    check_page(page, "tokens-empty")

    page.get_by_label("Token name").fill("provisioning")
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_role("button", name="Create token").click()

    secret_box = page.get_by_label("Token", exact=True)
    expect(secret_box).to_be_visible()
    expect(page.get_by_text("it is shown only this once")).to_be_visible()
    secret = secret_box.input_value()
    token = ApiToken.objects.get()
    assert secret.startswith(token.prefix)
    expect(page.get_by_role("cell", name="provisioning", exact=True)).to_be_visible()
    check_page(page, "tokens-created")

    # The script's side, as curl would do it: real HTTP to the live portal, no cookie.
    headers = {"Authorization": f"Bearer {secret}"}
    line = public_line(generate_private_key(), "kim@laptop")
    created = requests.post(f"{portal}/api/v1/keys", json={"title": "kim-ci", "key": line}, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    listed = requests.get(f"{portal}/api/v1/keys", headers=headers, timeout=10)
    assert [key["title"] for key in listed.json()] == ["kim-ci"]

    page.goto("/tokens/")
    expect(page.get_by_text(secret)).to_have_count(0)  # shown once, never again
    expect(page.get_by_role("row", name="provisioning")).not_to_contain_text("never")  # last used is shown
    page.get_by_role("link", name="Revoke the token provisioning").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke the token “provisioning”?")
    check_page(page, "token-revoke")
    assert requests.get(f"{portal}/api/v1/keys", headers=headers, timeout=10).status_code == 200  # asked, not done
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("is revoked")
    expect(page.get_by_role("row", name="provisioning")).to_contain_text("Revoked")

    assert requests.get(f"{portal}/api/v1/keys", headers=headers, timeout=10).status_code == 401


def test_the_tokens_page_in_korean(page, log_in, browser_member, token_for, check_page):
    token_for(browser_member, name="provisioning")
    log_in(page)
    page.goto("/tokens/")

    switch_to(page, "ko")

    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("table")).to_be_visible()
    expect(page.get_by_role("cell", name="provisioning", exact=True)).to_be_visible()
    expect(page.locator("form.card input[name=name]")).to_be_visible()
    check_page(page, "tokens")

    page.locator("form.card input[name=name]").fill("ci")
    page.locator("form.card input[name=days]").fill("7")
    page.locator("form.card button[type=submit]").click()
    expect(page.locator("#new-token-secret")).to_be_visible()
    check_page(page, "tokens-created")


def test_the_new_tokens_secret_has_a_copy_button(page, context, portal, log_in, browser_member):
    """Found at 375 px: the secret, shown only once, sat in a read-only box cut off at the screen's edge, and
    the only way to take it was to select all of it by hand (the key's fingerprint has a Copy button)."""
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal)
    page.set_viewport_size({"width": 375, "height": 800})
    log_in(page)
    page.goto("/tokens/")
    page.get_by_label("Token name").fill("ci")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Token", exact=True).input_value()

    page.get_by_role("button", name="Copy").click()

    expect(page.locator("#new-token-copy-status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret


def test_reloading_the_page_that_showed_the_secret_makes_no_second_token(page, log_in, browser_member, check_page):
    log_in(page)
    page.goto("/tokens/")
    page.get_by_label("Token name").fill("provisioning")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_label("Token", exact=True)).to_be_visible()

    page.reload()  # the browser sends the POST again, as it does once its "resend?" question is answered yes

    expect(page.get_by_role("status")).to_contain_text("no second token was made")
    expect(page.get_by_role("status")).to_contain_text("revoke it and make a new one")
    expect(page.get_by_text("Choose another name")).to_have_count(0)
    expect(page.get_by_role("row", name="provisioning")).to_have_count(1)
    assert ApiToken.objects.filter(user=browser_member).count() == 1
    check_page(page, "token-form-sent-again")


def test_switching_language_right_after_making_a_token_keeps_its_secret_shown(page, log_in, browser_member):
    """Found in a browser: a member who chose 한국어 to read the page the secret was on lost the secret."""
    log_in(page)
    page.goto("/tokens/")
    page.get_by_label("Token name").fill("provisioning")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Token", exact=True).input_value()

    switch_to(page, "ko")

    page.wait_for_url("**/tokens/")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator("#new-token-secret")).to_have_value(secret)
    page.reload()
    expect(page.locator("#new-token-secret")).to_have_count(0)


def test_switching_language_keeps_what_was_typed_in_the_new_token_form(page, log_in, browser_member):
    """Found in a browser: a member who typed a new token's name, then chose 한국어, found the form empty again
    (the add-key form keeps its fields across the switch)."""
    log_in(page)
    page.goto("/tokens/")
    page.get_by_label("Token name").fill("provisioning script")
    page.get_by_label("Expires after (days)").fill("7")

    switch_to(page, "ko")

    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator("form.card input[name=name]")).to_have_value("provisioning script")
    expect(page.locator("form.card input[name=days]")).to_have_value("7")
    page.reload()  # kept for the switch only
    expect(page.locator("form.card input[name=name]")).to_have_value("")


def test_switching_language_never_keeps_a_tokens_secret(page, log_in, browser_member, token_for):
    """A token's secret pasted as a new token's name (a script's arguments swapped), and the secret a new token
    just showed, are never written to the tab's storage on the way through the switch."""
    pasted = token_for(browser_member, name="provisioning")
    # Every value the page writes to sessionStorage, kept where the next page can read it.
    page.add_init_script(
        "const set = Storage.prototype.setItem; Storage.prototype.setItem = function (name, value) {"
        " if (this === window.sessionStorage) localStorage.setItem('written', (localStorage.getItem('written') || '')"
        " + value); return set.call(this, name, value); };"
    )
    log_in(page)
    page.goto("/tokens/")
    page.get_by_label("Token name").fill("ci")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_label("Token", exact=True)).to_be_visible()
    page.locator("form.card input[name=name]").fill(pasted)

    switch_to(page, "ko")

    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator("form.card input[name=name]")).to_have_value("")
    assert "nsmlk_" not in (page.evaluate("() => localStorage.getItem('written')") or "")


def test_the_new_tokens_copy_button_lines_up_under_its_box(page, log_in, browser_member):
    """Found at 375 px and 1280 px: the Copy button under the full-width secret box was pushed half a rem right of
    it (the margin meant for a copy button beside a fingerprint) and touched the box's bottom edge."""
    log_in(page)
    page.goto("/tokens/")
    page.get_by_label("Token name").fill("provisioning")
    page.get_by_role("button", name="Create token").click()

    box = page.get_by_label("Token", exact=True).bounding_box()
    copy = page.get_by_role("button", name="Copy").bounding_box()
    assert copy["x"] == box["x"]
    assert copy["y"] - (box["y"] + box["height"]) >= 6
