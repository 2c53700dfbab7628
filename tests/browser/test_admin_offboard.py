"""An admin offboards a leaver in the browser: a confirmation listing the keys and asking a reason, then the
leaver is deactivated and NSML holds none of their keys (English and Korean, 1280 px)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.admin_session import ADMIN_PASSWORD, admin_tab, fits_the_width, run_action

pytestmark = pytest.mark.browser


@pytest.fixture
def root(django_user_model, portal):
    return django_user_model.objects.create_superuser(username="root", password=ADMIN_PASSWORD)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_an_admin_offboards_a_leaver(browser, portal, root, browser_member, register, nsml, check_page, lang):
    register(browser_member, "kim-minsu-laptop")
    register(browser_member, "kim-minsu-desktop")

    with admin_tab(browser, portal, lang) as page:
        page.goto("/admin/auth/user/")
        run_action(page, "offboard_selected", browser_member.pk)

        expect(page.locator("table.revocation-keys tbody tr")).to_have_count(2)
        expect(page.locator("table.revocation-keys")).to_contain_text("kim-minsu-laptop")
        expect(page.locator("#content strong")).to_have_text("kim.minsu")
        assert fits_the_width(page)
        check_page(page, "admin-offboard-confirm")
        assert len(nsml.held_keys()) == 2  # looking is not offboarding

        page.locator("#id_reason").fill("left the team")
        page.locator(".submit-row input[type=submit]").click()

        page.wait_for_url("**/admin/auth/user/")
        expect(page.locator(".messagelist .success")).to_contain_text("kim.minsu")
        check_page(page, "admin-offboarded")
    assert nsml.held_keys() == []
    browser_member.refresh_from_db()
    assert not browser_member.is_active


def test_an_admin_backs_out_of_revoking(browser, portal, root, browser_member, register, nsml):
    key = register(browser_member, "kim-minsu-laptop")

    with admin_tab(browser, portal, "en") as page:
        page.goto("/admin/keys/registeredkey/")
        run_action(page, "revoke_selected", key.pk)
        expect(page.get_by_role("heading", name="Revoke these keys?")).to_be_visible()
        # The link goes back through Django's admin/js/cancel.js, loaded async: a click before the page's
        # load event (the script run) does nothing. Failed once so in a CI run on a loaded machine.
        page.wait_for_load_state("load")

        page.get_by_role("link", name="No, take me back").click()

        page.wait_for_url("**/admin/keys/registeredkey/")
    assert [held["title"] for held in nsml.held_keys()] == ["kim-minsu-laptop"]


def test_a_revocation_without_a_reason_is_asked_again(browser, portal, root, browser_member, register, nsml):
    key = register(browser_member, "kim-minsu-laptop")

    with admin_tab(browser, portal, "en") as page:
        page.goto("/admin/keys/registeredkey/")
        run_action(page, "revoke_selected", key.pk)
        page.locator("#id_reason").evaluate("field => field.removeAttribute('required')")
        page.locator(".submit-row input[type=submit]").click()

        expect(page.locator(".errorlist")).to_contain_text("This field is required.")
        page.locator("#id_reason").fill("laptop stolen")
        page.locator(".submit-row input[type=submit]").click()

        expect(page.locator(".messagelist .success")).to_have_text("1 key of kim.minsu revoked.")
    assert nsml.held_keys() == []
