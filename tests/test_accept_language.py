"""The language a browser's Accept-Language picks (portal/languages.py): a language sent with q=0 is refused
(RFC 9110), on the member pages, the log-in page, the admin and the API's errors alike; odd headers never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

HANGUL = range(0xAC00, 0xD7A4)


def language_of(response) -> str:
    assert response.status_code < 500
    return response["Content-Language"]


def has_hangul(text: str) -> bool:
    return any(ord(character) in HANGUL for character in text)


@pytest.mark.parametrize("header", ["ko;q=0", "ko;q=0, en;q=0.5", "ko-KR;q=0", "KO;Q=0.000", "ko;q=0, *"])
def test_a_refused_korean_gets_english_everywhere(client, admin_client, member, header):
    login = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE=header)
    assert language_of(login) == "en"
    assert "로그인" not in login.content.decode()
    assert language_of(client.get(reverse("admin:login"), HTTP_ACCEPT_LANGUAGE=header)) == "en"
    admin_page = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE=header)
    assert language_of(admin_page) == "en" and '<html lang="en"' in admin_page.content.decode()
    client.force_login(member)
    keys_page = client.get(reverse("keys:list"), HTTP_ACCEPT_LANGUAGE=header)
    assert language_of(keys_page) == "en" and "My keys" in keys_page.content.decode()


def test_the_apis_errors_follow_a_refused_korean_too(client):
    response = client.get("/api/v1/nope", HTTP_ACCEPT_LANGUAGE="ko;q=0")

    assert response.status_code == 404
    assert not has_hangul(response.json()["error"]["message"])


def test_a_refused_english_with_any_other_language_gets_korean(client):
    assert language_of(client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en;q=0, *")) == "ko"


@pytest.mark.parametrize("header", ["ko", "KO", "ko-KR", "ko-KR, en;q=0.5", "en;q=0, ko;q=0.1", "ko-KR;q=0, ko;q=0.2"])
def test_an_accepted_korean_still_gets_korean(client, header):
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE=header)

    assert language_of(response) == "ko"
    assert "로그인" in response.content.decode()


def test_the_language_chosen_on_the_portal_still_wins_over_the_header(client):
    client.post(reverse("set_language"), {"language": "ko", "next": reverse("login")})

    assert language_of(client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="ko;q=0")) == "ko"


@pytest.mark.parametrize(
    "header",
    [
        "*",
        ";;;q=abc",
        "ko;q=abc",
        "ko;q=1.5",
        "ko;q=-0",
        "q=0",
        ",,,",
        "ko;;q=0",
        "\u00e9\u00e9;q=0",
        "x" * 10_000,
        "ko;q=0," * 2_000,
        "en;q=0, " + "ko-" * 3_000,
    ],
    ids=lambda header: header[:20],
)
def test_an_odd_header_gets_a_page_not_a_500(client, admin_client, header):
    for page_client, url in [
        (client, reverse("login")),
        (admin_client, reverse("admin:index")),
        (client, "/api/v1/keys"),
    ]:
        assert language_of(page_client.get(url, HTTP_ACCEPT_LANGUAGE=header)) in {"en", "ko"}
