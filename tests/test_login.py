from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")


@pytest.mark.parametrize("url", ["/keys/", "/keys/new/", "/keys/1/"])
def test_every_portal_page_requires_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_a_member_logs_in_with_username_and_password(client, member):
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})

    assert response.status_code == 302
    assert response["Location"] == reverse("keys:list")


def test_a_wrong_password_is_refused(client, member):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})

    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_there_is_no_self_sign_up(client):
    assert client.get("/accounts/signup/").status_code == 404
    assert client.get("/accounts/register/").status_code == 404


def test_logout_ends_the_session(member_client):
    member_client.post(reverse("logout"))

    assert member_client.get("/keys/").status_code == 302


@pytest.mark.parametrize(("language", "says"), [("en", "You are logged out."), ("ko", "로그아웃되었습니다.")])
def test_the_log_in_page_after_logging_out_says_so(member_client, language, says):
    """Found trying the portal as a member: the log-out button led to the log-in page and nothing on it said the
    member was logged out."""
    page = member_client.post(reverse("logout"), follow=True, HTTP_ACCEPT_LANGUAGE=language)

    assert page.redirect_chain[-1][0] == reverse("login")
    assert says in page.content.decode()


def test_a_log_out_without_a_session_says_nothing(client):
    page = client.post(reverse("logout"), follow=True)

    assert "logged out" not in page.content.decode()


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_signed_in_member_sent_back_to_the_log_in_page_lands_on_their_keys(member_client, method):
    """Found with a link to /accounts/login/?next=/accounts/login/: a signed-in member got a 500 (Django's
    "redirection loop for authenticated user"), in place of their keys."""
    login = reverse("login")

    response = getattr(member_client, method)(f"{login}?next={login}")

    assert response.status_code == 302 and response["Location"] == reverse("keys:list")


def _focused_boxes(page: str) -> list[str]:
    return re.findall(r'<input[^>]*\bname="(\w+)"[^>]*\bautofocus\b[^>]*>', page)


@pytest.mark.parametrize(
    ("data", "focused"),
    [
        (None, ["username"]),
        ({"username": "", "password": ""}, ["username"]),
        ({"username": "", "password": "alice-password-1"}, ["username"]),
        ({"username": "alice", "password": ""}, ["password"]),
        ({"username": "alice", "password": "wrong"}, ["password"]),
    ],
)
def test_the_cursor_starts_where_the_member_acts_next_with_javascript_off_too(client, member, data, focused):
    """Found with the keyboard and JavaScript off: after a wrong or an empty password the cursor was back in the
    filled-in username (Django's autofocus), so the member typed their password into the name box; focus.js moved
    it to the password only where JavaScript runs."""
    page = (client.post(LOGIN, data) if data is not None else client.get(LOGIN)).content.decode()

    assert _focused_boxes(page) == focused


@pytest.mark.parametrize(("language", "says"), [("en", "You are not logged in."), ("ko", "로그인되어 있지 않습니다.")])
def test_the_log_out_address_opened_while_logged_out_says_so(client, language, says):
    """Found opening a bookmarked /accounts/logout/ after the session ended: the page was a "Log out" heading and a
    Log in button, and did not say whether the visitor was logged in."""
    client.cookies["django_language"] = language

    page = client.get(reverse("logout"))

    assert page.status_code == 405 and says in page.content.decode()
