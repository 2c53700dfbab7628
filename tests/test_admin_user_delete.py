"""Users who ever held a key, or appear in the audit log, are deactivated, never deleted: the admin does not offer
it, and says why in plain words instead of Django's "permission to delete ... audit event"."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

pytestmark = pytest.mark.django_db

USERS = reverse("admin:auth_user_changelist")
KEPT = "Users who ever held a key or appear in the audit log are deactivated, not deleted, so their history stays."


def test_the_change_page_offers_no_delete_for_a_user_who_held_a_key(admin_client, member, nsml, register):
    register(member)

    response = admin_client.get(reverse("admin:auth_user_change", args=[member.pk]))

    assert response.context["has_delete_permission"] is False
    assert reverse("admin:auth_user_delete", args=[member.pk]) not in response.content.decode()


def test_the_delete_page_says_why_and_deletes_nothing(admin_client, django_user_model, member, nsml, register):
    register(member)
    url = reverse("admin:auth_user_delete", args=[member.pk])

    response = admin_client.post(url, {"post": "yes"}, follow=True)

    assert [str(message) for message in response.context["messages"]] == [KEPT]
    assert "permission to delete" not in response.content.decode()
    assert django_user_model.objects.filter(pk=member.pk).exists()


def test_the_bulk_delete_leaves_out_users_with_history_and_names_them(
    admin_client, django_user_model, member, other_member, nsml, register
):
    register(member)
    newcomer = django_user_model.objects.create_user(username="carol")  # its creation is audited: history too

    response = admin_client.post(
        USERS, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [member.pk, newcomer.pk]}, follow=True
    )

    assert [str(message) for message in response.context["messages"]] == [f"{KEPT} (alice, carol)"]
    page = response.content.decode()
    assert "permission to delete" not in page
    assert "protected related objects" not in page
    assert set(django_user_model.objects.filter(username__in=["alice", "carol"])) == {member, newcomer}


def test_a_user_who_only_logged_in_is_kept_too(client, admin_client, django_user_model, other_member):
    client.post(reverse("login"), {"username": "bob", "password": "bob-password-1"})  # an audited log-in

    response = admin_client.post(
        USERS, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [other_member.pk]}, follow=True
    )

    assert [str(message) for message in response.context["messages"]] == [f"{KEPT} (bob)"]
    assert django_user_model.objects.filter(pk=other_member.pk).exists()


def test_a_new_user_is_kept_too_because_its_creation_is_audited(admin_client, django_user_model):
    newcomer = django_user_model.objects.create_user(username="carol")

    change = admin_client.get(reverse("admin:auth_user_change", args=[newcomer.pk]))
    assert change.context["has_delete_permission"] is False
    admin_client.post(reverse("admin:auth_user_delete", args=[newcomer.pk]), {"post": "yes"})

    assert django_user_model.objects.filter(pk=newcomer.pk).exists()
