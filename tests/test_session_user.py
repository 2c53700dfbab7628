"""The session's user, read on every request (keys.selectors.user_by_id through the backends' get_user): whole, as
stored now, and only while the account may still log in."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_every_field_is_read_as_stored_now(member_client, member):
    User = get_user_model()
    User.objects.filter(pk=member.pk).update(first_name="Alice", email="alice@example.com", is_staff=True)

    response = member_client.get(reverse("keys:list"))

    seen = response.wsgi_request.user
    stored = User.objects.get(pk=member.pk)
    assert seen.get_deferred_fields() == set()
    for field in User._meta.concrete_fields:
        assert getattr(seen, field.attname) == getattr(stored, field.attname), field.name
    assert seen.first_name == "Alice" and seen.is_staff
    assert seen._state.adding is False and seen._state.db == "default"


def test_a_deactivated_account_is_logged_out_on_its_next_request(member_client, member):
    get_user_model().objects.filter(pk=member.pk).update(is_active=False)

    response = member_client.get(reverse("keys:list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_session_whose_account_is_gone_is_logged_out(member_client):
    session = member_client.session
    session["_auth_user_id"] = str(get_user_model().objects.order_by("-pk").first().pk + 1000)
    session.save()

    response = member_client.get(reverse("keys:list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_password_setting_still_decides_who_may_stay_logged_in(member_client, settings):
    settings.PASSWORD_LOGIN = "staff-only"

    response = member_client.get(reverse("keys:list"))

    assert response.status_code == 302
