"""Trusted-header single sign-on: off by default; when on, the proxy's header logs the person in."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from keys.models import AuditEvent
from tests.helpers import generate_private_key, private_text
from tests.test_private_key_anywhere import assert_nowhere, stored_rows

pytestmark = pytest.mark.django_db


HEADER = "X-Forwarded-User"
SETTINGS_FILE = Path(django_settings.BASE_DIR) / "portal" / "settings.py"
KEYS = reverse("keys:list")


@pytest.fixture
def sso(settings):
    """What settings.py does when SSO_REMOTE_USER_HEADER is set (tested below), for this test."""
    settings.SSO_REMOTE_USER_HEADER = HEADER
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
        "keys.auth.TrustedHeaderMiddleware",
    )
    settings.MIDDLEWARE = middleware
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "keys.auth.TrustedHeaderBackend"]
    return settings


def as_user(name: str) -> dict:
    return {"HTTP_X_FORWARDED_USER": name}


def test_the_header_is_ignored_when_sso_is_off(client, member):
    response = client.get(KEYS, **as_user("alice"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not get_user_model().objects.filter(username="mallory").exists()
    client.get(KEYS, **as_user("mallory"))
    assert not get_user_model().objects.filter(username="mallory").exists()
    assert not AuditEvent.objects.exclude(action="user_create").exists()


def test_settings_install_sso_only_when_a_header_is_named(monkeypatch):
    monkeypatch.delenv("SSO_REMOTE_USER_HEADER", raising=False)
    off = runpy.run_path(str(SETTINGS_FILE))
    monkeypatch.setenv("SSO_REMOTE_USER_HEADER", HEADER)
    on = runpy.run_path(str(SETTINGS_FILE))

    assert "keys.auth.TrustedHeaderMiddleware" not in off["MIDDLEWARE"]
    assert "keys.auth.TrustedHeaderBackend" not in off["AUTHENTICATION_BACKENDS"]
    auth = on["MIDDLEWARE"].index("django.contrib.auth.middleware.AuthenticationMiddleware")
    assert on["MIDDLEWARE"][auth + 1] == "keys.auth.TrustedHeaderMiddleware"
    assert on["AUTHENTICATION_BACKENDS"][-1] == "keys.auth.TrustedHeaderBackend"


def test_the_header_logs_a_known_member_in(sso, client, member, event):
    response = client.get(KEYS, **as_user("alice"))

    assert response.status_code == 200
    assert response.context["user"] == member
    row = event()
    assert (row.action, row.outcome, row.actor, row.reason) == ("login", "success", member, "single_sign_on")
    assert "SSO" in row.detail and HEADER in row.detail


def test_later_requests_reuse_the_session_without_another_log_in(sso, client, member):
    for _ in range(3):
        assert client.get(KEYS, **as_user("alice")).status_code == 200

    assert AuditEvent.objects.filter(action="login").count() == 1


def test_an_unknown_user_is_created_inactive_for_an_admin_to_approve(sso, client, event):
    response = client.get(KEYS, **as_user("carol"))

    assert response.status_code == 302
    carol = get_user_model().objects.get(username="carol")
    assert not carol.is_active
    assert not carol.has_usable_password()
    row = event()
    assert (row.action, row.outcome, row.reason, row.actor_username) == (
        "login_failed",
        "refused",
        "inactive_sso_user",
        "carol",
    )


INACTIVE_NOTICE = "your account here is not active"


def test_the_log_in_page_tells_a_member_waiting_for_approval_why_they_are_not_in(sso, client):
    # The proxy signed them in; the password form alone (they have no password) would leave them guessing.
    response = client.get(KEYS, **as_user("carol"), follow=True)

    assert response.resolver_match.view_name == "login"
    assert INACTIVE_NOTICE in response.content.decode()
    korean = client.get(reverse("login"), **as_user("carol"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "관리자의 승인을" in korean and INACTIVE_NOTICE not in korean


def test_the_log_in_page_tells_a_deactivated_member_too(sso, client, member):
    member.is_active = False
    member.save()

    response = client.get(reverse("login"), **as_user("alice"))

    assert INACTIVE_NOTICE in response.content.decode()


def test_the_log_in_page_says_nothing_of_an_account_to_a_stranger_or_an_administrator(sso, client, admin_user):
    assert INACTIVE_NOTICE not in client.get(reverse("login")).content.decode()
    # An administrator's name in the header opens nothing, and their password still works: nothing to approve.
    assert INACTIVE_NOTICE not in client.get(reverse("login"), **as_user(admin_user.username)).content.decode()


def test_an_unknown_user_is_created_active_when_configured(sso, client):
    sso.SSO_CREATE_USERS_ACTIVE = True

    response = client.get(KEYS, **as_user("dave"))

    assert response.status_code == 200
    assert get_user_model().objects.get(username="dave").is_active


def test_the_session_ends_when_the_proxy_stops_sending_the_header(sso, client, member):
    client.get(KEYS, **as_user("alice"))

    response = client.get(KEYS)

    assert response.status_code == 302


def test_a_different_header_switches_to_that_user(sso, client, member, other_member):
    client.get(KEYS, **as_user("alice"))

    response = client.get(KEYS, **as_user("bob"))

    assert response.context["user"] == other_member


def test_an_empty_header_logs_nobody_in(sso, client, member):
    response = client.get(KEYS, **as_user("  "))

    assert response.status_code == 302
    assert not AuditEvent.objects.exclude(action="user_create").exists()
    assert get_user_model().objects.count() == 1


def test_password_log_ins_still_work_beside_sso(sso, client, member):
    member.set_password("alice-password-1")
    member.save()

    client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})

    # No header on this request: a password session is not the proxy's to end.
    assert client.get(KEYS).status_code == 200


def test_sso_attempts_never_lock_out_password_log_ins(sso, client, member):
    for _ in range(8):
        client.get(KEYS, **as_user("pending-user"))

    member.set_password("alice-password-1")
    member.save()
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})

    assert response.status_code == 302


INVALID_HEADERS = {
    "two-headers-joined": "alice,admin",
    "joined-with-a-space": "alice, admin",
    "space-inside": "alice admin",
    "tab-inside": "alice\tadmin",
    "too-long": "a" * 151,
    "bidi-override": "ad\u202enimda",
    "nul": "alice\x00",
    "escape-sequence": "alice\x1b[31m",
    "fullwidth": "\uff41\uff44\uff4d\uff49\uff4e",
    "slash": "alice/admin",
}


@pytest.mark.parametrize("value", INVALID_HEADERS.values(), ids=INVALID_HEADERS.keys())
def test_a_header_that_is_not_one_user_name_logs_nobody_in(sso, client, member, value):
    response = client.get(KEYS, **as_user(value))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["alice"]


def test_a_joined_header_is_audited_as_refused(sso, client, member, event):
    client.get(KEYS, **as_user("alice,admin"))

    row = event()
    assert (row.action, row.outcome, row.reason, row.actor, row.actor_username) == (
        "login_failed",
        "refused",
        "invalid_sso_header",
        None,
        "alice,admin",
    )
    assert HEADER in row.detail
    assert AuditEvent.objects.exclude(action="user_create").count() == 1


def test_a_refused_header_is_audited_with_control_characters_escaped(sso, client, event):
    client.get(KEYS, **as_user("ad\u202enimda\x1b[31m\x00"))

    assert event().actor_username == "ad\\u202enimda\\x1b[31m\\x00"


def test_a_refused_header_is_audited_cut_to_150_characters(sso, client, event):
    client.get(KEYS, **as_user("\x00" * 200))

    assert event().actor_username == ("\\x00" * 200)[:150]


def test_a_refused_header_ends_a_single_sign_on_session(sso, client, member):
    client.get(KEYS, **as_user("alice"))

    response = client.get(KEYS, **as_user("alice,admin"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_name_at_the_limit_with_dots_and_at_signs_is_accepted(sso, client):
    name = "first.last+sso@example.com-" + "x" * 123

    client.get(KEYS, **as_user(name))

    assert get_user_model().objects.filter(username=name).exists()


@pytest.mark.parametrize("power", ["is_staff", "is_superuser"])
def test_the_header_never_opens_a_staff_or_superuser_account(sso, client, django_user_model, power, event):
    # As with OIDC: whoever controls a name at the proxy, or reaches the portal around it, is no administrator.
    django_user_model.objects.create_user(username="root", password="root-password-1", **{power: True})

    for _ in range(3):
        response = client.get(reverse("admin:index"), **as_user("root"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert client.get(KEYS, **as_user("root")).status_code == 302

    refused = event(action="login_failed")
    assert (refused.outcome, refused.reason, refused.actor_username) == ("refused", "staff_sso_user", "root")
    assert AuditEvent.objects.filter(action="login_failed").count() == 1
    assert not AuditEvent.objects.filter(action="login").exists()


def test_an_administrator_still_logs_in_with_their_password_behind_the_proxy(sso, client, admin_user):
    response = client.post(reverse("admin:login"), {"username": "admin", "password": "password"}, **as_user("admin"))

    assert response.status_code == 302
    assert client.get(reverse("admin:index"), **as_user("admin")).status_code == 200


def test_a_token_or_a_private_keys_body_in_the_header_is_never_made_a_user_or_kept(sso, client, member, token_for):
    """Found in QA pass 3: an API token's secret and a private key's body are made of a user name's letters,
    so the header made each an (inactive) user, named by the secret in the user list and the audit log."""
    secret = token_for(member, name="ci")
    body = "".join(private_text(generate_private_key("ed25519")).splitlines()[1:-1])[:140]

    answers = [client.get(KEYS, **as_user(value)) for value in (secret, body, f"{secret} x")]

    assert [answer.status_code for answer in answers] == [302, 302, 302]
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["alice"]
    refused = AuditEvent.objects.filter(reason="invalid_sso_header").order_by("id")
    assert list(refused.values_list("actor_username", flat=True)) == [
        "nsmlk_[redacted]",
        "[removed: it held private-key material]",
        "nsmlk_[redacted] x",
    ]
    rows = stored_rows()
    assert secret[6:30] not in rows
    assert_nowhere(body, rows)
