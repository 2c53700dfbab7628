"""With JavaScript off, a refused form puts the cursor in the first field in error, as focus.js does with it on.

Found in a browser pass with the keyboard and JavaScript off: after a refusal the cursor was at the top of the
page, and a keyboard user tabbed through the header to reach the field the message was about.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.helpers import generate_private_key, public_line

pytestmark = pytest.mark.browser


def test_a_refused_title_has_the_cursor(page_without_script, log_in, nsml):
    page = page_without_script
    log_in(page)
    page.goto("/keys/new/")
    page.get_by_label("Title", exact=True).fill("김민수-노트북")
    page.get_by_label("Public key", exact=True).fill(public_line(generate_private_key()))
    page.get_by_role("button", name="Register key").click()

    expect(page.locator("#id_title_error")).to_be_visible()
    expect(page.get_by_label("Title", exact=True)).to_be_focused()


def test_a_refused_key_has_the_cursor_not_the_valid_title_before_it(page_without_script, log_in, nsml):
    page = page_without_script
    log_in(page)
    page.goto("/keys/new/")
    page.get_by_label("Title", exact=True).fill("kim-minsu-laptop")
    page.get_by_label("Public key", exact=True).fill("ssh-ed25519 this-is-not-base64")
    page.get_by_role("button", name="Register key").click()

    expect(page.locator("#id_key_error")).to_be_visible()
    expect(page.get_by_label("Public key", exact=True)).to_be_focused()


def test_a_refused_token_name_has_the_cursor(page_without_script, log_in):
    page = page_without_script
    log_in(page)
    page.goto("/tokens/")
    page.get_by_label("Token name").fill("   ")  # blank: the browser lets it through, the server refuses it
    page.get_by_role("button", name="Create token").click()

    expect(page.locator("#id_name_error")).to_have_text("Enter a name for the token.")
    expect(page.get_by_label("Token name")).to_be_focused()


def test_a_refused_expiry_has_the_cursor(page_without_script, log_in, register, browser_member, nsml):
    page = page_without_script
    key = register(browser_member, "kim-minsu-laptop")
    log_in(page)
    page.goto(f"/keys/{key.pk}/")
    date = page.locator("#id_expires_at")
    date.evaluate("field => field.removeAttribute('min')")
    date.fill("2020-01-01")
    page.locator("form.expiry-form button[type=submit]").click()

    expect(page.locator("#id_expires_at_error")).to_be_visible()
    expect(date).to_be_focused()


def test_a_form_not_yet_sent_takes_no_cursor(page_without_script, log_in):
    page = page_without_script
    log_in(page)
    page.goto("/keys/new/")

    assert page.locator("[autofocus]").count() == 0  # the page is read from the top before anything is typed


def test_a_refused_password_has_the_cursor_not_the_name_before_it(page_without_script, browser_member):
    page = page_without_script
    page.goto("/accounts/login/")
    expect(page.get_by_label("Username")).to_be_focused()
    page.get_by_label("Username").fill("kim.minsu")
    page.get_by_label("Password").fill("not-my-password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/keys/")
