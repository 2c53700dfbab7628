"""*Revoke all keys of the selected users*: a confirmation page listing their keys and asking a reason, then the
revocation, with messages that name each user."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from keys.models import AuditEvent
from nsml.simulator import Faults

pytestmark = pytest.mark.django_db

USERS = reverse("admin:auth_user_changelist")


def revoke_all(client, users, **confirmation):
    data = {"action": "revoke_all_keys", ACTION_CHECKBOX_NAME: [user.pk for user in users], **confirmation}
    return client.post(USERS, data, follow=True)


def test_it_lists_the_keys_of_the_selected_users_and_revokes_nothing_before_confirming(
    admin_client, member, other_member, nsml, register
):
    register(member, "alice-laptop")
    register(member, "alice-desktop")
    register(other_member, "bob-laptop")

    response = revoke_all(admin_client, [member])

    assert [(key.owner.username, key.title) for key in response.context["keys"]] == [
        ("alice", "alice-desktop"),
        ("alice", "alice-laptop"),
    ]
    page = response.content.decode()
    assert "bob-laptop" not in page
    assert 'name="action" value="revoke_all_keys"' in page
    assert len(nsml.held_keys()) == 3
    assert not AuditEvent.objects.filter(action="revoke").exists()


def test_it_revokes_every_key_with_the_reason_and_names_the_users(
    admin_client, admin_user, member, other_member, nsml, register
):
    register(member, "alice-laptop")
    register(member, "alice-desktop")

    response = revoke_all(admin_client, [member, other_member], post="yes", reason="moved to another team")

    assert [str(message) for message in response.context["messages"]] == [
        "2 keys of alice revoked.",
        "No active key to revoke for bob.",
    ]
    assert nsml.held_keys() == []
    events = AuditEvent.objects.filter(action="revoke").order_by("id")
    assert [(e.actor, e.subject, e.detail) for e in events] == [
        (admin_user, member, "reason given: moved to another team")
    ] * 2
    member.refresh_from_db()
    assert member.is_active  # revoking is not offboarding: the Offboard action deactivates too


def test_the_confirmation_names_the_selected_users_without_keys(admin_client, member, other_member, nsml, register):
    register(member, "alice-laptop")

    response = revoke_all(admin_client, [member, other_member])

    assert "No active key: bob." in response.content.decode()


def test_many_users_get_one_summary_naming_those_without_keys(admin_client, nsml, register, django_user_model):
    team = [django_user_model.objects.create_user(f"team{n:02d}", password="team-password-1") for n in range(7)]
    for user in team[:5]:
        register(user, f"{user.username}-laptop")

    response = revoke_all(admin_client, team, post="yes", reason="project ended")

    assert [str(message) for message in response.context["messages"]] == [
        "5 keys revoked.",
        "No active key to revoke for: team05, team06.",
    ]
    assert nsml.held_keys() == []


def test_a_summary_still_names_each_failure(admin_client, nsml, register, django_user_model):
    team = [django_user_model.objects.create_user(f"team{n:02d}", password="team-password-1") for n in range(6)]
    for user in team:
        register(user, f"{user.username}-laptop")
    # NSML refuses the first DELETE outright: that key stays active, and the summary says whose it is.
    nsml.set_faults(Faults(fail_status=403, fail_methods={"DELETE"}, fail_count=1))

    messages = [str(message) for message in revoke_all(admin_client, team, post="yes", reason="r").context["messages"]]

    assert messages[0] == "5 keys revoked."
    assert len(messages) == 2, messages
    assert messages[1].startswith("A key of team00 was not revoked:"), messages


def test_a_large_selection_s_messages_name_a_page_of_users(admin_client, nsml, django_user_model):
    """ "Select all" of thousands of members, then Revoke all keys: the message named every member without a
    key. It names the first 200 and counts the rest."""
    django_user_model.objects.bulk_create(django_user_model(username=f"idle{number:03d}") for number in range(250))
    selection = {"action": "revoke_all_keys", "select_across": "1", "index": "0", "post": "yes", "reason": "r"}
    selection[ACTION_CHECKBOX_NAME] = [django_user_model.objects.get(username="idle000").pk]

    messages = [
        str(message) for message in admin_client.post(f"{USERS}?q=idle", selection, follow=True).context["messages"]
    ]

    assert len(messages) == 1
    assert messages[0].count("idle") == 200 and messages[0].endswith("idle199 and 50 more users.")


def test_many_failures_are_a_page_of_messages_and_a_count(admin_client, nsml, register, django_user_model):
    """NSML refusing every DELETE of thousands of keys was a message per key on the next page (and in the session
    meanwhile). The first FAILURES_REPORTED_ONE_BY_ONE keep their message; the rest are counted."""
    team = [django_user_model.objects.create_user(f"team{n:02d}", password="team-password-1") for n in range(25)]
    for user in team:
        register(user, f"{user.username}-laptop")
    nsml.set_faults(Faults(fail_status=403, fail_methods={"DELETE"}))

    messages = [str(message) for message in revoke_all(admin_client, team, post="yes", reason="r").context["messages"]]

    failures = [message for message in messages if " was not revoked: " in message]
    assert len(failures) == 20, messages
    assert messages[-1] == "5 more keys were not revoked; the audit log lists each."
