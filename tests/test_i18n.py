"""The Korean catalogue is complete and compiled, keeps every placeholder, and the pages use it."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

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


def parse_po(path: Path) -> list[dict]:
    """Entries of a .po file: msgctxt, msgid, msgid_plural, msgstr (a list: one per plural form), flags.

    Obsolete entries (#~) are left out; a tiny reader, so the tests need no extra package.
    """
    entries: list[dict] = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry: dict = {"flags": set(), "msgstr": {}}
        field = None
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("#,"):
                entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
                continue
            if not line or line.startswith("#"):
                field = None
                continue
            match = re.match(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")$", line)
            if match:
                keyword, index, literal = match.groups()
                text = ast.literal_eval(literal)
                if keyword.startswith("msgstr"):
                    field = ("msgstr", int(index or 0))
                    entry["msgstr"][field[1]] = text
                else:
                    field = keyword
                    entry[keyword] = text
            elif line.startswith('"') and field is not None:
                text = ast.literal_eval(line)
                if isinstance(field, tuple):
                    entry["msgstr"][field[1]] += text
                else:
                    entry[field] += text
            else:
                raise AssertionError(f"unreadable line in {path.name}: {line!r}")
        if "msgid" in entry:
            entry["msgstr"] = [entry["msgstr"][index] for index in sorted(entry["msgstr"])]
            entries.append(entry)
    return entries


ENTRIES = parse_po(PO)
HEADER = next(entry for entry in ENTRIES if entry["msgid"] == "")
MESSAGES = [entry for entry in ENTRIES if entry["msgid"] != ""]


def label(entry: dict) -> str:
    return entry["msgid"][:60]


def test_the_catalogue_has_a_korean_header_and_one_plural_form():
    header = HEADER["msgstr"][0]
    assert "fuzzy" not in HEADER["flags"]
    assert "Language: ko\n" in header
    assert "charset=UTF-8" in header
    assert "Plural-Forms: nplurals=1; plural=0;" in header
    assert len(MESSAGES) > 100  # the reader found the catalogue, not an empty file


@pytest.mark.parametrize("entry", MESSAGES, ids=label)
def test_every_message_is_translated(entry):
    assert "fuzzy" not in entry["flags"]
    assert entry["msgstr"], "no msgstr"
    assert all(text.strip() for text in entry["msgstr"]), "empty msgstr"
    if "msgid_plural" in entry:
        assert len(entry["msgstr"]) == 1, "Korean has one plural form"


@pytest.mark.parametrize("entry", MESSAGES, ids=label)
def test_every_translation_keeps_the_placeholders(entry):
    wanted = sorted(set(PLACEHOLDER.findall(entry["msgid"])) | set(PLACEHOLDER.findall(entry.get("msgid_plural", ""))))
    for text in entry["msgstr"]:
        assert sorted(set(PLACEHOLDER.findall(text))) == wanted, text
        if "python-format" in entry["flags"]:
            # A stray % would make Python's formatting fail at run time.
            assert "%" not in PLACEHOLDER.sub("", text.replace("%%", "")), text


@pytest.mark.parametrize("entry", MESSAGES, ids=label)
def test_every_translation_keeps_the_html_tags(entry):
    tags = re.compile(r"</?\w+[^>]*>")
    for text in entry["msgstr"]:
        assert tags.findall(text) == tags.findall(entry["msgid"]), text


def test_the_compiled_catalogue_matches_the_po():
    """The .mo is committed (no gettext tools at run time): it must hold every translation of the .po."""
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in MESSAGES:
        context = entry.get("msgctxt")
        if "msgid_plural" in entry:
            if context is None:
                got = compiled.ngettext(entry["msgid"], entry["msgid_plural"], 2)
            else:
                got = compiled.npgettext(context, entry["msgid"], entry["msgid_plural"], 2)
        elif context is None:
            got = compiled.gettext(entry["msgid"])
        else:
            got = compiled.pgettext(context, entry["msgid"])
        assert got == entry["msgstr"][0], f"{label(entry)}: the .mo is stale; run compilemessages"


def test_glossary_terms():
    translated = {entry["msgid"]: entry["msgstr"][0] for entry in MESSAGES}
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
    msgids = {entry["msgid"] for entry in MESSAGES}
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
