"""Admins revoke keys and offboard leavers; every step is audited with the admin as actor."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from keys.models import AuditEvent, RegisteredKey
from nsml.simulator import Faults

pytestmark = pytest.mark.django_db


def revoke_events():
    return AuditEvent.objects.filter(action="revoke").order_by("id")


def test_an_admin_revokes_selected_keys(admin_client, admin_user, member, other_member, nsml, register):
    alice_key = register(member, "alice-laptop")
    bob_key = register(other_member, "bob-laptop")

    response = admin_client.post(
        reverse("admin:keys_registeredkey_changelist"),
        {"action": "revoke_selected", ACTION_CHECKBOX_NAME: [alice_key.pk]},
        follow=True,
    )

    assert "1 key revoked." in response.content.decode()
    assert [item["title"] for item in nsml.held_keys()] == ["bob-laptop"]
    alice_key.refresh_from_db()
    bob_key.refresh_from_db()
    assert (alice_key.status, bob_key.status) == ("revoked", "active")
    event = revoke_events().get()
    assert (event.actor, event.subject, event.outcome) == (admin_user, member, "success")


def test_the_admin_sees_which_keys_could_not_be_revoked(admin_client, member, nsml, register):
    key = register(member)
    nsml.set_faults(Faults(fail_status=503, fail_methods=frozenset({"DELETE"})))

    response = admin_client.post(
        reverse("admin:keys_registeredkey_changelist"),
        {"action": "revoke_selected", ACTION_CHECKBOX_NAME: [key.pk]},
        follow=True,
    )

    assert "1 revocation is not confirmed by NSML yet" in response.content.decode()
    key.refresh_from_db()
    assert key.status == "revoking"  # the reconciler DELETEs it again


def test_an_admin_offboards_a_user_in_one_action(admin_client, admin_user, member, other_member, nsml, register):
    register(member, "alice-laptop")
    register(member, "alice-desktop")
    register(other_member, "bob-laptop")

    response = admin_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "revoke_all_keys", ACTION_CHECKBOX_NAME: [member.pk]},
        follow=True,
    )

    assert "2 keys revoked." in response.content.decode()
    assert [item["title"] for item in nsml.held_keys()] == ["bob-laptop"]
    assert not RegisteredKey.objects.filter(owner=member, status="active").exists()
    assert [(event.actor, event.subject) for event in revoke_events()] == [(admin_user, member)] * 2


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
