"""Who the API lets in: a usable token in `Authorization: Bearer`, nothing else, and never saying why not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from keys.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/keys"


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def assert_unauthorized(response) -> None:
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {
        "error": {
            "code": "unauthorized",
            "message": "Send a valid access token: Authorization: Bearer <token>.",
            "field": None,
        }
    }


def test_it_lists_the_callers_keys_with_a_token(client, member, token_for, register):
    register(member, "alice-laptop")

    response = client.get(KEYS, **bearer(token_for(member)))

    assert response.status_code == 200
    assert [key["title"] for key in response.json()] == ["alice-laptop"]


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6cGFzcw==", "Bearer nsmlk_wrong", "Bearer not-even-a-token"],
)
def test_a_missing_or_wrong_token_gets_the_same_401(client, member, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}

    assert_unauthorized(client.get(KEYS, **extra))


def test_head_asks_for_the_same_token_as_get(client, member, token_for):
    unauthenticated = client.head(KEYS)

    assert unauthenticated.status_code == 401
    assert unauthenticated["WWW-Authenticate"].startswith("Bearer")
    assert client.head(KEYS, **bearer(token_for(member))).status_code == 200


def test_an_expired_token_gets_the_same_401(client, member, token_for):
    secret = token_for(member)
    assert client.get(KEYS, **bearer(secret)).status_code == 200
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert_unauthorized(client.get(KEYS, **bearer(secret)))


def test_a_revoked_token_gets_the_same_401(member_client, client, member, token_for):
    secret = token_for(member, name="deploy")
    token = ApiToken.objects.get(name="deploy")
    member_client.post(f"/tokens/{token.pk}/revoke/")

    assert_unauthorized(client.get(KEYS, **bearer(secret)))


def test_a_deactivated_users_tokens_stop_working(client, member, token_for):
    secret = token_for(member)
    member.is_active = False
    member.save()

    assert_unauthorized(client.get(KEYS, **bearer(secret)))


def test_a_browser_session_opens_nothing(member_client):
    assert_unauthorized(member_client.get(KEYS))


def test_a_session_cookie_beside_a_token_acts_as_the_tokens_user(member_client, other_member, token_for, register):
    register(other_member, "bob-laptop")

    response = member_client.get(KEYS, **bearer(token_for(other_member)))

    assert [key["title"] for key in response.json()] == ["bob-laptop"]


def test_it_needs_no_csrf_token(member, token_for, nsml, new_public_key):
    strict = Client(enforce_csrf_checks=True)

    response = strict.post(
        KEYS,
        {"title": "alice-laptop", "key": new_public_key()},
        content_type="application/json",
        **bearer(token_for(member)),
    )

    assert response.status_code == 201


def test_the_first_use_is_audited_once_and_last_used_is_kept(client, member, token_for):
    secret = token_for(member, name="deploy")
    for _ in range(3):
        client.get(KEYS, **bearer(secret), HTTP_USER_AGENT="curl/8.5.0")

    rows = AuditEvent.objects.filter(action="token_first_use")
    assert [(row.actor, row.title) for row in rows] == [(member, "deploy")]
    assert rows[0].user_agent == 'api token "deploy"; curl/8.5.0'
    assert rows[0].fingerprint == secret[:14]
    assert ApiToken.objects.get().last_used_at is not None


def test_only_a_hash_of_the_secret_is_stored(member, token_for):
    secret = token_for(member)

    token = ApiToken.objects.get()
    assert secret.startswith("nsmlk_") and len(secret) == 6 + 43
    assert token.prefix == secret[:14]
    stored = str(ApiToken.objects.values().get()) + str(list(AuditEvent.objects.values()))
    assert secret not in stored
    assert secret[14:] not in stored


def test_a_token_is_not_logged_whatever_scheme_it_comes_with(client, member, token_for, caplog, settings):
    settings.DEBUG = True  # django-ninja's own bearer check logs a foreign scheme's header in debug
    secret = token_for(member)

    client.get(KEYS, HTTP_AUTHORIZATION=f"Token {secret}")
    client.get(KEYS, **bearer(secret))

    assert secret not in caplog.text
