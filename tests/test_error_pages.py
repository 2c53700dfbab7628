"""Error pages speak plainly, in the portal's own layout, in the member's language."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.utils import translation
from django.views import defaults

pytestmark = pytest.mark.django_db


def test_a_missing_page_has_the_portals_404(member_client):
    response = member_client.get("/keys/987654/")

    page = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in page
    assert "NSML Key Portal" in page
    assert 'href="/keys/"' in page


def test_the_404_page_is_translated(member_client):
    member_client.cookies["django_language"] = "ko"

    page = member_client.get("/keys/987654/").content.decode()

    assert "Page not found" not in page
    assert '<html lang="ko">' in page


def test_a_forbidden_page_has_the_portals_403(member):
    request = RequestFactory().get("/somewhere/")
    request.user = member

    with translation.override("en"):
        response = defaults.permission_denied(request, PermissionDenied())

    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()


def test_the_browsers_favicon_request_finds_the_icon_not_a_404(client):
    """Found in a browser pass: every first visit logged "Not Found: /favicon.ico"."""
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"].endswith("portal/icon.svg")
    page = client.get("/accounts/login/").content.decode()
    assert 'rel="icon"' in page


def _token_in(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_a_log_in_page_left_open_in_another_tab_says_what_to_do_in_the_members_language(member):
    """Found in a browser pass: log in in one tab, then submit the log-in page still open in a second tab.
    Logging in renews the CSRF token, so the second tab's form is refused; the member read Django's stock
    page ("Forbidden (403) ... More information is available with DEBUG=True"), in no layout, and no way on."""
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="ko")
    second_tab = browser.get("/accounts/login/").content.decode()
    first_tab = browser.get("/accounts/login/").content.decode()
    credentials = {"username": "alice", "password": "alice-password-1"}
    logged_in = browser.post("/accounts/login/", {**credentials, "csrfmiddlewaretoken": _token_in(first_tab)})
    assert logged_in.status_code == 302

    response = browser.post("/accounts/login/", {**credentials, "csrfmiddlewaretoken": _token_in(second_tab)})

    page = response.content.decode()
    assert response.status_code == 403
    assert "DEBUG" not in page
    assert "Forbidden" not in page
    assert '<html lang="ko">' in page
    assert "NSML 키 포털" in page
    assert "다른 탭" in page  # what happened: the page was opened before a log-in or log-out, perhaps in another tab
    assert 'href="/keys/"' in page  # and the way on


def test_an_api_client_still_gets_json_for_a_refused_csrf_token():
    response = Client(enforce_csrf_checks=True).post("/api/v1/openapi.json")

    assert response.status_code in (403, 405)
    assert response["Content-Type"].startswith("application/json")


@pytest.fixture
def signed_out_meanwhile(member_client, nsml, monkeypatch):
    """The member signs out in another tab while NSML answers their submission (the same session ends)."""
    from importlib import import_module

    from django.conf import settings

    from keys import services

    register_key = services.register_key

    def register_then_sign_out(**kwargs):
        key = register_key(**kwargs)
        import_module(settings.SESSION_ENGINE).SessionStore(member_client.session.session_key).delete()
        return key

    monkeypatch.setattr(services, "register_key", register_then_sign_out)
    return member_client


def test_a_submission_whose_session_ended_meanwhile_says_so_not_that_the_request_was_unreadable(
    signed_out_meanwhile, new_public_key
):
    """It said "The portal cannot read this request ... a NUL character ... too large" of a key NSML registered."""
    from keys.models import RegisteredKey

    response = signed_out_meanwhile.post("/keys/new/", {"title": "laptop", "key": new_public_key()})

    page = response.content.decode()
    assert response.status_code == 400
    assert "You were signed out while the portal worked on this request" in page
    assert "What the request did is kept" in page
    assert "NUL" not in page
    assert RegisteredKey.objects.get(title="laptop").status == "active"


def test_the_signed_out_page_is_in_the_members_language(signed_out_meanwhile, new_public_key):
    signed_out_meanwhile.cookies["django_language"] = "ko"

    page = signed_out_meanwhile.post("/keys/new/", {"title": "laptop", "key": new_public_key()}).content.decode()

    assert "포털이 이 요청을 처리하는 동안 로그아웃되었습니다" in page
    assert "signed out" not in page
