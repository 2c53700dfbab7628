"""Refusals a member sees next to the field they concern: a bad key, a private key, a bad title."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.helpers import generate_private_key, posts_seen, private_text, public_line

pytestmark = pytest.mark.browser

NOT_A_KEY = "ssh-ed25519 this-is-not-base64 kim@laptop"
PRIVATE_KEY_WARNING = "This is your private key, which must never leave your computer."
PRIVATE_KEY_REMOVED = "That was your private key, which must never leave your computer: it was removed from the box"


def fill_form(page, title: str, key: str) -> None:
    page.goto("/keys/new/")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Public key", exact=True).fill(key)


def paste(page, context, portal, box, text: str) -> None:
    """Paste `text` into `box` as a member does, Ctrl+V from the clipboard: one edit, in the box's undo history."""
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal)
    page.evaluate("text => navigator.clipboard.writeText(text)", text)
    box.focus()
    page.keyboard.press("Control+v")


def a_private_key() -> tuple[str, str]:
    """An OpenSSH private key, and one line of its body that must never be echoed back."""
    text = private_text(generate_private_key("ed25519"))
    return text, text.splitlines()[2]


def test_a_bad_key_is_refused_next_to_the_key_field(page, log_in, nsml, check_page):
    log_in(page)
    fill_form(page, "kim-minsu-laptop", NOT_A_KEY)
    page.get_by_role("button", name="Register key").click()

    error = page.locator("#id_key_error")
    expect(error).to_be_visible()
    expect(page.get_by_label("Public key", exact=True)).to_have_attribute("aria-invalid", "true")
    assert "id_key_error" in page.get_by_label("Public key", exact=True).get_attribute("aria-describedby").split()
    expect(page.locator("#id_title_error")).to_have_count(0)
    assert nsml.held_keys() == [] and posts_seen(nsml) == []
    check_page(page, "key-new-refused")


def test_the_page_stops_a_pasted_private_key_before_it_is_sent(page, log_in, nsml):
    private_key, _ = a_private_key()
    log_in(page)
    fill_form(page, "kim-minsu-laptop", private_key)

    warning = page.locator("#id_key_check")
    expect(warning).to_contain_text(PRIVATE_KEY_REMOVED)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    page.get_by_role("button", name="Register key").click()

    expect(page.get_by_label("Public key", exact=True)).to_be_focused()
    assert sent == [] and posts_seen(nsml) == []


def test_the_server_refuses_a_private_key_without_the_script(page_without_script, log_in, nsml):
    page = page_without_script
    private_key, secret_line = a_private_key()
    log_in(page)
    fill_form(page, "kim-minsu-laptop", private_key)
    page.get_by_role("button", name="Register key").click()

    expect(page.locator("#id_key_error")).to_contain_text(PRIVATE_KEY_WARNING)
    expect(page.get_by_label("Public key", exact=True)).to_have_value("")
    assert secret_line not in page.content()
    assert "PRIVATE KEY" not in page.content()
    assert posts_seen(nsml) == []
    # No audit here: axe runs as JavaScript in the page. The same refused form is audited, with the
    # script on, in test_a_bad_key_is_refused_next_to_the_key_field.


def test_the_title_rules_are_checked_while_typing(page, log_in, nsml):
    log_in(page)
    page.goto("/keys/new/")
    title = page.get_by_label("Title", exact=True)
    hint = page.locator("#id_title_check")

    title.fill("my laptop")
    expect(hint).to_have_text("Use only English letters, digits and hyphens (-) in the title.")
    expect(title).to_have_attribute("aria-invalid", "true")
    title.fill("my--laptop")
    expect(hint).to_have_text("The title cannot contain two hyphens in a row (--).")
    title.fill("1laptop")
    expect(hint).to_have_text("The title must begin with an English letter.")
    title.fill("a" * 65)
    expect(hint).to_have_text("The title can be at most 64 characters long.")

    title.fill("kim-minsu-laptop")
    expect(hint).to_be_hidden()
    expect(title).not_to_have_attribute("aria-invalid", "true")


def test_a_wrong_title_and_a_wrong_key_are_both_named_at_once(page, log_in, nsml):
    log_in(page)
    fill_form(page, "my laptop", NOT_A_KEY)
    page.get_by_role("button", name="Register key").click()

    expect(page.locator("#id_title_error")).to_have_text(
        "Use only English letters, digits and hyphens (-) in the title."
    )
    expect(page.locator("#id_key_error")).to_contain_text("not valid base64")
    expect(page.get_by_label("Title", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Public key", exact=True)).to_have_attribute("aria-invalid", "true")
    assert nsml.held_keys() == [] and posts_seen(nsml) == []


def test_a_wrong_title_next_to_an_empty_key_is_stopped_here_with_both_messages(page, log_in, nsml):
    log_in(page)
    fill_form(page, "my laptop", "")
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    page.get_by_role("button", name="Register key").click()

    expect(page.locator("#id_title_check")).to_have_text(
        "Use only English letters, digits and hyphens (-) in the title."
    )
    expect(page.locator("#id_key_check")).to_have_text("Paste your public key: the contents of your .pub file.")
    expect(page.get_by_label("Title", exact=True)).to_be_focused()
    assert sent == []


@pytest.mark.parametrize("lang", ["en-US", "ko-KR"])
def test_a_paste_too_big_for_any_request_is_stopped_here_with_the_forms_own_words(
    browser, portal, browser_member, lang
):
    # 3 MB, past Django's 2.5 MB request limit: sent, it came back as a bare "could not read this request"
    # page, the title and everything else lost.
    made = browser.new_context(base_url=portal, locale=lang)
    page = made.new_page()
    page.goto("/accounts/login/")
    page.locator("#id_username").fill("kim.minsu")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password").press("Enter")
    page.wait_for_url("**/keys/")
    page.goto("/keys/new/")
    page.locator("#id_title").fill("kim-minsu-laptop")
    page.locator("#id_key").evaluate(
        "box => { box.value = 'ssh-ed25519 ' + 'A'.repeat(3 * 1024 * 1024); box.dispatchEvent(new Event('input')); }"
    )
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)

    page.locator("form[data-key-form] button[type=submit]").click()

    says = "This is longer than 16 KiB" if lang == "en-US" else "16 KiB를 넘습니다"
    expect(page.locator("#id_key_check")).to_contain_text(says)
    expect(page.locator("#id_key")).to_be_focused()
    expect(page.locator("#id_title")).to_have_value("kim-minsu-laptop")
    assert sent == []
    made.close()


def test_the_page_stops_a_putty_key_file_saying_where_puttygen_shows_the_public_key(page, log_in, nsml):
    public_blob = public_line(generate_private_key("ed25519")).split()[1]
    ppk = (
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key-20261129\nPublic-Lines: 2\n"
        f"{public_blob[:64]}\n{public_blob[64:]}\nPrivate-Lines: 1\nAAAAIFl0b3VzaG91bGRub3RwYXN0ZXRoaXNoZXJlAAAA\n"
        f"Private-MAC: {'7e' * 32}\n"
    )
    log_in(page)
    fill_form(page, "kim-minsu-laptop", ppk)

    expect(page.locator("#id_key_check")).to_contain_text("Open it in PuTTYgen")
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    page.get_by_role("button", name="Register key").click()

    expect(page.get_by_label("Public key", exact=True)).to_be_focused()
    assert sent == [] and posts_seen(nsml) == []


@pytest.mark.parametrize("form", ["new", "rotate"])
def test_a_pasted_private_key_is_taken_out_of_the_box_and_kept_nowhere(
    page, context, portal, log_in, register, browser_member, form
):
    """Found in the browser: the page refused a pasted private key but left it in the box, on screen for anyone
    watching or sharing the screen, and in the box's undo history (Ctrl+Z after deleting it brought it back)."""
    private_key, secret_line = a_private_key()
    log_in(page)
    page.goto("/keys/new/" if form == "new" else f"/keys/{register(browser_member).pk}/rotate/")
    paste(page, context, portal, page.locator('textarea[name="key"]'), private_key)
    key = page.locator('textarea[name="key"]')

    expect(key).to_have_value("")
    expect(page.locator("#id_key_check")).to_contain_text("it was removed from the box and not sent")
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    assert secret_line not in key.input_value()
    form_data = "() => new FormData(document.querySelector('form[data-key-form]')).get('key')"
    assert secret_line not in page.evaluate(form_data)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.post_data or "") if request.method == "POST" else None)
    page.locator('form[data-key-form] button[type="submit"]').click()
    expect(key).to_be_focused()
    assert sent == []


def test_a_private_key_pasted_as_the_title_is_taken_out_of_the_box(page, context, portal, log_in, browser_member):
    private_key, _ = a_private_key()
    log_in(page)
    page.goto("/keys/new/")
    title = page.get_by_label("Title", exact=True)
    title.fill("")
    paste(page, context, portal, title, private_key)

    expect(title).to_have_value("")
    expect(page.locator("#id_title_check")).to_contain_text("it was removed from the box and not sent")
    # A good key next to it does not send the form with the emptied title: the member has a title to type first.
    page.get_by_label("Public key", exact=True).fill(public_line(generate_private_key("ed25519")))
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    page.get_by_role("button", name="Register key").click()
    expect(title).to_be_focused()
    expect(page.locator("#id_title_check")).to_contain_text("it was removed from the box and not sent")
    assert sent == []


def test_a_key_refused_for_the_text_after_it_stays_in_the_box_to_delete_that_text(page, log_in, nsml):
    """Found in the browser: the refusal named the "Thanks!" under the key, and the box came back empty."""
    key = public_line(generate_private_key("ed25519"), "kim@laptop")
    log_in(page)
    fill_form(page, "kim-minsu-laptop", f"{key}\nThanks!")
    page.get_by_role("button", name="Register key").click()

    expect(page.locator("#id_key_error")).to_contain_text("other text after the key")
    box = page.get_by_label("Public key", exact=True)
    expect(box).to_have_value(f"{key}\nThanks!")
    expect(box).to_be_focused()
    box.press("Control+End")
    box.press("Shift+Home")
    box.press("Backspace")
    box.press("Backspace")
    page.get_by_role("button", name="Register key").click()
    page.wait_for_url(re.compile(r"/keys/\d+/$"))
    assert [held["title"] for held in nsml.held_keys()] == ["kim-minsu-laptop"]
