"""Error pages speak plainly, in the portal's own layout, in the member's language."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
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
