"""The add-key page helps before anything is typed: where the key is, how to make one, the rules."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from keys.sshkeys import ACCEPTED_TYPES
from nsml.titles import MAX_TITLE_LENGTH

pytestmark = pytest.mark.django_db

NEW = reverse("keys:new")


def page_of(client) -> str:
    response = client.get(NEW)
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_how_to_make_a_key(member_client):
    page = page_of(member_client)

    assert "<code>ssh-keygen -t ed25519</code>" in page


def help_codes(page: str) -> list[str]:
    """The paths and commands of the page's help, as they are marked up."""
    help_ = page[page.index('id="key-help-heading"') :]
    return re.findall(r"<dd><code>(.*?)</code></dd>", help_)


def as_copied(markup: str) -> str:
    """What a reader who selects and copies the text gets: no tags (a <wbr> is no character)."""
    return html.unescape(re.sub(r"<[^>]*>", "", markup))


def test_it_shows_where_the_public_key_is_on_each_system(member_client):
    copied = [as_copied(code) for code in help_codes(page_of(member_client))]

    assert copied == [
        "~/.ssh/id_ed25519.pub",
        r"C:\Users\<you>\.ssh\id_ed25519.pub",
        "cat ~/.ssh/id_ed25519.pub",
        "pbcopy < ~/.ssh/id_ed25519.pub",
        r"Get-Content $env:USERPROFILE\.ssh\id_ed25519.pub",
        r"type %USERPROFILE%\.ssh\id_ed25519.pub",
    ]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_narrow_screen_breaks_a_path_after_a_separator_not_mid_name(member_client, language):
    """Found at 375 px: the PowerShell path broke as "...id_ed25519.pu" / "b". Each separator offers a break
    (<wbr>, which adds nothing to copied text), and the <you> placeholder stays whole (forms.css)."""
    codes = help_codes(member_client.get(NEW, HTTP_ACCEPT_LANGUAGE=language).content.decode())

    assert len(codes) == 6
    for code in codes:
        text = re.sub(r"</?span[^>]*>", "", code)  # the placeholder's tags hold no separator
        assert re.findall(r"[/\\](?!<wbr>)", text) == [], code
    assert '<span class="placeholder">&lt;' in codes[1]


def test_it_lists_every_accepted_key_type(member_client):
    page = page_of(member_client)

    listed = re.findall(r"<li><code>([a-z0-9-]+)</code>", page)
    assert sorted(listed) == sorted(ACCEPTED_TYPES)


def test_it_shows_the_title_rules_before_the_title_box(member_client):
    page = page_of(member_client)

    rules = page.index("Up to 64 English letters, digits and hyphens")
    assert rules < page.index('name="title"')
    assert 'aria-describedby="id_title_helptext"' in page


def test_the_script_checks_the_same_title_length_as_nsml(member_client):
    page = page_of(member_client)

    assert f'data-title-max-length="{MAX_TITLE_LENGTH}"' in page
    assert f"at most {MAX_TITLE_LENGTH} characters" in page


def test_it_suggests_a_title_from_the_username(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="kim.minsu", password="x-password-1"))

    page = page_of(client)

    assert re.search(r'<input[^>]*name="title"[^>]*value="kim-minsu-key"', page)


def test_a_refusal_is_tied_to_its_field(member_client, nsml, new_public_key):
    response = member_client.post(NEW, {"title": "my laptop", "key": new_public_key()})

    page = response.content.decode()
    assert 'id="id_title_error"' in page
    assert re.search(r'<input[^>]*aria-describedby="id_title_helptext id_title_error"', page)


def test_the_scripts_and_styles_are_files_from_this_site(member_client):
    page = page_of(member_client)

    assert '<script src="/static/portal/key-form.js" defer></script>' in page
    assert '<link rel="stylesheet" href="/static/portal/forms.css">' in page
    # Nothing a strict Content-Security-Policy would block: no inline script, handler or style.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert not re.search(r"\son[a-z]+=", page)
    assert "style=" not in page and "<style" not in page
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page)


def test_the_title_rules_follow_the_members_language(member_client):
    member_client.cookies["django_language"] = "ko"

    page = page_of(member_client)

    assert "Up to 64 English letters" not in page
    assert "64자" in page
