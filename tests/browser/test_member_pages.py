"""Member pages in the browser, in English and Korean, at desktop and phone width: focus goes where the
member must act, taps cannot slip, revoked keys are out of the way, Korean words stay whole."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ACTION_TIMEOUT_MS
from tests.helpers import generate_private_key, public_line

pytestmark = pytest.mark.browser

LANGUAGES = ["en-US", "ko-KR"]


@pytest.fixture(params=LANGUAGES)
def localized_page(request, browser, portal):
    """A tab whose browser asks for English or Korean, at a phone's width."""
    context = browser.new_context(base_url=portal, locale=request.param, viewport={"width": 375, "height": 800})
    opened = context.new_page()
    opened.set_default_timeout(ACTION_TIMEOUT_MS)
    yield opened
    context.close()


def log_in_as(page, username: str = "kim.minsu", password: str = "browser-password-1") -> None:
    page.goto("/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url("**/keys/")


def test_a_refusal_by_the_server_puts_the_cursor_in_the_field_in_error(
    localized_page, browser_member, register, nsml, check_page
):
    page = localized_page
    register(browser_member, "kim-minsu-laptop")
    log_in_as(page)
    page.goto("/keys/new/")

    # A duplicate title: only the server knows, so the page comes back with the error.
    page.locator("#id_title").fill("kim-minsu-laptop")
    page.locator("#id_key").fill(public_line(generate_private_key()))
    page.locator("form[data-key-form] button[type=submit]").click()
    page.wait_for_load_state()

    expect(page.locator("#id_title_error")).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "id_title"
    check_page(page, "key-new-refused-phone")


def test_a_wrong_password_puts_the_cursor_in_the_password_field(localized_page, browser_member):
    page = localized_page
    page.goto("/accounts/login/")
    page.locator("#id_username").fill("kim.minsu")
    page.locator("#id_password").fill("not-the-password")
    page.locator("form.card button[type=submit]").click()
    page.wait_for_load_state()

    assert page.evaluate("document.activeElement.id") == "id_password"


def test_revoke_and_cancel_are_far_apart_and_big_enough_to_tap(
    localized_page, browser_member, register, nsml, check_page
):
    page = localized_page
    key = register(browser_member, "kim-minsu-laptop")
    log_in_as(page)
    page.goto(f"/keys/{key.pk}/revoke/")

    revoke = page.locator("form button.danger").bounding_box()
    cancel = page.locator("form .actions a").bounding_box()

    assert revoke["height"] >= 44 and cancel["height"] >= 44
    assert revoke["width"] >= 44 and cancel["width"] >= 44
    gap_across = cancel["x"] - (revoke["x"] + revoke["width"])
    gap_down = cancel["y"] - (revoke["y"] + revoke["height"])
    assert max(gap_across, gap_down) >= 24
    check_page(page, "key-revoke-phone")


def test_revoked_keys_are_collapsed_below_the_current_ones(localized_page, browser_member, register, nsml, check_page):
    page = localized_page
    register(browser_member, "kim-minsu-laptop")
    old = register(browser_member, "kim-minsu-desktop")
    log_in_as(page)
    page.goto(f"/keys/{old.pk}/revoke/")
    page.locator("form button.danger").click()
    page.wait_for_url(f"**/keys/{old.pk}/")

    page.goto("/keys/")

    expect(page.get_by_role("link", name="kim-minsu-laptop")).to_be_visible()
    expect(page.get_by_role("link", name="kim-minsu-desktop")).to_be_hidden()
    page.locator("details.history summary").click()
    expect(page.get_by_role("link", name="kim-minsu-desktop")).to_be_visible()
    check_page(page, "keys-list-history-phone")


def test_korean_words_do_not_break_mid_syllable(browser, portal, browser_member, register, nsml):
    context = browser.new_context(base_url=portal, locale="ko-KR", viewport={"width": 375, "height": 800})
    page = context.new_page()
    key = register(browser_member, "kim-minsu-laptop")
    log_in_as(page)
    page.goto(f"/keys/{key.pk}/revoke/")

    assert page.locator("html").get_attribute("lang") == "ko"
    assert page.evaluate("getComputedStyle(document.querySelector('main h1')).wordBreak") == "keep-all"
    context.close()


def test_on_a_phone_each_value_of_a_key_and_a_token_says_what_it_is(
    localized_page, browser_member, register, token_for, nsml
):
    """Found at 375 px: the column headers were hidden and the cards showed bare dates, one above the other
    (Added, Expires; Created, Last used, Expires), with nothing to tell them apart."""
    page = localized_page
    register(browser_member, "kim-minsu-laptop")
    token_for(browser_member, name="ci")
    log_in_as(page)

    for path, labels in (("/keys/", ("Added", "추가")), ("/tokens/", ("Last used", "마지막 사용"))):
        page.goto(path)
        cell = page.locator("table.keys tbody td").nth(3)
        shown = page.evaluate("cell => getComputedStyle(cell, '::before').content", cell.element_handle())
        assert labels[0] in shown or labels[1] in shown, shown


@pytest.mark.parametrize("width", [375, 1280])
def test_a_title_of_64_letters_without_a_hyphen_does_not_widen_the_page(
    browser, portal, browser_member, register, token_for, nsml, width
):
    """Found in a browser pass: NSML allows 64 letters with no hyphen, and in English such a title did not
    break. The key's page, its revoke and rotate pages were 1,485 px wide at 375 px (1,645 at 1,280), and
    the list 686 (1,336): the member scrolled sideways to find the fingerprint and the buttons."""
    context = browser.new_context(base_url=portal, locale="en-US", viewport={"width": width, "height": 800})
    page = context.new_page()
    key = register(browser_member, "k" + "m" * 63)
    token_for(browser_member, name="t" * 64)
    log_in_as(page)

    for path in ("/keys/", f"/keys/{key.pk}/", f"/keys/{key.pk}/revoke/", f"/keys/{key.pk}/rotate/", "/tokens/"):
        page.goto(path)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"{path} is {widths[0]} px wide in a {widths[1]} px window"
    context.close()


def test_the_date_and_days_boxes_are_as_easy_to_tap_as_the_text_boxes(localized_page, browser_member, register, nsml):
    """Found at 360 px: the expiry date (add a key, a key's page) and the token's days were the browser's bare
    inputs, 21 px high in a smaller font, under text boxes 42 px high: hard to tap, and easy to miss."""
    page = localized_page
    key = register(browser_member, "kim-minsu-laptop")
    log_in_as(page)

    for path, box, beside in (
        ("/keys/new/", "#id_expires_at", "#id_title"),
        (f"/keys/{key.pk}/", "form.expiry-form input[type=date]", None),
        ("/tokens/", "#id_days", "#id_name"),
    ):
        page.goto(path)
        height = page.locator(box).bounding_box()["height"]
        assert height >= 40, f"{box} on {path} is {height} px high"
        if beside:
            assert abs(height - page.locator(beside).bounding_box()["height"]) <= 3
        font = page.evaluate("selector => getComputedStyle(document.querySelector(selector)).fontSize", box)
        assert font == page.evaluate("getComputedStyle(document.body).fontSize"), (box, font)


# Each line a code element is laid out in, as its characters' boxes fall (a <wbr> is no character).
CODE_LINES_JS = """code => {
  const lines = [];
  let top = null;
  const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = range.getClientRects()[0];
      if (box && (top === null || box.top > top + 2)) { lines.push(""); top = box.top; }
      lines[lines.length - 1] += node.data[i];
    }
  }
  return lines;
}"""
SELECTED_JS = """code => {
  const range = document.createRange();
  range.selectNodeContents(code);
  getSelection().removeAllRanges();
  getSelection().addRange(range);
  return getSelection().toString();
}"""


def test_the_add_key_pages_paths_break_after_a_separator_and_copy_as_typed(localized_page, browser_member):
    """Found at 375 px: the PowerShell path broke as "...id_ed25519.pu" / "b", and in Korean the Windows one broke
    inside its placeholder "<사용자명>"."""
    page = localized_page
    log_in_as(page)
    page.goto("/keys/new/")

    codes = page.locator(".key-help dd code")
    assert codes.count() == 6
    for code in codes.all():
        lines = code.evaluate(CODE_LINES_JS)
        for line, next_line in zip(lines, lines[1:], strict=False):
            assert line[-1] in "\\/ " or next_line.startswith(" "), lines
        assert code.evaluate(SELECTED_JS) == "".join(lines)
    assert "USERPROFILE\\.ssh\\id_ed25519.pub" in page.locator(".key-help").inner_text()
