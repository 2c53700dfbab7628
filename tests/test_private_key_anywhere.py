"""A private key pasted anywhere in the add-key form is refused before any other rule, and no field
that held it comes back in the page; it is never stored or logged."""

from __future__ import annotations

import base64
import logging
import re

import pytest
from cryptography.hazmat.primitives import serialization
from django.apps import apps
from django.core import serializers
from django.urls import reverse

from keys.sshkeys import holds_private_key
from tests.helpers import generate_private_key, private_text, public_line

pytestmark = pytest.mark.django_db

NEW = reverse("keys:new")


def der_body(kind: str, fmt: serialization.PrivateFormat, *, lines: bool = True) -> str:
    """A private key's PEM body without its BEGIN/END lines, wrapped at 64 like PEM or on one line."""
    der = generate_private_key(kind).private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
    text = base64.b64encode(der).decode()
    return "\n".join(text[i : i + 64] for i in range(0, len(text), 64)) if lines else text


def encrypted_pkcs8_body() -> str:
    der = generate_private_key("ed25519").private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    return base64.b64encode(der).decode()


BODIES = {
    "pkcs1-rsa-lines": lambda: der_body("rsa2048", serialization.PrivateFormat.TraditionalOpenSSL),
    "pkcs1-rsa-one-line": lambda: der_body("rsa2048", serialization.PrivateFormat.TraditionalOpenSSL, lines=False),
    "sec1-ec": lambda: der_body("ecdsa256", serialization.PrivateFormat.TraditionalOpenSSL),
    "pkcs8-ed25519": lambda: der_body("ed25519", serialization.PrivateFormat.PKCS8),
    "pkcs8-rsa-one-line": lambda: der_body("rsa2048", serialization.PrivateFormat.PKCS8, lines=False),
    "pkcs8-encrypted": encrypted_pkcs8_body,
    "openssh-body": lambda: "\n".join(private_text(generate_private_key("ed25519")).strip().splitlines()[1:-1]),
}


def fragments(secret: str) -> list[str]:
    """Pieces of the secret long enough that finding one anywhere means it leaked."""
    compact = "".join(line for line in secret.splitlines() if "PRIVATE" not in line)
    compact = "".join(compact.split())
    return [compact[i : i + 24] for i in range(0, len(compact) - 24, 24)]


def assert_nowhere(secret: str, text: str) -> None:
    leaked = [piece for piece in fragments(secret) if piece in text]
    assert not leaked, f"private key material found: {leaked[:2]}"


def stored_rows() -> str:
    return "\n".join(serializers.serialize("json", model.objects.all()) for model in apps.get_models())


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_an_unarmoured_private_key_body_is_refused_as_a_private_key(member_client, nsml, kind):
    body = BODIES[kind]()

    response = member_client.post(NEW, {"title": "laptop", "key": body})

    errors = response.context["form"].errors.as_data()
    assert [error.code for error in errors["key"]] == ["private_key"]
    assert_nowhere(body, response.content.decode())
    assert nsml.requests_seen == []


@pytest.mark.parametrize("title", ["", "my laptop", "1laptop", "x" * 65])
@pytest.mark.parametrize("fmt", ["openssh", "pkcs8"])
def test_a_private_key_wins_over_a_bad_title(member_client, nsml, title, fmt):
    secret = private_text(generate_private_key("ecdsa256"), fmt)

    response = member_client.post(NEW, {"title": title, "key": secret})

    errors = response.context["form"].errors.as_data()
    assert list(errors) == ["key"]
    assert errors["key"][0].code == "private_key"
    assert_nowhere(secret, response.content.decode())


def test_a_private_key_padded_past_the_size_limit_is_refused_as_a_private_key(member_client, nsml):
    secret = private_text(generate_private_key("ed25519")) + " " * 20_000

    response = member_client.post(NEW, {"title": "laptop", "key": secret})

    assert response.context["form"].errors.as_data()["key"][0].code == "private_key"
    assert_nowhere(secret, response.content.decode())


@pytest.mark.parametrize(
    "pasted",
    [
        pytest.param(lambda: private_text(generate_private_key("ed25519")), id="armoured"),
        pytest.param(lambda: "-----BEGIN OPENSSH PRIVATE KEY-----", id="armour-line"),
        pytest.param(BODIES["pkcs8-rsa-one-line"], id="pkcs8-body"),
    ],
)
def test_a_private_key_in_the_title_is_refused_and_the_title_comes_back_empty(
    member_client, nsml, new_public_key, pasted, event
):
    secret = pasted()

    response = member_client.post(NEW, {"title": secret, "key": new_public_key()})

    errors = response.context["form"].errors.as_data()
    assert errors["title"][0].code == "private_key"
    assert "private key" in str(errors["title"][0].message)
    assert not re.search(r'<input[^>]*name="title"[^>]*value="[^"]', response.content.decode())
    assert_nowhere(secret, response.content.decode())
    assert "PRIVATE KEY" not in response.content.decode().split("<form", 1)[1].split("</form>")[0].upper().replace(
        "THIS IS YOUR PRIVATE KEY", ""
    )
    assert nsml.requests_seen == []
    assert event(action="register").reason == "private_key"


@pytest.mark.parametrize(
    ("title", "after_the_key"),
    [
        pytest.param("laptop", "\x00", id="null-character-after-the-key"),
        pytest.param("lap\x00top", "", id="null-character-in-the-title"),
    ],
)
def test_a_private_key_in_a_form_refused_for_a_null_character_is_not_sent_back(
    member_client, nsml, title, after_the_key
):
    secret = private_text(generate_private_key("ed25519"))

    response = member_client.post(NEW, {"title": title, "key": secret + after_the_key})

    errors = response.context["form"].errors.as_data()
    assert [error.code for error in errors["key"]] == ["private_key"]
    assert_nowhere(secret, response.content.decode())
    assert nsml.requests_seen == []


def test_private_key_material_is_stored_and_logged_nowhere(member_client, nsml, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = [BODIES["pkcs1-rsa-lines"](), private_text(generate_private_key("rsa2048"), "pem")]

    for secret in secrets:
        member_client.post(NEW, {"title": secret, "key": secret})
        member_client.post(NEW, {"title": "", "key": secret})

    for secret in secrets:
        assert_nowhere(secret, stored_rows())
        assert_nowhere(secret, caplog.text)


def test_public_keys_and_their_der_are_not_mistaken_for_private_keys():
    private_key = generate_private_key("rsa2048")
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    assert not holds_private_key(public_line(private_key, "me@laptop"))
    assert not holds_private_key(base64.b64encode(public_der).decode())
    assert not holds_private_key("A" * 400)
