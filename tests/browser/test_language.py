"""The language switch in the header: a POST to /i18n/setlang/ that comes back in Korean, and back again."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.helpers import generate_private_key, private_text, public_line

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


def test_switching_language_on_a_refused_form_keeps_what_was_typed(page, log_in, browser_member):
    """Found in the browser: a member whose key was refused switched to Korean to read why, and got an empty form
    back; the title and the key had to be typed and pasted again."""
    key = public_line(generate_private_key("ed25519"), "kim@laptop")
    log_in(page)
    page.goto("/keys/new/")
    page.get_by_label("Title", exact=True).fill("9-laptop")  # a title must start with a letter
    page.get_by_label("Public key", exact=True).fill(key)
    page.locator('input[name="expires_at"]').fill(page.locator('input[name="expires_at"]').get_attribute("min"))
    page.get_by_role("button", name="Register key").click()
    expect(page.locator(".field.invalid")).to_have_count(1)  # refused by the server, the key shown back
    chosen = page.locator('input[name="expires_at"]').input_value()

    switch_to(page, "ko")

    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator('input[name="title"]')).to_have_value("9-laptop")
    expect(page.locator('textarea[name="key"]')).to_have_value(key)
    expect(page.locator('input[name="expires_at"]')).to_have_value(chosen)
    page.reload()  # what was kept is given back once, not at every visit
    expect(page.locator('textarea[name="key"]')).to_have_value("")
    expect(page.locator('input[name="title"]')).not_to_have_value("kim-laptop")  # the page's own suggestion


def test_switching_language_never_keeps_a_private_key(page, log_in, browser_member):
    log_in(page)
    page.goto("/keys/new/")
    page.get_by_label("Title", exact=True).fill("kim-laptop")
    page.get_by_label("Public key", exact=True).fill(private_text(generate_private_key("ed25519")))

    switch_to(page, "ko")

    expect(page.locator('input[name="title"]')).to_have_value("kim-laptop")
    expect(page.locator('textarea[name="key"]')).to_have_value("")
    kept = page.evaluate("() => JSON.stringify(Object.entries(sessionStorage))")
    assert "PRIVATE" not in kept and "b3BlbnNzaC1rZXktdjE" not in kept


def test_switching_language_never_keeps_a_private_key_pasted_as_the_title(page, log_in, browser_member):
    """Found in the browser: a private key pasted into the title box (one line of it, as a text box keeps it) came
    back in that box after the language switch, kept in the tab's storage on the way."""
    private = private_text(generate_private_key("ed25519"))
    log_in(page)
    page.goto("/keys/new/")
    title = page.get_by_label("Title", exact=True)
    title.fill(private)
    # The check as one types names it a private key, as the server does, not a title too long.
    expect(page.locator("#id_title_check")).to_contain_text("private key")
    sent = []
    page.on("request", lambda request: sent.append(request.post_data or "") if request.method == "POST" else None)
    page.get_by_role("button", name="Register key").click()  # refused here: the private key is not sent
    expect(page.locator("#id_title_check")).to_be_visible()

    switch_to(page, "ko")

    assert not any("PRIVATE" in body for body in sent)
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    assert "PRIVATE" not in page.locator('input[name="title"]').input_value()
    kept = page.evaluate("() => JSON.stringify(Object.entries(sessionStorage))")
    assert "PRIVATE" not in kept and "b3BlbnNzaC1rZXktdjE" not in kept
