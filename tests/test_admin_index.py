"""The admin console reads as this portal: its name in the header and title, a line about each model, and
lock-outs under a clear name instead of django-axes' own section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")


def test_the_header_and_title_name_the_portal(admin_client):
    page = admin_client.get(INDEX).content.decode()

    assert '<div id="site-name"><a href="/admin/">NSML Key Portal</a></div>' in page
    assert "<title>Administration | NSML Key Portal</title>" in page
    assert "Django administration" not in page


def test_the_log_in_page_names_the_portal(client):
    page = client.get(reverse("admin:login")).content.decode()

    assert "NSML Key Portal" in page
    assert "Django" not in page


@pytest.mark.parametrize(
    ("row", "description"),
    [
        ("model-registeredkey", "Every key a member registered through the portal"),
        ("model-unmanagedkey", "Keys NSML holds that nobody registered here"),
        ("model-auditevent", "Who did what to which key"),
        ("model-loginlockout", "Names and addresses with failed log-ins"),
        ("model-user", "offboard a leaver here"),
        ("model-group", "Sets of admin permissions"),
    ],
)
def test_each_model_on_the_index_has_a_one_line_description(admin_client, row, description):
    page = admin_client.get(INDEX).content.decode()

    start = page.index(f'<tr class="{row}')
    assert description in page[start : page.index("</tr>", start)]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_every_model_on_the_index_has_its_line(admin_client, language):
    """Found walking the admin index in Korean: access tokens and refused log-ins windows had no line saying
    what they are, where every other model has one."""
    page = admin_client.get(INDEX, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    rows = re.findall(r'<tr class="model-(\w+)[^"]*">(.*?)</tr>', page, re.S)
    assert {"apitoken", "refusalwindow", "registeredkey"} <= {model for model, _row in rows}
    assert [model for model, row in rows if 'class="model-description"' not in row] == []


def test_lock_outs_have_a_clear_name_and_no_axes_section(admin_client):
    page = admin_client.get(INDEX).content.decode()

    assert "Log-in lock-outs" in page
    assert "Access attempts" not in page
    assert "Axes" not in page


def test_the_lists_get_the_whole_width_without_the_model_sidebar(admin_client):
    page = admin_client.get(reverse("admin:keys_registeredkey_changelist")).content.decode()

    assert 'id="nav-sidebar"' not in page
    assert "Every key a member registered through the portal" not in page  # descriptions are for the index


def test_the_admin_loads_its_stylesheet_for_korean_line_breaks(admin_client):
    page = admin_client.get(INDEX).content.decode()

    assert '<link rel="stylesheet" href="/static/admin-portal.css">' in page
    assert "style=" not in page.split("<body", 1)[1].split("<svg", 1)[0]  # strict CSP: no inline style
    css = Path(finders.find("admin-portal.css")).read_text()
    assert 'html[lang="ko"] body {\n    word-break: keep-all;' in css


class _Row:
    """What a list row's checkbox reads: the primary key, and the text that names the row."""

    pk = 42

    def __str__(self) -> str:
        return "laptop <b>&\"'</b>"


@pytest.mark.parametrize("language", ["en", "ko"])
def test_each_list_row_s_checkbox_is_the_one_django_renders(language):
    """The portal writes the row checkboxes itself (keys/admin.py RowCheckboxMixin, for speed); the admin's
    JavaScript, its select-all box and its actions read that markup, so it must not differ from Django's."""
    from django.contrib import admin
    from django.utils import translation

    from keys.admin import RowCheckboxMixin

    row = _Row()
    with translation.override(language):
        ours = str(RowCheckboxMixin().action_checkbox(row))
        django = str(admin.ModelAdmin.action_checkbox(None, row))

    assert ours == django
    assert 'value="42"' in ours and "&lt;b&gt;&amp;&quot;&#x27;&lt;/b&gt;" in ours


def test_the_lists_with_actions_write_their_row_checkboxes_the_fast_way():
    from django.contrib import admin

    from keys.admin import RowCheckboxMixin

    with_actions = [model_admin for model_admin in admin.site._registry.values() if model_admin.actions]
    assert with_actions
    assert [
        type(model_admin).__name__ for model_admin in with_actions if not isinstance(model_admin, RowCheckboxMixin)
    ] == []


def test_the_admin_switches_its_own_language(admin_client):
    """Found in the Korean admin: it had no language switch; only the member pages' header changed it."""
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'action="/i18n/setlang/"' in page and 'name="language" value="ko"' in page

    admin_client.post("/i18n/setlang/", {"language": "ko", "next": reverse("admin:index")})
    korean = admin_client.get(reverse("admin:index")).content.decode()

    assert '<html lang="ko"' in korean
    assert 'name="language" value="en"' in korean  # and back
