"""The log-in and confirm-password pages: an empty box is named by the portal, in the portal's language (the browser's
own "Please fill out this field" bubble, in the browser's language, stopped it before); the pages' layout on a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.browser.test_language import switch_to

pytestmark = pytest.mark.browser


def test_an_empty_log_in_is_named_in_korean_by_a_browser_in_english(page, browser_member):
    page.goto("/accounts/login/")
    switch_to(page, "ko")
    expect(page.locator("html")).to_have_attribute("lang", "ko")

    page.get_by_role("button", name="로그인").click()

    expect(page.locator("#id_username_error")).to_have_text("사용자 이름을 입력하세요.")
    expect(page.locator("#id_password_error")).to_have_text("비밀번호를 입력하세요.")
    expect(page.locator("#id_username")).to_be_focused()
    page.locator("#id_username").fill("kim.minsu")
    page.keyboard.press("Enter")
    expect(page.locator("#id_password_error")).to_have_text("비밀번호를 입력하세요.")
    expect(page.locator("#id_password")).to_be_focused()
    page.locator("#id_password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/keys/")


def test_an_empty_password_confirmation_is_named_in_the_portals_language(page, log_in, settings):
    settings.KEYS_REAUTH_MINUTES = 0  # every change asks for the password
    log_in(page)
    page.goto("/tokens/")
    page.get_by_label("Token name").fill("provisioning")
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_role("button", name="Create token").click()
    page.wait_for_url("**/accounts/confirm-password/")

    page.get_by_role("button", name="Confirm").click()

    expect(page.locator("#id_password_error")).to_contain_text("Enter your password.")
    expect(page.locator("#id_password")).to_be_focused()
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/tokens/")
    expect(page.get_by_label("Token", exact=True)).to_be_visible()


def test_the_confirm_pages_cancel_is_apart_from_its_button_and_easy_to_tap_on_a_phone(page, log_in, settings):
    """Found at 375 px: Cancel sat against the Confirm button, a space apart, and was a line of text high, where
    every other form's Cancel is in its actions row (apart, and 44 px high on a phone)."""
    settings.KEYS_REAUTH_MINUTES = 0
    page.set_viewport_size({"width": 375, "height": 800})
    log_in(page)
    page.goto("/tokens/")
    page.get_by_label("Token name").fill("provisioning")
    page.get_by_role("button", name="Create token").click()
    page.wait_for_url("**/accounts/confirm-password/")

    button = page.get_by_role("button", name="Confirm").bounding_box()
    cancel = page.get_by_role("link", name="Cancel").bounding_box()
    assert cancel["x"] - (button["x"] + button["width"]) >= 16
    assert cancel["height"] >= 44
