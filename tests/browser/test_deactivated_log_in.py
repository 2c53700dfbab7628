"""A deactivated member at the log-in page: told so with their right password, refused as anyone with a wrong one."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("locale", "says"),
    [("en-US", "This account is deactivated, so it cannot log in."), ("ko-KR", "이 계정은 비활성화되어")],
)
def test_a_deactivated_member_with_the_right_password_is_told_to_ask_an_administrator(
    browser, portal, browser_member, check_page, locale, says
):
    """Found in the browser: a deactivated member typing their right password read "Please enter a correct username
    and password", and kept trying until the lock-out paused them."""
    browser_member.is_active = False
    browser_member.save(update_fields=["is_active"])
    context = browser.new_context(base_url=portal, locale=locale, viewport={"width": 375, "height": 667})
    page = context.new_page()
    page.goto("/accounts/login/")
    page.locator("#id_username").fill("kim.minsu")
    page.locator("#id_password").fill(PASSWORD)
    page.locator('main form button[type="submit"]').click()

    expect(page.get_by_role("alert")).to_contain_text(says)
    expect(page.locator("main .errors p")).to_have_count(0)  # no "tries are left": nothing was counted
    check_page(page, "login-deactivated")

    page.locator("#id_password").fill("not-the-password")
    page.locator('main form button[type="submit"]').click()
    expect(page.get_by_role("alert")).not_to_contain_text(says)
    context.close()
