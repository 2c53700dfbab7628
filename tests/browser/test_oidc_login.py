"""OpenID Connect log-in end to end: Chromium, the live portal and a real OpenID provider on a free port
(oidc-provider-mock: Flask and Authlib, discovery, signed ID tokens, userinfo, end-session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from prometheus_client import REGISTRY

from keys.models import AuditEvent

pytestmark = pytest.mark.browser

PROVIDER = "Example SSO"


@pytest.fixture
def provider(monkeypatch, settings, portal) -> Iterator[str]:
    """A real OpenID provider in a thread, with the portal's OIDC settings pointed at it (discovery)."""
    oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain HTTP on loopback, for the test only
    users = [
        oidc_provider_mock.User(
            sub="0b8e-kim", claims={"preferred_username": "kim.minsu", "email": "kim.minsu@example.com"}
        ),
        oidc_provider_mock.User(sub="77aa-lee", claims={"preferred_username": "lee.jiwoo", "email": "lee@example.com"}),
    ]
    with oidc_provider_mock.run_server_in_thread(user_claims=users) as server:
        issuer = f"http://localhost:{server.server_port}"
        settings.OIDC_ISSUER = issuer
        settings.OIDC_RP_CLIENT_ID = "nsml-key-portal"
        settings.OIDC_RP_CLIENT_SECRET = "portal-client-secret"
        settings.OIDC_PROVIDER_NAME = PROVIDER
        yield issuer


def sign_in_as(page, sub: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_role("link", name=f"Sign in with {PROVIDER}").click()
    # The provider's own page: pick the user, as a person would type their name and password there.
    page.get_by_role("button", name=sub).click()


def test_a_first_time_user_is_created_inactive_then_signs_in_once_approved(
    page, provider, django_user_model, check_page
):
    page.goto("/accounts/login/")
    check_page(page, "login-oidc")
    sign_in_as(page, "77aa-lee")

    page.wait_for_url("**/accounts/login/")
    expect(page.get_by_role("status")).to_contain_text("waiting for an administrator to approve it")
    user = django_user_model.objects.get(username="lee.jiwoo")
    assert (user.is_active, user.is_staff, user.is_superuser, user.has_usable_password()) == (
        False,
        False,
        False,
        False,
    )
    assert user.email == "lee@example.com"
    refused = AuditEvent.objects.filter(action="login_failed").get()
    assert (refused.actor_username, refused.reason) == ("lee.jiwoo", "inactive_oidc_user")

    user.is_active = True  # an admin approves the account
    user.save()
    sign_in_as(page, "77aa-lee")

    page.wait_for_url("**/keys/")
    expect(page.locator(".who")).to_have_text("lee.jiwoo")
    login = AuditEvent.objects.filter(action="login").get()
    assert (login.actor, login.reason, login.detail) == (user, "oidc", f"OIDC via {PROVIDER}")
    assert django_user_model.objects.count() == 1


def test_a_known_member_signs_in_and_logging_out_ends_the_providers_session(page, provider, browser_member):
    sign_in_as(page, "0b8e-kim")
    page.wait_for_url("**/keys/")
    expect(page.locator(".who")).to_have_text("kim.minsu")

    page.get_by_role("button", name="Log out").click()

    # The provider's end-session page, reached with the ID token and the way back to the portal.
    page.wait_for_url(f"{provider}/oauth2/end_session?**")
    assert "id_token_hint=" in page.url and "post_logout_redirect_uri=" in page.url
    page.get_by_role("button", name="End session").click()
    page.wait_for_url("**/accounts/login/")
    page.goto("/keys/")
    page.wait_for_url("**/accounts/login/?next=/keys/")
    logout = AuditEvent.objects.filter(action="logout").get()
    assert (logout.actor, logout.reason) == (browser_member, "oidc")


def test_a_staff_account_is_never_opened_through_oidc(page, provider, browser_member):
    browser_member.is_staff = True
    browser_member.save()

    sign_in_as(page, "0b8e-kim")

    page.wait_for_url("**/accounts/login/")
    expect(page.get_by_role("status")).to_contain_text(f"Signing in with {PROVIDER} did not work")
    assert AuditEvent.objects.filter(action="login").count() == 0
    row = AuditEvent.objects.get(action="login_failed")
    assert row.reason == "oidc_refused"


def test_a_refused_oidc_sign_in_counts_as_a_failed_log_in(page, provider, browser_member, django_user_model):
    """Found reading /metrics beside the audit log: a staff account refused through OIDC, and a new user waiting for
    approval, each wrote a login_failed row, but portal_logins_total{outcome="failed"} did not move."""

    def failed() -> float:
        return REGISTRY.get_sample_value("portal_logins_total", {"outcome": "failed"}) or 0

    browser_member.is_staff = True
    browser_member.save()
    before = failed()

    sign_in_as(page, "0b8e-kim")  # staff: refused
    page.wait_for_url("**/accounts/login/")
    sign_in_as(page, "77aa-lee")  # created inactive: waits for an administrator
    page.wait_for_url("**/accounts/login/")
    expect(page.get_by_role("status")).to_contain_text("waiting for an administrator to approve it")

    assert AuditEvent.objects.filter(action="login_failed").count() == 2
    assert failed() - before == 2


def test_an_oidc_member_changes_keys_without_a_password_prompt(page, provider, browser_member, nsml):
    sign_in_as(page, "0b8e-kim")
    page.wait_for_url("**/keys/")

    page.goto("/tokens/")
    page.get_by_label("Token name").fill("ci")
    page.get_by_role("button", name="Create token").click()

    expect(page.locator("#new-token-secret")).to_be_visible()
