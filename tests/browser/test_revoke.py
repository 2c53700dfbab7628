"""A member revokes a key from its page: a confirmation first, then NSML no longer holds it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_member_revokes_a_key(page, log_in, register, browser_member, nsml, check_page):
    key = register(browser_member, "kim-minsu-laptop")
    assert [held["title"] for held in nsml.held_keys()] == ["kim-minsu-laptop"]
    log_in(page)

    page.get_by_role("link", name="kim-minsu-laptop").click()
    page.get_by_role("link", name="Revoke").click()

    page.wait_for_url(f"**/keys/{key.pk}/revoke/")
    expect(page.get_by_role("heading", name="Revoke “kim-minsu-laptop”?")).to_be_visible()
    check_page(page, "key-revoke")
    assert [held["title"] for held in nsml.held_keys()] == ["kim-minsu-laptop"]  # looking is not revoking

    page.get_by_role("button", name="Revoke").click()

    page.wait_for_url(f"**/keys/{key.pk}/")
    expect(page.get_by_role("status").filter(has_text="is revoked")).to_be_visible()
    expect(page.get_by_role("link", name="Revoke")).to_have_count(0)
    assert nsml.held_keys() == []
    check_page(page, "key-revoked")


def test_a_member_can_back_out_of_revoking(page, log_in, register, browser_member, nsml):
    key = register(browser_member, "kim-minsu-laptop")
    log_in(page)
    page.goto(f"/keys/{key.pk}/revoke/")

    page.get_by_role("link", name="Cancel").click()

    page.wait_for_url(f"**/keys/{key.pk}/")
    assert [held["title"] for held in nsml.held_keys()] == ["kim-minsu-laptop"]
