"""The admin console at 1280 px, in English and Korean: the portal's name, a line per model, lists that fit
the window without scrolling sideways, and a lock-out unlocked from the user's page."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from playwright.sync_api import expect

from keys.models import UnmanagedKey
from tests.browser.admin_session import ADMIN_PASSWORD, admin_tab, fits_the_width

pytestmark = pytest.mark.browser


@pytest.fixture
def root(django_user_model, portal):
    return django_user_model.objects.create_superuser(username="root", password=ADMIN_PASSWORD)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_console_reads_as_the_portal_and_fits_1280_px(
    browser, portal, root, browser_member, register, nsml, check_page, lang
):
    key = register(browser_member, "kim-minsu-laptop-with-a-long-title")
    register(browser_member, "kim-minsu-desktop")

    with admin_tab(browser, portal, lang) as page:
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.locator("#site-name")).to_have_text("NSML Key Portal" if lang == "en" else "NSML 키 포털")
        expect(page.locator(".model-description")).to_have_count(9)  # every model on the index has its line
        assert fits_the_width(page)
        check_page(page, "admin-index")

        for path, name in (
            ("/admin/keys/registeredkey/", "admin-keys"),
            ("/admin/keys/auditevent/", "admin-audit"),
            ("/admin/keys/unmanagedkey/", "admin-unmanaged"),
            ("/admin/keys/loginlockout/", "admin-lockouts"),
            ("/admin/keys/emailnotice/", "admin-email-notices"),
            (f"/admin/keys/registeredkey/{key.pk}/change/", "admin-key"),
        ):
            page.goto(path)
            assert fits_the_width(page), f"{path} scrolls sideways at 1280 px"
            check_page(page, name)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_an_admin_unlocks_a_locked_out_member_from_their_page(browser, portal, root, browser_member, check_page, lang):
    AccessAttempt.objects.create(
        username="kim.minsu",
        ip_address="10.0.0.9",
        user_agent="test",
        get_data="",
        post_data="",
        http_accept="",
        path_info="/accounts/login/",
        failures_since_start=5,
    )

    with admin_tab(browser, portal, lang) as page:
        page.goto(f"/admin/auth/user/{browser_member.pk}/change/")
        expect(page.locator(".login-failures")).to_be_visible()
        assert fits_the_width(page)
        check_page(page, "admin-user-locked")

        page.locator("form.unlock-login button").click()

        expect(page.locator(".messagelist .success")).to_contain_text("kim.minsu")
        expect(page.locator("form.unlock-login")).to_have_count(0)
    assert not AccessAttempt.objects.filter(username="kim.minsu").exists()


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_member_box_of_an_unmanaged_key_has_a_name(browser, portal, root, browser_member, check_page, lang):
    """Found with axe on an open unmanaged key's page: the autocomplete box that assigns it to a member (select2,
    named by what it shows) had no accessible name while empty (aria-input-field-name, serious)."""
    record = UnmanagedKey.objects.create(
        title="console-key", nsml_name="0a1b2c3d4e5f60718293a4b5c6d7e8f9", fingerprint_md5="0a:1b:2c:3d"
    )

    with admin_tab(browser, portal, lang) as page:
        page.goto(f"/admin/keys/unmanagedkey/{record.pk}/change/")
        combobox = page.locator(".field-assigned_to [role=combobox]")
        expect(combobox).to_have_accessible_name(
            "Assigned to: Type a member's user name" if lang == "en" else "할당 대상: 구성원의 사용자 이름을 입력하세요"
        )
        check_page(page, "admin-unmanaged-key")

        combobox.click()
        page.locator(".select2-search__field").fill("kim")
        page.locator(".select2-results__option", has_text="kim.minsu").click()
        page.locator("input[name=_save]").click()

        expect(page.locator(".messagelist .success").first).to_contain_text("kim.minsu")
    record.refresh_from_db()
    assert record.assigned_to == browser_member


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_lists_pass_axe_on_a_phone(browser, portal, root, browser_member, register, nsml, check_page, lang):
    """Found with axe at 390 px: the result count's "Show all" link, wrapped into the count's text, was told apart
    from it by its colour alone (link-in-text-block, serious), on the key list and the audit list."""
    register(browser_member, "kim-minsu-laptop")

    with admin_tab(browser, portal, lang) as page:
        page.set_viewport_size({"width": 390, "height": 844})
        for path, name in (
            ("/admin/keys/registeredkey/?q=kim", "admin-keys-phone"),
            ("/admin/keys/auditevent/?q=kim", "admin-audit-phone"),
        ):
            page.goto(path)
            expect(page.locator("#changelist-search .small a")).to_be_visible()
            check_page(page, name)
