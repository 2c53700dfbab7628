"""The language switch in the header: a POST to /i18n/setlang/ that comes back in Korean, and back again."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def switch_to(page, code: str) -> None:
    # Found by its value: the button's name is the language's name in the current language ("영어").
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/i18n/setlang/")) as answer:
        page.locator(f'header button[name="language"][value="{code}"]').click()
    assert answer.value.status == 302


def test_a_member_switches_to_korean_and_back(page, log_in, register, browser_member, check_page):
    key = register(browser_member, "kim-minsu-laptop")
    log_in(page)
    expect(page.locator("html")).to_have_attribute("lang", "en")

    switch_to(page, "ko")

    page.wait_for_url("**/keys/")  # the switch returns to the page it was pressed on
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_role("heading", level=1)).to_have_text("내 키")
    check_page(page, "keys-list")
    for path, name in (
        (f"/keys/{key.pk}/", "key-detail"),
        ("/keys/new/", "key-new"),
        (f"/keys/{key.pk}/revoke/", "key-revoke"),
    ):
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        check_page(page, name)

    switch_to(page, "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Revoke “kim-minsu-laptop”?")).to_be_visible()


def test_the_login_page_switches_to_korean(page, portal, check_page):
    page.goto("/accounts/login/")
    check_page(page, "login")

    switch_to(page, "ko")

    expect(page.locator("html")).to_have_attribute("lang", "ko")
    check_page(page, "login")
