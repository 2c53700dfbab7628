"""The Korean catalogue is complete and compiled, keeps every placeholder, and the pages use it."""

from __future__ import annotations

import ast
import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

pytestmark = pytest.mark.django_db

LC_MESSAGES = Path(settings.BASE_DIR) / "locale" / "ko" / "LC_MESSAGES"
PO = LC_MESSAGES / "django.po"
MO = LC_MESSAGES / "django.mo"

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\{ ?\w+ ?\}\}")
HANGUL = re.compile("[\uac00-\ud7a3]")


CATALOGUE = polib.pofile(str(PO))
MESSAGES = [entry for entry in CATALOGUE if not entry.obsolete]


def translations(entry: polib.POEntry) -> list[str]:
    """The entry's msgstr, or its msgstr[n] in order for a plural entry."""
    if entry.msgid_plural:
        return [entry.msgstr_plural[index] for index in sorted(entry.msgstr_plural)]
    return [entry.msgstr]


def label(entry: polib.POEntry) -> str:
    return entry.msgid[:60]


def test_the_catalogue_has_a_korean_header_and_one_plural_form():
    assert not CATALOGUE.metadata_is_fuzzy
    assert CATALOGUE.metadata["Language"] == "ko"
    assert "charset=UTF-8" in CATALOGUE.metadata["Content-Type"]
    assert CATALOGUE.metadata["Plural-Forms"] == "nplurals=1; plural=0;"
    assert len(MESSAGES) > 100  # the reader found the catalogue, not an empty file


@pytest.mark.parametrize("entry", MESSAGES, ids=label)
def test_every_message_is_translated(entry):
    assert not entry.fuzzy
    texts = translations(entry)
    assert texts, "no msgstr"
    assert all(text.strip() for text in texts), "empty msgstr"
    if entry.msgid_plural:
        assert len(texts) == 1, "Korean has one plural form"


@pytest.mark.parametrize("entry", MESSAGES, ids=label)
def test_every_translation_keeps_the_placeholders(entry):
    wanted = sorted(set(PLACEHOLDER.findall(entry.msgid)) | set(PLACEHOLDER.findall(entry.msgid_plural)))
    for text in translations(entry):
        assert sorted(set(PLACEHOLDER.findall(text))) == wanted, text
        if "python-format" in entry.flags:
            # A stray % would make Python's formatting fail at run time.
            assert "%" not in PLACEHOLDER.sub("", text.replace("%%", "")), text


@pytest.mark.parametrize("entry", MESSAGES, ids=label)
def test_every_translation_keeps_the_html_tags(entry):
    tags = re.compile(r"</?\w+[^>]*>")
    for text in translations(entry):
        assert tags.findall(text) == tags.findall(entry.msgid), text


def test_the_compiled_catalogue_matches_the_po():
    """The .mo is committed (no gettext tools at run time): it must hold every translation of the .po."""
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in MESSAGES:
        context = entry.msgctxt
        if entry.msgid_plural:
            if context is None:
                got = compiled.ngettext(entry.msgid, entry.msgid_plural, 2)
            else:
                got = compiled.npgettext(context, entry.msgid, entry.msgid_plural, 2)
        elif context is None:
            got = compiled.gettext(entry.msgid)
        else:
            got = compiled.pgettext(context, entry.msgid)
        assert got == translations(entry)[0], f"{label(entry)}: the .mo is stale; run compilemessages"


def test_glossary_terms():
    translated = {entry.msgid: translations(entry)[0] for entry in MESSAGES}
    glossary = {
        "My keys": "내 키",
        "Log in": "로그인",
        "Log out": "로그아웃",
        "Revoke": "폐기",
        "Revoked": "폐기됨",
        "Register key": "키 등록",
        "Title": "제목",
        "Fingerprint": "지문",
        "Admin": "관리자",
    }
    for english, korean in glossary.items():
        assert translated[english] == korean


def korean_page(response) -> str:
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="ko">' in page
    return page


def test_login_page_in_korean_with_accept_language(client):
    page = korean_page(client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="ko"))
    assert "로그인" in page
    assert "NSML 키 포털" in page
    assert ">Log in<" not in page


@pytest.mark.parametrize("url", [reverse("keys:list"), reverse("keys:new")])
def test_member_pages_in_korean_with_accept_language(member_client, url):
    page = korean_page(member_client.get(url, HTTP_ACCEPT_LANGUAGE="ko"))
    assert "내 키" in page
    assert "로그아웃" in page
    assert "My keys" not in page


def test_add_key_page_in_korean(member_client):
    page = korean_page(member_client.get(reverse("keys:new"), HTTP_ACCEPT_LANGUAGE="ko"))
    assert "키 추가" in page
    assert "키 등록" in page
    assert "공개 키" in page
    assert "제목을 입력하세요." in page  # the form's client-side messages, in data-msg-* attributes
    assert "Register key" not in page


def test_choosing_korean_sticks(client, member):
    response = client.post(reverse("set_language"), {"language": "ko", "next": reverse("login")})
    assert response.status_code == 302
    assert "로그인" in korean_page(client.get(reverse("login")))

    client.force_login(member)
    assert "내 키" in korean_page(client.get(reverse("keys:list")))
    page = korean_page(client.get(reverse("keys:new")))
    assert "키 추가" in page
    # The switcher now offers the way back to English, named in English.
    assert 'value="en" class="link" lang="en">English<' in page


def test_english_stays_the_default(member_client):
    page = member_client.get(reverse("keys:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en">' in page
    assert "My keys" in page


def test_a_refused_title_is_explained_in_korean(member_client, nsml, new_public_key):
    response = member_client.post(
        reverse("keys:new"), {"title": "1laptop", "key": new_public_key()}, HTTP_ACCEPT_LANGUAGE="ko"
    )

    message = str(response.context["form"].errors["title"])
    assert "제목은 영문자로 시작해야 합니다." in message
    assert "제목은 영문자로 시작해야 합니다." in response.content.decode()
    assert nsml.requests_seen == []


def test_a_refused_key_is_explained_in_korean_with_its_values(member_client, nsml, new_public_key):
    two = new_public_key() + "\n" + new_public_key()
    response = member_client.post(reverse("keys:new"), {"title": "laptop", "key": two}, HTTP_ACCEPT_LANGUAGE="ko")

    message = str(response.context["form"].errors["key"])
    assert message.count("키가 2개 들어 있습니다.") == 1
    assert nsml.requests_seen == []


def test_parser_templates_are_in_the_catalogue():
    """keys/sshkeys.py marks its messages with gettext_noop; the catalogue must hold each of them."""
    from keys import sshkeys

    source = Path(sshkeys.__file__).read_text(encoding="utf-8")
    msgids = {entry.msgid for entry in MESSAGES}
    tree = ast.parse(source)
    marked = [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "gettext_noop"
        and isinstance(node.args[0], ast.Constant)
    ]
    assert marked
    for template in marked:
        assert template in msgids
        with translation.override("ko"):
            assert HANGUL.search(translation.gettext(template)), template


def test_title_help_text_in_korean(member_client):
    # keys/forms.py formats it per request: a lazy string formatted at import time stayed in English.
    page = korean_page(member_client.get(reverse("keys:new"), HTTP_ACCEPT_LANGUAGE="ko"))
    assert "최대 64자까지" in page
    assert "English letters, digits and hyphens;" not in page


def test_a_users_password_page_in_the_korean_admin_is_korean(admin_client, member):
    """Found in the Korean admin: Admin > Users > a user > Set password explained *Password-based
    authentication* and warned that the current password would be lost, in English."""
    password_page = reverse("admin:auth_user_password_change", args=[member.pk])

    korean = admin_client.get(password_page, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    english = admin_client.get(password_page, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Whether the user will be able to authenticate" not in korean
    assert "the current password for this user will be lost" not in korean
    assert "사용자가 비밀번호를 사용하여 인증할 수 있는지 여부입니다." in korean
    assert "비활성화하면 이 사용자의 현재 비밀번호는 사라집니다." in korean
    assert "If disabled, the current password for this user will be lost." in english


def test_every_model_of_the_portal_and_its_fields_have_korean_names():
    """Found in the Korean admin's permission lists: "SSH 키 | reconcile lock | ..." (a model without a
    translated name). Every model in the portal's apps, and each of its fields, is named in Korean."""
    from django.apps import apps

    untranslated = []
    with translation.override("ko"):
        for model in apps.get_app_config("keys").get_models():
            names = [model._meta.verbose_name, model._meta.verbose_name_plural]
            names += [field.verbose_name for field in model._meta.get_fields() if hasattr(field, "verbose_name")]
            # "ID" and "HTTP Accept" (django-axes' name of a header) read the same in Korean.
            untranslated += [
                f"{model.__name__}: {name}"
                for name in names
                if str(name).isascii() and name not in ("ID", "HTTP Accept")
            ]
    assert untranslated == []


def test_the_admin_log_in_page_offers_the_language_switch(client):
    """Found walking the admin with an English browser: the admin's log-in page had no language switch (the
    admin shows it among the user tools, which exist only once logged in), so a Korean admin read it, and
    its errors, in English until logged in."""
    page = client.get(reverse("admin:login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'action="{reverse("set_language")}"' in page
    assert 'name="language" value="ko" lang="ko">한국어<' in page

    client.post(reverse("set_language"), {"language": "ko", "next": reverse("admin:login")})
    refused = client.post(reverse("admin:login"), {"username": "nobody", "password": "wrong-password-1"})

    assert "관리자 계정의 올바른 사용자 이름 및 비밀번호를 입력해 주세요." in refused.content.decode()
    assert 'name="language" value="en" lang="en">English<' in refused.content.decode()


def test_make_messages_keeps_every_korean_translation(tmp_path):
    """Found running `make messages`, which the README gives for refreshing the translations: makemessages
    --no-obsolete dropped the Korean of django-axes' names and fields (the admin's lock-out page, the permission
    lists), which no source of the portal holds, and left Django's own "Yes", "No" and checkbox label untranslated.
    Run on a copy of the sources, it now keeps every translation and leaves none empty."""
    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext is not installed")
    base = Path(settings.BASE_DIR)
    for folder in ("portal", "keys", "nsml", "templates", "locale", "locale_overrides"):
        shutil.copytree(base / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(base / "manage.py", tmp_path)
    before = {entry.msgid: translations(entry) for entry in MESSAGES}

    made = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "ko", "--no-obsolete"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert made.returncode == 0, made.stderr
    after = polib.pofile(str(tmp_path / "locale" / "ko" / "LC_MESSAGES" / "django.po"))
    kept = {entry.msgid: translations(entry) for entry in after if not entry.obsolete}
    assert [msgid for msgid in before if msgid not in kept] == []
    assert [msgid for msgid, texts in kept.items() if not all(text.strip() for text in texts)] == []
