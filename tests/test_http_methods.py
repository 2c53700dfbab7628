"""Every page answers only the methods it uses; anything else (TRACE, OPTIONS, PUT...) is a 405."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

MEMBER_PAGES = {
    "keys:list": "GET, HEAD",
    "keys:new": "GET, HEAD, POST",
    "keys:detail": "GET, HEAD",
    "keys:revoke": "GET, HEAD, POST",
}
UNUSED = ["trace", "options", "put", "patch", "delete"]


@pytest.fixture
def key(member, register):
    return register(member)


def url(name: str, key) -> str:
    return reverse(name, args=[key.pk]) if name in ("keys:detail", "keys:revoke") else reverse(name)


@pytest.mark.parametrize("name", MEMBER_PAGES)
@pytest.mark.parametrize("method", UNUSED)
def test_a_member_page_refuses_a_method_it_does_not_use(member_client, key, name, method):
    response = getattr(member_client, method)(url(name, key))

    assert response.status_code == 405
    key.refresh_from_db()
    assert key.is_active


@pytest.mark.parametrize("name, allowed", MEMBER_PAGES.items())
def test_a_refusal_names_the_methods_the_page_allows(member_client, key, name, allowed):
    assert member_client.options(url(name, key))["Allow"] == allowed


@pytest.mark.parametrize("name", MEMBER_PAGES)
@pytest.mark.parametrize("method", ["get", "head"])
def test_member_pages_still_answer_get_and_head(member_client, key, name, method):
    assert getattr(member_client, method)(url(name, key)).status_code == 200


@pytest.mark.parametrize("method", UNUSED)
def test_the_login_page_refuses_a_method_it_does_not_use(client, method):
    assert getattr(client, method)(reverse("login")).status_code == 405


@pytest.mark.parametrize("method", ["get", "head", *UNUSED])
def test_log_out_takes_only_post(member_client, method):
    response = getattr(member_client, method)(reverse("logout"))

    assert response.status_code == 405
    assert member_client.get(reverse("keys:list")).status_code == 200


@pytest.mark.parametrize("path", ["/", reverse("healthz")])
@pytest.mark.parametrize("method", ["post", *UNUSED])
def test_the_front_page_and_healthz_take_only_get_and_head(client, path, method):
    assert getattr(client, method)(path).status_code == 405


@pytest.mark.parametrize("method", ["get", "head"])
def test_healthz_answers_get_and_head(client, method):
    assert getattr(client, method)(reverse("healthz")).status_code == 200
