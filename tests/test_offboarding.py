"""Deactivating a user revokes their keys, in the admin or anywhere else; audited with who did it.

The admin's actions (with their confirmation pages) are in tests/test_admin_*.py."""

from __future__ import annotations

import pytest
from django.urls import reverse

from keys.models import AuditEvent

pytestmark = pytest.mark.django_db


def revoke_events():
    return AuditEvent.objects.filter(action="revoke").order_by("id")


def test_deactivating_a_user_in_the_admin_revokes_their_keys(admin_client, admin_user, member, nsml, register):
    register(member)
    url = reverse("admin:auth_user_change", args=[member.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update({"is_active": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00", "last_login_0": ""})
    data.pop("groups", None)
    data.pop("user_permissions", None)
    data.pop("date_joined", None)
    data.pop("last_login", None)

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    member.refresh_from_db()
    assert not member.is_active
    assert nsml.held_keys() == []
    assert revoke_events().get().actor == admin_user


def test_deactivating_a_user_anywhere_revokes_their_keys(member, nsml, register):
    key = register(member)

    member.is_active = False
    member.save()

    key.refresh_from_db()
    assert key.status == "revoked"
    assert nsml.held_keys() == []
    event = revoke_events().get()
    assert (event.actor, event.actor_username, event.subject) == (None, "manage.py deactivation", member)


def test_deactivation_keeps_keys_when_the_setting_is_off(member, nsml, register, settings):
    settings.KEYS_REVOKE_ON_DEACTIVATE = False
    key = register(member)

    member.is_active = False
    member.save()

    key.refresh_from_db()
    assert key.is_active
    assert len(nsml.held_keys()) == 1


def test_a_login_does_not_trigger_offboarding_queries(member, nsml, register, django_assert_num_queries):
    register(member)
    member.last_login = None

    with django_assert_num_queries(1):
        member.save(update_fields=["last_login"])


@pytest.mark.parametrize("revoke_keys", [True, False])
def test_deactivating_a_user_anywhere_revokes_their_tokens(member, token_for, client, settings, event, revoke_keys):
    settings.KEYS_REVOKE_ON_DEACTIVATE = revoke_keys  # NSML's keys; a token is the portal's own credential
    secret = token_for(member, name="ci")

    member.is_active = False
    member.save()
    member.is_active = True
    member.save()

    assert client.get("/api/v1/keys", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    revocation = event(action="token_revoke")
    assert (revocation.actor_username, revocation.subject, revocation.reason) == (
        "manage.py deactivation",
        member,
        "owner_deactivated",
    )
