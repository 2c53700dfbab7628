"""Shared fixtures: members, fresh public keys, a real NSML simulator over HTTP, the newest audit row.

Plain helpers (key makers, free_port, posts_seen) are in tests/helpers.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nsml.simulator import NsmlSimulator
from tests.helpers import generate_private_key, public_line
from tests.live_portal import collect_static


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


@pytest.fixture(autouse=True)
def _no_language_left_active(request) -> Iterator[None]:
    """A Korean page leaves Korean active in the test's thread (LocaleMiddleware activates a language and
    nothing resets it), so the next test's commands and services would speak Korean: each test ends with
    none active, as a fresh process starts."""
    yield
    if request.config.pluginmanager.hasplugin("django"):
        from django.utils import translation

        translation.deactivate()


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """A STATIC_ROOT `collectstatic` has filled, once per run: for production portal processes (DJANGO_DEBUG=false),
    which are not ready without its manifest (tests/live_portal.py, static_root_env)."""
    root = tmp_path_factory.mktemp("collected") / "static"
    collect_static(root)
    return root


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


@pytest.fixture
def event():
    """The newest audit row, optionally among those matching filters: event(), event(action="revoke").

    Fails the test, naming the filters, when no row matches.
    """
    from keys.models import AuditEvent

    def newest(**filters):
        row = AuditEvent.objects.filter(**filters).order_by("-id").first()
        assert row is not None, f"no audit row matching {filters or 'anything'}"
        return row

    return newest


@pytest.fixture
def token_for():
    """A new API token's secret for a user, through the real service: token_for(member, days=30)."""
    from keys.audit import Origin
    from keys.services.tokens import create_token

    made = iter(range(1, 1000))

    def make(user, name: str = "", days: int = 30) -> str:
        return create_token(
            user=user, name=name or f"script-{next(made)}", days=days, origin=Origin(ip="10.0.0.9")
        ).secret

    return make
