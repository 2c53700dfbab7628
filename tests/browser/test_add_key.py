"""A member logs in, adds a key, and sees the fingerprint that `ssh-keygen -lf` prints for it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sha256_fingerprint
from tests.keygen import SSH_KEYGEN, make_key_pair, ssh_keygen_fingerprint

pytestmark = pytest.mark.browser


def test_a_member_adds_a_key_and_sees_its_fingerprint(page, log_in, nsml, check_page, tmp_path):
    pair = make_key_pair(tmp_path, "ed25519", "kim@laptop")
    fingerprint = sha256_fingerprint(pair.public_line)
    if SSH_KEYGEN:
        assert ssh_keygen_fingerprint(pair.public_path, "sha256") == (256, fingerprint)

    log_in(page)
    expect(page.get_by_text("You have no keys yet.")).to_be_visible()
    check_page(page, "keys-empty")

    page.get_by_role("link", name="Add a key").click()
    page.wait_for_url("**/keys/new/")
    expect(page.get_by_role("heading", name="Where is my public key?")).to_be_visible()
    check_page(page, "key-new")
    page.get_by_label("Title", exact=True).fill("kim-minsu-laptop")
    page.get_by_label("Public key", exact=True).fill(pair.public_line)
    page.get_by_role("button", name="Register key").click()

    page.wait_for_url(re.compile(r"/keys/\d+/$"))
    expect(page.locator("#fingerprint")).to_have_text(fingerprint)
    expect(page.get_by_role("status").filter(has_text="is registered with NSML")).to_be_visible()
    type_and_blob = " ".join(pair.public_line.split()[:2])  # NSML gets the key without its comment
    assert [(key["title"], key["key"]) for key in nsml.held_keys()] == [("kim-minsu-laptop", type_and_blob)]
    check_page(page, "key-detail")

    page.get_by_role("navigation").get_by_role("link", name="My keys").click()
    expect(page.get_by_role("link", name="kim-minsu-laptop")).to_be_visible()
    expect(page.get_by_role("cell", name=fingerprint)).to_be_visible()
    check_page(page, "keys-list")


def test_the_copy_button_copies_the_fingerprint(page, context, portal, log_in, register, browser_member):
    key = register(browser_member, "kim-minsu-laptop")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal)

    log_in(page)
    page.goto(f"/keys/{key.pk}/")
    page.get_by_role("button", name="Copy").click()

    expect(page.locator("#fingerprint-copy-status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == key.fingerprint_sha256


def test_the_copy_button_is_not_shown_without_its_script(page_without_script, log_in, register, browser_member):
    page = page_without_script
    key = register(browser_member, "kim-minsu-laptop")
    log_in(page)
    page.goto(f"/keys/{key.pk}/")

    expect(page.locator("#fingerprint")).to_have_text(key.fingerprint_sha256)
    expect(page.get_by_role("button", name="Copy")).to_be_hidden()
    expect(page.get_by_text("ssh-keygen -lf")).to_be_visible()


def test_a_screen_reader_hears_the_title_note_with_the_title_field(page, log_in, browser_member):
    """Found in a browser pass: "Titles are shared by the whole team in NSML, so start with your name" sat
    between the label and the box, but the box's description named only the title rules: a screen reader
    user tabbing into the box never heard it, and titled a key "laptop" like everyone else."""
    log_in(page)
    page.goto("/keys/new/")

    title = page.get_by_label("Title", exact=True)

    expect(title).to_have_accessible_description(re.compile(r"hyphens.*Titles are shared by the whole team"))
