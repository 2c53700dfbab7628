"""Every URL that names a key answers 404 to anyone but its owner, for every method it takes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from keys.models import RegisteredKey

pytestmark = pytest.mark.django_db

KEY_URLS = ["keys:detail", "keys:revoke"]
METHODS = ["get", "post", "head"]
# The methods each page takes; any other is a 405 before the key is looked up (tests/test_http_methods.py).
TAKEN = [(name, method) for name in KEY_URLS for method in METHODS if (name, method) != ("keys:detail", "post")]


@pytest.mark.parametrize("name, method", TAKEN)
def test_another_member_gets_404(client, member, other_member, nsml, register, name, method):
    key = register(member)
    client.force_login(other_member)

    response = getattr(client, method)(reverse(name, args=[key.pk]))

    assert response.status_code == 404
    key.refresh_from_db()
    assert key.is_active
    assert len(nsml.held_keys()) == 1


@pytest.mark.parametrize("name", KEY_URLS)
@pytest.mark.parametrize("method", METHODS)
def test_an_anonymous_visitor_is_sent_to_login(client, member, nsml, register, name, method):
    key = register(member)

    response = getattr(client, method)(reverse(name, args=[key.pk]))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert RegisteredKey.objects.get().is_active


def test_a_method_the_page_does_not_take_answers_the_same_for_anothers_key_and_none(
    client, member, other_member, nsml, register
):
    key = register(member)
    client.force_login(other_member)

    assert client.post(reverse("keys:detail", args=[key.pk])).status_code == 405
    assert client.post(reverse("keys:detail", args=[999999])).status_code == 405


@pytest.mark.parametrize("name", KEY_URLS)
def test_a_key_that_does_not_exist_is_404(member_client, name):
    assert member_client.get(reverse(name, args=[999999])).status_code == 404


@pytest.mark.parametrize("name", KEY_URLS)
def test_the_owner_reaches_it(member_client, member, nsml, register, name):
    key = register(member)

    assert member_client.get(reverse(name, args=[key.pk])).status_code == 200
