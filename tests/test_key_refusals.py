"""Every refusal of the parser, seen through the web form: its message next to the key field,
nothing sent to NSML, and no private-key material left in the page, the database or the logs."""

from __future__ import annotations

import logging

import pytest
from django.apps import apps
from django.core import serializers
from django.urls import reverse
from django.utils import translation

from tests.helpers import generate_private_key, private_text, public_line

pytestmark = pytest.mark.django_db

NEW = reverse("keys:new")


def ed25519() -> str:
    return public_line(generate_private_key("ed25519"), "me@laptop")


CASES = {
    "too_long": lambda: ed25519() + " " + "x" * 17000,
    "private_key": lambda: private_text(generate_private_key("ed25519")),
    "malformed": lambda: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB@@@",
    "multiple_keys": lambda: ed25519() + "\n" + ed25519(),
    "options_prefix": lambda: 'command="echo hi" ' + ed25519(),
    "unsupported_type": lambda: ed25519().replace("ssh-ed25519", "ssh-dss", 1),
    "type_mismatch": lambda: ed25519().replace("ssh-ed25519", "ssh-rsa", 1),
    "too_weak": lambda: public_line(generate_private_key("rsa1024")),
}

HINTS = {
    "too_long": "16 KiB",
    "private_key": ".pub",
    "malformed": "",
    "multiple_keys": "one public key at a time",
    "options_prefix": "",
    "unsupported_type": "ssh-ed25519",
    "type_mismatch": "",
    "too_weak": "1024",
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_refusal_shows_its_message_next_to_the_key_field(member_client, nsml, code):
    response = member_client.post(NEW, {"title": "laptop", "key": CASES[code]()})

    errors = response.context["form"].errors
    assert list(errors) == ["key"], errors
    message = str(errors["key"])
    assert HINTS[code].lower() in message.lower()
    assert nsml.requests_seen == []
    assert 'class="field-error"' in response.content.decode()


@pytest.mark.parametrize("fmt", ["openssh", "pem", "pkcs8"])
@pytest.mark.parametrize("kind", ["ed25519", "rsa2048", "ecdsa256"])
def test_a_pasted_private_key_survives_nowhere(member_client, nsml, caplog, kind, fmt):
    if kind == "ed25519" and fmt == "pem":
        pytest.skip("ed25519 has no traditional PEM form")
    secret = private_text(generate_private_key(kind), fmt)
    body_lines = [line for line in secret.splitlines() if line and "-----" not in line]
    caplog.set_level(logging.DEBUG)

    response = member_client.post(NEW, {"title": "laptop", "key": public_line(generate_private_key()) + "\n" + secret})

    page = response.content.decode()
    stored = "".join(
        serializers.serialize("json", model.objects.all()) for model in apps.get_models() if model._meta.managed
    )
    for line in body_lines:
        assert line not in page
        assert line not in stored
        assert line not in caplog.text
    assert "PRIVATE KEY" not in stored
    assert nsml.requests_seen == []


def test_refusals_are_explained_in_korean(member_client, nsml):
    with translation.override("ko"):
        response = member_client.post(NEW, {"title": "1laptop", "key": ed25519()}, HTTP_ACCEPT_LANGUAGE="ko")
    message = str(response.context["form"].errors["title"])

    assert "title must begin" not in message
    assert any("\uac00" <= char <= "\ud7a3" for char in message)  # Hangul syllables


# A paste with something in front of the key's type, or around it: each told what it pasted, in the member's language.
PREFIXED = {
    "known_hosts": (
        lambda: "github.com,140.82.112.3 " + " ".join(ed25519().split()[:2]),
        "known_hosts",
        "known_hosts 파일의 줄입니다",
    ),
    "quoted": (lambda: "> " + ed25519(), "quote mark (>)", "인용 표시(>)"),
    "bullet": (lambda: "- " + ed25519(), "other text in front", "다른 글자가 있습니다"),
    "line-above": (
        lambda: "$ cat ~/.ssh/id_ed25519.pub\n" + ed25519(),
        "other text above the key, starting with “$ cat ~/.ssh/id_ed25519.pub”",
        "키 위에 “$ cat ~/.ssh/id_ed25519.pub”(으)로 시작하는 다른 글자가 있습니다",
    ),
    "line-after": (
        lambda: ed25519() + "\nThanks!",
        "other text after the key, starting with “Thanks!”",
        "키 뒤에 “Thanks!”(으)로 시작하는 다른 글자가 있습니다",
    ),
}


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("case", sorted(PREFIXED))
def test_text_in_front_of_the_key_is_named_in_the_members_language(member_client, nsml, case, language):
    make_text, english, korean = PREFIXED[case]

    response = member_client.post(NEW, {"title": "laptop", "key": make_text()}, HTTP_ACCEPT_LANGUAGE=language)

    message = " ".join(response.context["form"].errors["key"])
    assert (korean if language == "ko" else english) in message
    assert "authorized_keys" not in message
    assert nsml.requests_seen == []


def test_a_line_above_the_key_is_kept_in_the_box_to_delete(member_client, nsml):
    key = ed25519()

    response = member_client.post(NEW, {"title": "laptop", "key": f"user@host:~$ cat id_ed25519.pub\n{key}"})

    assert response.context["form"].errors.as_data()["key"][0].code == "options_prefix"
    assert f"user@host:~$ cat id_ed25519.pub\n{key}</textarea>" in response.content.decode()
    assert nsml.requests_seen == []


def test_a_line_after_the_key_is_kept_in_the_box_to_delete(member_client, nsml):
    """Found in the browser: a key refused for the "Thanks!" under it came back as an empty box, so the member had
    to find and paste the key again rather than delete one line."""
    pasted = f"{ed25519()}\nThanks!"

    response = member_client.post(NEW, {"title": "laptop", "key": pasted})

    assert "other text after the key" in " ".join(response.context["form"].errors["key"])
    assert f"{pasted}</textarea>" in response.content.decode()
    assert nsml.requests_seen == []


def test_private_key_material_after_the_key_is_refused_as_a_private_key_and_not_shown_back(member_client, nsml):
    """The line after a key is shown back only once it passed the private-key check: a private key after a
    public one (cat id_ed25519.pub id_ed25519) is refused by that rule first, and its box comes back empty."""
    private = private_text(generate_private_key("ed25519"))
    body = private.splitlines()[1]

    response = member_client.post(NEW, {"title": "laptop", "key": f"{ed25519()}\n{body}\nThanks!"})

    assert response.context["form"].errors.as_data()["key"][0].code == "private_key"
    assert body not in response.content.decode()
    assert nsml.requests_seen == []


@pytest.mark.parametrize(
    ("language", "hint"), [("en", "open it in PuTTYgen"), ("ko", "PuTTYgen에서 이 파일을 연 다음")]
)
def test_a_putty_key_file_is_refused_saying_where_puttygen_shows_the_public_key(member_client, nsml, language, hint):
    private_line = "AAAAIFl0b3VzaG91bGRub3RwYXN0ZXRoaXNoZXJlAAAA"
    public_blob = ed25519().split()[1]
    ppk = (
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key-20261129\nPublic-Lines: 2\n"
        f"{public_blob[:64]}\n{public_blob[64:]}\nPrivate-Lines: 1\n{private_line}\nPrivate-MAC: {'7e' * 32}\n"
    )

    response = member_client.post(NEW, {"title": "laptop", "key": ppk}, HTTP_ACCEPT_LANGUAGE=language)

    message = " ".join(response.context["form"].errors["key"])
    assert hint.lower() in message.lower()
    assert private_line not in response.content.decode()
    assert nsml.requests_seen == []
