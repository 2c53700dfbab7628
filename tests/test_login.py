from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


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


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
