"""With debug off, the portal refuses to start on a missing, short or development secret key: every
manage.py command and gunicorn stop at start, naming DJANGO_SECRET_KEY and never printing the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.helpers import PRODUCTION_REQUIRED

# The default portal/settings.py ships: public, so it must never sign anything in production.
DEVELOPMENT_KEY = "dev-only-insecure-secret-key-change-me-in-production-0123456789"
GOOD_KEY = "pRod-7c1f0b9e4a2d8f6e3b5a9c7d1e0f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8"
BAD_KEYS = {
    "development": DEVELOPMENT_KEY,
    "short": "short-but-not-empty-Zx9Qw2Er7Ty",
    "empty": "",
    "django-insecure": "django-insecure-" + "k3y-" * 12,
    "one-repeated-character": "a" * 64,
}


def run(*command: str, secret_key: str | None, debug: str = "false") -> subprocess.CompletedProcess:
    """A command in a fresh process, with debug off and this secret key (None: unset)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CACHE_URL"))}
    environment.update(
        DJANGO_DEBUG=debug,
        DJANGO_ALLOWED_HOSTS="keys.example.internal",
        CACHE_URL="redis://127.0.0.1:6379/0",
        **PRODUCTION_REQUIRED,
    )
    if secret_key is not None:
        environment["DJANGO_SECRET_KEY"] = secret_key
    return subprocess.run(command, cwd=settings.BASE_DIR, env=environment, capture_output=True, text=True, timeout=120)


def assert_refused(result: subprocess.CompletedProcess, secret_key: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "ImproperlyConfigured" in output
    assert "DJANGO_SECRET_KEY" in output
    if secret_key:
        assert secret_key not in output


def test_manage_py_refuses_to_start_without_a_secret_key():
    result = run(sys.executable, "manage.py", "check", secret_key=None)

    assert_refused(result, DEVELOPMENT_KEY)


@pytest.mark.parametrize("secret_key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_manage_py_refuses_to_start_on_a_weak_secret_key(secret_key):
    result = run(sys.executable, "manage.py", "check", secret_key=secret_key)

    assert_refused(result, secret_key)


def test_a_command_without_system_checks_is_refused_too():
    result = run(sys.executable, "manage.py", "shell", "-c", "pass", secret_key=None)

    assert_refused(result, DEVELOPMENT_KEY)


def test_gunicorn_refuses_to_load_the_portal_without_a_secret_key():
    result = run(sys.executable, "-m", "gunicorn", "--check-config", "portal.wsgi", secret_key=None)

    assert_refused(result, DEVELOPMENT_KEY)


def test_a_long_random_secret_key_starts():
    result = run(sys.executable, "manage.py", "check", secret_key=GOOD_KEY)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_development_keeps_its_default_key():
    result = run(sys.executable, "manage.py", "check", secret_key=None, debug="true")

    assert result.returncode == 0, result.stdout + result.stderr
