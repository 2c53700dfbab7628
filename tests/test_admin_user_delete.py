"""Users who ever held a key, or appear in the audit log, are deactivated, never deleted: the admin does not offer
it, and says why in plain words instead of Django's "permission to delete ... audit event"."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.urls import reverse

from keys.models import AuditEvent

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


def select_all() -> dict:
    return {"action": "delete_selected", "select_across": "1", "index": "0"}


def test_the_bulk_delete_of_many_users_lists_a_page_of_them_and_deletes_them_all(admin_client, django_user_model):
    """At 10,000 members, "Select all" and Delete listed every user and each of their related objects, and sent
    every id back as a field of its own: past Django's 1,000 fields the confirmation's "Yes" was a 400. Like the
    portal's own confirmations, it lists the first 200 and counts the rest, and sends the selection back as the
    list sent it."""
    gone = django_user_model.objects.bulk_create(  # no audit row: bulk_create sends no signal
        django_user_model(username=f"gone{number:03d}") for number in range(250)
    )
    selection = {**select_all(), ACTION_CHECKBOX_NAME: [gone[0].pk]}

    response = admin_client.post(f"{USERS}?q=gone", selection)
    korean = admin_client.post(f"{USERS}?q=gone", selection, HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count(">gone") == 200
    assert "and 50 more users" in page and "외 50명" in korean
    assert page.count(f'name="{ACTION_CHECKBOX_NAME}"') == 1 and 'name="select_across" value="1"' in page
    confirmed = admin_client.post(f"{USERS}?q=gone", {**selection, "post": "yes"}, follow=True)
    assert confirmed.status_code == 200
    assert not django_user_model.objects.filter(username__startswith="gone").exists()


def test_the_users_kept_for_their_history_are_named_up_to_a_page(admin_client, django_user_model):
    kept = django_user_model.objects.bulk_create(
        django_user_model(username=f"kept{number:03d}") for number in range(250)
    )
    AuditEvent.objects.bulk_create(AuditEvent(action="login", outcome="success", actor=user) for user in kept)

    response = admin_client.post(f"{USERS}?q=kept", {**select_all(), ACTION_CHECKBOX_NAME: [kept[0].pk]}, follow=True)

    [message] = [str(message) for message in response.context["messages"]]
    assert message.startswith(f"{KEPT} (kept000, kept001, ")
    assert message.count("kept") == 200 and message.endswith("kept199 and 50 more users)")
    assert django_user_model.objects.filter(username__startswith="kept").count() == 250


def test_deleting_a_group_of_many_members_lists_a_page_of_its_memberships(admin_client, django_user_model):
    """Found with a group of all 10,000 members: its delete page (one group, or Delete selected) listed a
    "User-group relationship" line per member, a 625 KB page. It lists the first 200 and counts the rest."""
    group = Group.objects.create(name="everyone")
    group.user_set.add(
        *django_user_model.objects.bulk_create(django_user_model(username=f"m{number:03d}") for number in range(250))
    )

    single = admin_client.get(reverse("admin:auth_group_delete", args=[group.pk])).content.decode()
    bulk = admin_client.post(
        reverse("admin:auth_group_changelist"), {"action": "delete_selected", ACTION_CHECKBOX_NAME: [group.pk]}
    ).content.decode()
    korean = admin_client.get(
        reverse("admin:auth_group_delete", args=[group.pk]), HTTP_ACCEPT_LANGUAGE="ko"
    ).content.decode()

    for page in (single, bulk):
        assert page.count("User-group relationship: ") == 200
        assert "<li>and 50 more</li>" in page
    assert "<li>외 50개</li>" in korean
    admin_client.post(reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"})
    assert not Group.objects.filter(name="everyone").exists()
