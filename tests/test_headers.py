"""Security headers and cookies on every page, HTTPS settings in production, and Django's deploy check."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.helpers import PRODUCTION_REQUIRED
from tests.live_portal import static_root_env

pytestmark = pytest.mark.django_db


SETTINGS_FILE = Path(settings.BASE_DIR) / "portal" / "settings.py"
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "pRod-7c1f0b9e4a2d8f6e3b5a9c7d1e0f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8",
    "DJANGO_ALLOWED_HOSTS": "keys.example.internal",
    "DJANGO_HTTPS": "true",
    "CACHE_URL": "redis://127.0.0.1:6379/0",
    **PRODUCTION_REQUIRED,
}
MEMBER_PAGES = [reverse("keys:list"), reverse("keys:new")]
ADMIN_PAGES = [
    reverse("admin:index"),
    reverse("admin:keys_auditevent_changelist"),
    reverse("admin:keys_registeredkey_changelist"),
    reverse("admin:auth_user_changelist"),
    reverse("admin:auth_user_add"),
]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


def assert_hardened(response) -> None:
    policy = directives(response)
    assert policy["default-src"] == "default-src 'self'"
    assert policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert policy["form-action"] == "form-action 'self'"
    assert policy["base-uri"] == "base-uri 'self'"
    assert policy["object-src"] == "object-src 'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_login_page_is_hardened(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert_hardened(response)
    assert_no_inline_code(response)


def assert_no_inline_code(response) -> None:
    page = response.content.decode()
    assert not INLINE_SCRIPT.search(page)
    assert not INLINE_STYLE.search(page)


@pytest.mark.parametrize("url", MEMBER_PAGES)
def test_member_pages_are_hardened_and_have_no_inline_script_or_style(member_client, url):
    response = member_client.get(url)

    assert response.status_code == 200
    assert_hardened(response)
    assert_no_inline_code(response)


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_the_admin_works_under_the_policy(admin_client, url):
    response = admin_client.get(url)

    assert response.status_code == 200
    assert_hardened(response)
    # The policy would block inline code in the browser, so the admin must not depend on any.
    assert_no_inline_code(response)


def test_error_pages_are_hardened(client):
    assert_hardened(client.get("/no-such-page/"))


def test_sessions_expire_after_eight_hours(client, member):
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == 8 * 60 * 60
    assert cookie["httponly"]


def test_with_https_on_plain_http_is_redirected_and_hsts_is_sent(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    plain = client.get(reverse("login"))
    behind_proxy = client.get(reverse("login"), HTTP_X_FORWARDED_PROTO="https")

    assert plain.status_code == 301
    assert plain["Location"].startswith("https://")
    assert behind_proxy.status_code == 200
    assert behind_proxy["Strict-Transport-Security"].startswith("max-age=31536000")


def load_settings(monkeypatch, **env) -> dict:
    """portal/settings.py run afresh with this environment, as a dict of its names."""
    for name in ("DJANGO_DEBUG", "DJANGO_HTTPS", "DJANGO_SECRET_KEY", "CACHE_URL", "SESSION_COOKIE_AGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


def test_production_settings_turn_on_https_and_secure_cookies(monkeypatch):
    production = load_settings(monkeypatch, **PRODUCTION)

    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SECURE_HSTS_SECONDS"] >= 31536000
    assert production["SESSION_COOKIE_SECURE"] and production["SESSION_COOKIE_HTTPONLY"]
    assert production["CSRF_COOKIE_SECURE"] and production["CSRF_COOKIE_HTTPONLY"]
    assert production["LANGUAGE_COOKIE_SECURE"]
    assert production["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert production["CACHES"]["default"]["BACKEND"] == "portal.cache.RedisCache"


def set_language(client):
    response = client.post(reverse("set_language"), {"language": "ko", "next": reverse("login")})
    assert response.status_code == 302
    return response.cookies[settings.LANGUAGE_COOKIE_NAME].OutputString()


def test_the_language_cookie_is_httponly_and_same_site_lax(client):
    set_cookie = set_language(client)

    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie


def test_the_language_cookie_is_secure_with_production_settings(client, monkeypatch, settings):
    settings.LANGUAGE_COOKIE_SECURE = load_settings(monkeypatch, **PRODUCTION)["LANGUAGE_COOKIE_SECURE"]

    assert "Secure" in set_language(client)


def test_development_settings_trust_no_proxy_header(monkeypatch):
    development = load_settings(monkeypatch)

    assert development["SECURE_SSL_REDIRECT"] is False
    assert development["SECURE_PROXY_SSL_HEADER"] is None
    assert development["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


def test_the_session_lifetime_comes_from_the_environment(monkeypatch):
    assert load_settings(monkeypatch, SESSION_COOKIE_AGE="3600")["SESSION_COOKIE_AGE"] == 3600


def deploy_check(**env) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CACHE_URL"))}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deploy_check_passes_with_production_settings(collected_static):
    result = deploy_check(**PRODUCTION, **static_root_env(collected_static))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_says_to_run_collectstatic_before_it_has_run(tmp_path):
    """Found starting gunicorn before collectstatic: every page answered 500, and `check --deploy` had said nothing."""
    result = deploy_check(**PRODUCTION, **static_root_env(tmp_path / "static"))

    assert result.returncode != 0
    said = result.stdout + result.stderr
    assert f"(keys.W001) The static files' manifest in STATIC_ROOT ({tmp_path / 'static'}) is missing" in said
    assert "HINT: Run python manage.py collectstatic --noinput before starting the portal." in said


def test_the_deploy_check_refuses_a_cache_processes_do_not_share():
    production = {name: value for name, value in PRODUCTION.items() if name != "CACHE_URL"}

    result = deploy_check(**production)

    assert result.returncode != 0
    assert "django_ratelimit.E003" in result.stderr + result.stdout
