"""A group's permissions picked in the admin's two-box widget, in English and Korean: the permissions are
named in the admin's language, found by those names in the widget's filter box, and saved."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from playwright.sync_api import expect

from tests.browser.admin_session import ADMIN_PASSWORD, admin_tab

pytestmark = pytest.mark.browser

WANTED = {
    "en": ("Can view audit event", "SSH keys | audit event | Can view audit event"),
    "ko": ("감사 이벤트 보기", "SSH 키 | 감사 이벤트 | 감사 이벤트 보기"),
}


@pytest.fixture
def root(django_user_model, portal):
    return django_user_model.objects.create_superuser(username="root", password=ADMIN_PASSWORD)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_an_admin_finds_and_gives_a_permission_by_its_name_in_the_admins_language(browser, portal, root, lang):
    typed, label = WANTED[lang]

    with admin_tab(browser, portal, lang) as page:
        page.goto("/admin/auth/group/add/")
        available = page.locator("#id_permissions_from option")
        # Django's English names, or none of them: every permission here is one of Django's default four.
        expect(available.filter(has_text="| Can ")).to_have_count(0 if lang == "ko" else Permission.objects.count())

        search = page.locator("#id_permissions_input")  # the widget's filter box: it filters on keyup
        search.fill(typed)
        search.press("End")
        expect(available).to_have_text([label])
        available.first.dblclick()  # moves it to the chosen box
        expect(page.locator("#id_permissions_to option")).to_have_text([label])
        page.locator("#id_name").fill("auditors")
        page.locator("input[name=_save]").click()
        page.wait_for_url("**/admin/auth/group/")

    assert list(Group.objects.get(name="auditors").permissions.values_list("codename", flat=True)) == [
        "view_auditevent"
    ]


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_group_page_passes_axe(browser, portal, root, check_page, lang):
    """Found with axe on Admin > Groups > Add: Django's two-box widget puts an aria-label on the plain <span> of each
    box's search icon, where ARIA forbids one (aria-prohibited-attr, serious)."""
    with admin_tab(browser, portal, lang) as page:
        page.goto("/admin/auth/group/add/")
        expect(page.locator("#id_permissions_input")).to_be_visible()
        check_page(page, "admin-group-add")
