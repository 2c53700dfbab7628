"""Shared fixtures: members, fresh public keys, and a real NSML simulator over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from nsml.simulator import NsmlSimulator
from tests import keygen

_PRIVATE_FORMATS = {
    "openssh": serialization.PrivateFormat.OpenSSH,
    "pem": serialization.PrivateFormat.TraditionalOpenSSL,
    "pkcs8": serialization.PrivateFormat.PKCS8,
}


def generate_private_key(kind: str = "ed25519"):
    """A new private key: "ed25519", "rsa2048", "ecdsa384", ... (the names in tests/keygen.py KINDS)."""
    return keygen.generate(kind)


def public_line(private_key, comment: str = "") -> str:
    line = private_key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{line.decode()} {comment}".strip()


def private_text(private_key, fmt: str = "openssh") -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, _PRIVATE_FORMATS[fmt], serialization.NoEncryption()
    ).decode()


@pytest.fixture(autouse=True)
def _test_settings(request):
    # The manifest exists only after collectstatic; tests render pages without running it.
    # A fast password hasher: PBKDF2's deliberate slowness would dominate the suite's run time.
    # Pure-module tests also run without the Django plugin (-p no:django); they need nothing here.
    if not request.config.pluginmanager.hasplugin("django"):
        return
    settings = request.getfixturevalue("settings")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Every test starts with empty counters: the submission rate limit counts in the cache.
    from django.core.cache import cache

    cache.clear()
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def new_public_key() -> Callable[..., str]:
    """A fresh OpenSSH public key line: new_public_key("ed25519", comment="me@laptop")."""

    def make(kind: str = "ed25519", comment: str = "") -> str:
        return public_line(generate_private_key(kind), comment)

    return make


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="alice-password-1")


@pytest.fixture
def other_member(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="bob-password-1")


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def nsml(settings, tmp_path) -> Iterator[NsmlSimulator]:
    """A fresh NSML simulator on a free port, with the portal's settings pointed at it."""
    simulator = NsmlSimulator(
        access_key=settings.NCP_ACCESS_KEY,
        secret_key=settings.NCP_SECRET_KEY,
        api_key=settings.NSML_API_KEY,
        state_path=tmp_path / "nsml-state.json",
        quiet=True,
    )
    simulator.start()
    settings.NSML_API_URL = simulator.base_url
    settings.NSML_TIMEOUT = 2.0
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def register(nsml, new_public_key):
    """Register a key for a member through the real service and simulator: register(member, "laptop")."""
    from keys.audit import Origin
    from keys.services import register_key

    def make(owner, title: str = "laptop", kind: str = "ed25519"):
        return register_key(owner=owner, title=title, key_text=new_public_key(kind), origin=Origin(ip="10.0.0.7"))

    return make


def posts_seen(simulator: NsmlSimulator) -> list[str]:
    return [path for method, path in simulator.requests_seen if method == "POST"]


__all__ = ["generate_private_key", "private_text", "public_line", "posts_seen", "settings"]
