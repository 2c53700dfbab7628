"""*Offboard: revoke every key and deactivate*: one confirmation, then the leaver can neither log in nor add a key,
and NSML holds none of their keys."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from keys.models import AuditEvent, RegisteredKey
from nsml.simulator import Faults
from tests.helpers import nsml_sync

pytestmark = pytest.mark.django_db

USERS = reverse("admin:auth_user_changelist")


def offboard(client, users, **confirmation):
    data = {"action": "offboard_selected", ACTION_CHECKBOX_NAME: [user.pk for user in users], **confirmation}
    return client.post(USERS, data, follow=True)


def test_the_confirmation_names_the_users_and_lists_their_keys_and_changes_nothing(
    admin_client, member, other_member, nsml, register
):
    register(member, "alice-laptop")

    response = offboard(admin_client, [member, other_member])

    page = response.content.decode()
    assert "These 2 users will be deactivated (no more log-ins, no new keys, their access tokens revoked)" in page
    assert "<strong>alice</strong>, <strong>bob</strong>" in page
    assert [key.title for key in response.context["keys"]] == ["alice-laptop"]
    assert "No active key: bob." in page
    assert 'name="action" value="offboard_selected"' in page
    member.refresh_from_db()
    other_member.refresh_from_db()
    assert member.is_active and other_member.is_active
    assert len(nsml.held_keys()) == 1


def test_it_deactivates_and_revokes_with_the_reason(admin_client, admin_user, member, nsml, register, event):
    register(member, "alice-laptop")
    register(member, "alice-desktop")

    response = offboard(admin_client, [member], post="yes", reason="left the company")

    assert [str(message) for message in response.context["messages"]] == [
        "Offboarded alice: deactivated, 2 keys revoked."
    ]
    member.refresh_from_db()
    assert not member.is_active
    assert nsml.held_keys() == []
    assert set(RegisteredKey.objects.filter(owner=member).values_list("status", "revoke_reason")) == {
        ("revoked", "left the company")
    }
    offboarding = event(action="offboard")
    assert (offboarding.actor, offboarding.subject, offboarding.detail) == (
        admin_user,
        member,
        "deactivated; reason given: left the company",
    )
    # Deactivation comes first, so no key can be added in between; each key's revocation follows.
    revocations = AuditEvent.objects.filter(action="revoke", subject=member)
    assert revocations.count() == 2
    assert all(row.id > offboarding.id for row in revocations)


def test_with_a_slow_nsml_offboarding_several_users_costs_about_one_timeout(
    admin_client, member, other_member, nsml, register, settings
):
    """Found reviewing e1b6197: each user offboarded in one action had a wait of their own, so two leavers with
    two keys each took two timeouts and more, for the one admin."""
    for owner in (member, other_member):
        for number in range(2):
            register(owner, f"{owner.username}-{number}")
    settings.NSML_TIMEOUT = 1.0
    nsml.set_faults(Faults(latency=0.4))  # a DELETE and its list: 0.8 s a key, 1.6 s for each user's two

    started = time.monotonic()
    offboard(admin_client, [member, other_member], post="yes", reason="left the company")
    waited = time.monotonic() - started

    assert waited < 2.2  # the keys begun within the 1 s, whoever's they are; 3.2 s counted per user
    assert not RegisteredKey.objects.filter(status="active").exists()  # the rest wait on the reconciler
    nsml.set_faults(Faults())
    time.sleep(0.5)  # a DELETE the admin stopped waiting for still reaches NSML
    nsml_sync("--apply")
    assert set(RegisteredKey.objects.values_list("status", flat=True)) == {"revoked"}
    assert nsml.held_keys() == []


def test_an_offboarded_member_can_no_longer_log_in(admin_client, member, nsml, register, client):
    register(member, "alice-laptop")

    offboard(admin_client, [member], post="yes", reason="left")

    response = client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 200  # the form again, not a redirect into the portal
    assert "_auth_user_id" not in client.session


def test_it_revokes_even_when_deactivation_alone_would_not(admin_client, member, nsml, register, settings):
    settings.KEYS_REVOKE_ON_DEACTIVATE = False
    register(member, "alice-laptop")

    offboard(admin_client, [member], post="yes", reason="left")

    assert nsml.held_keys() == []


def test_a_user_with_no_key_is_deactivated_and_said_so(admin_client, member, nsml):
    response = offboard(admin_client, [member], post="yes", reason="never started")

    assert [str(message) for message in response.context["messages"]] == [
        "Offboarded alice: deactivated, 0 keys revoked."
    ]
    member.refresh_from_db()
    assert not member.is_active


def test_an_admin_cannot_offboard_themselves(admin_client, admin_user, member, nsml):
    response = offboard(admin_client, [admin_user, member], post="yes", reason="oops")

    assert [str(message) for message in response.context["messages"]] == [
        "You cannot offboard yourself; ask another admin."
    ]
    admin_user.refresh_from_db()
    member.refresh_from_db()
    assert admin_user.is_active and member.is_active


def test_the_active_checkbox_says_unticking_it_revokes_the_keys(admin_client, member):
    response = admin_client.get(reverse("admin:auth_user_change", args=[member.pk]))

    help_text = response.context["adminform"].form.fields["is_active"].help_text
    assert "every key they hold is revoked in NSML" in help_text
    assert "every key they hold is revoked in NSML" in response.content.decode()


def test_an_offboarded_users_history_page_shows_the_offboarding(admin_client, member, nsml, register):
    """Found in the admin: History on a user an admin had offboarded said "This object doesn't have a
    change history"; who offboarded them, and when, was only in the audit log."""
    register(member, "alice-laptop")
    offboard(admin_client, [member], post="yes", reason="left the team")

    page = admin_client.get(reverse("admin:auth_user_history", args=[member.pk])).content.decode()

    assert "change history" not in page
    offboarding = AuditEvent.objects.get(subject=member, action="offboard")
    assert reverse("admin:keys_auditevent_change", args=[offboarding.pk]) in page
    assert "Offboard user" in page and "Revoke key" in page


def test_an_offboarded_members_tokens_are_revoked_and_stay_dead_if_the_account_comes_back(
    admin_client, admin_user, member, token_for, client, event
):
    secret = token_for(member, name="laptop-script")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.get("/api/v1/keys", **bearer).status_code == 200

    offboard(admin_client, [member], post="yes", reason="left the company")

    assert member.api_tokens.get().revoked_at is not None  # Admin > Access tokens shows it revoked
    revocation = event(action="token_revoke")
    assert (revocation.actor, revocation.subject, revocation.title) == (admin_user, member, "laptop-script")
    member.is_active = True  # rehired, or unticked by mistake and ticked again
    member.save()
    assert client.get("/api/v1/keys", **bearer).status_code == 401


def test_offboarding_many_members_gives_one_summary_not_a_message_each(admin_client, nsml, register, django_user_model):
    """Found offboarding a team: 100 members gave 199 messages, the page one long scroll of them."""
    leavers = [django_user_model.objects.create_user(f"leaver{n:02d}", password="leaver-password-1") for n in range(8)]
    for leaver in leavers[:7]:
        register(leaver, f"{leaver.username}-laptop")  # titles are NSML's, one namespace for the whole team
    register(leavers[0], "leaver00-desktop")

    response = offboard(admin_client, leavers, post="yes", reason="the team moved on")

    assert [str(message) for message in response.context["messages"]] == [
        "Offboarded 8 members: deactivated. 8 keys revoked."
    ]
    assert nsml.held_keys() == []
    assert not django_user_model.objects.filter(username__startswith="leaver", is_active=True).exists()


def test_a_summary_names_the_members_whose_revocations_wait_on_nsml(admin_client, nsml, register, django_user_model):
    leavers = [django_user_model.objects.create_user(f"leaver{n:02d}", password="leaver-password-1") for n in range(6)]
    for leaver in leavers:
        register(leaver, f"{leaver.username}-laptop")
    nsml.set_faults(Faults(drop=True, fail_methods={"DELETE"}))  # no answer: the outcomes are unknown

    messages = [str(message) for message in offboard(admin_client, leavers, post="yes", reason="r").context["messages"]]

    names = ", ".join(leaver.username for leaver in leavers)
    assert messages == [
        "Offboarded 6 members: deactivated. 0 keys revoked.",
        f"6 revocations are not confirmed by NSML yet; the reconciler finishes them. Members: {names}",
    ]


def test_the_summary_is_in_korean_for_a_korean_admin(admin_client, nsml, register, django_user_model):
    leavers = [django_user_model.objects.create_user(f"leaver{n:02d}", password="leaver-password-1") for n in range(6)]
    register(leavers[0], "leaver00-laptop")
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ko"

    messages = [str(message) for message in offboard(admin_client, leavers, post="yes", reason="r").context["messages"]]

    assert messages == ["구성원 6명을 오프보딩하고 계정을 비활성화했습니다. 키 1개를 폐기했습니다."]


def test_a_leavers_key_nsml_could_not_revoke_is_left_for_the_reconciler_not_active(
    admin_client, member, nsml, register, settings
):
    """Found offboarding in the admin while NSML was out of reach: the leaver was deactivated, but the key went
    back to *Active* ("the key is still active; try again later"), and nothing ever tried again: no reconcile
    pass revokes an active key, and *Needs attention* does not count it. The leaver's key kept working in NSML."""
    key = register(member, "alice-laptop")
    working_nsml = settings.NSML_API_URL
    settings.NSML_API_URL = "http://127.0.0.1:1/nsml/v1"  # nothing listens there: the DELETE is never sent

    response = offboard(admin_client, [member], post="yes", reason="left the company")

    assert [str(message) for message in response.context["messages"]] == [
        "Offboarded alice: deactivated, 0 keys revoked.",
        "1 revocation of alice's keys is not confirmed by NSML yet; the reconciler finishes it.",
    ]
    key.refresh_from_db()
    assert key.status == "revoking"
    assert len(nsml.held_keys()) == 1

    settings.NSML_API_URL = working_nsml
    nsml_sync("--apply")

    key.refresh_from_db()
    assert (key.status, key.revoke_reason) == ("revoked", "left the company")
    assert nsml.held_keys() == []


def test_a_leaver_whose_deletes_nsml_refuses_keeps_no_key_once_nsml_accepts_them(
    admin_client, admin_user, member, nsml, register, event
):
    """Found offboarding a member while NSML's gateway throttled DELETEs (`nsml_simulator --fail-status 429
    --fail-methods DELETE`): each refusal put the leaver's key back to active, so they kept seven working keys
    in NSML, and every later reconcile pass said "In sync" (a pass revokes no active key)."""
    register(member, "alice-laptop")
    nsml.set_faults(Faults(fail_status=429, fail_methods=frozenset({"DELETE"})))

    response = offboard(admin_client, [member], post="yes", reason="left the company")

    assert [str(message) for message in response.context["messages"]] == [
        "Offboarded alice: deactivated, 0 keys revoked.",
        "1 revocation of alice's keys is not confirmed by NSML yet; the reconciler finishes it.",
    ]
    key = RegisteredKey.objects.get(owner=member)
    assert key.status == "revoking"
    refusal = event(action="revoke", registered_key=key)
    assert (refusal.actor, refusal.outcome, refusal.reason, refusal.upstream_status) == (
        admin_user,
        "failed",
        "throttled",
        429,
    )
    assert refusal.detail.endswith(
        "its member is deactivated, so the key stays being revoked and the reconciler sends the DELETE again"
    )

    nsml.set_faults(Faults())
    nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == "revoked"
    assert nsml.held_keys() == []


def test_a_team_selected_across_pages_is_offboarded_from_its_confirmation(admin_client, nsml, django_user_model):
    """Found with 10,000 members: "Select all 9,999 users" (a search), Offboard, then the confirmation's Offboard
    answered 400 "The portal cannot read this request": the confirmation sent every selected id back, past
    Django's 1,000 fields a request may hold. It sends the selection (the search and "all") instead."""
    leavers = django_user_model.objects.bulk_create(
        django_user_model(username=f"leaver{number:04d}") for number in range(1000)
    )
    search = f"{USERS}?q=leaver"
    first_page = [user.pk for user in leavers[:100]]
    confirmation = admin_client.post(
        search, {"action": "offboard_selected", "select_across": "1", "index": "0", ACTION_CHECKBOX_NAME: first_page}
    )
    assert "These 1000 users will be deactivated" in confirmation.content.decode()

    form = re.search(r'<form method="post">(.*?)</form>', confirmation.content.decode(), re.DOTALL).group(1)
    sent: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form):
        sent.setdefault(name, []).append(value)
    response = admin_client.post(search, {**sent, "reason": "the team moved on"}, follow=True)

    assert response.status_code == 200
    assert [str(message) for message in response.context["messages"]] == [
        "Offboarded 1000 members: deactivated. 0 keys revoked."
    ]
    assert not django_user_model.objects.filter(username__startswith="leaver", is_active=True).exists()


def test_the_confirmation_of_a_large_selection_lists_a_page_of_it_and_counts_the_rest(
    admin_client, nsml, django_user_model
):
    """Found with 10,000 members: the confirmation of "Select all 9,999 users", Offboard listed all 80,000 of their
    keys and named every user: a 10 MB page that took 11 s to come. It lists the first 200 of each and counts the
    rest; what is done is still the whole selection."""
    leavers = django_user_model.objects.bulk_create(
        django_user_model(username=f"leaver{number:03d}") for number in range(250)
    )
    RegisteredKey.objects.bulk_create(
        RegisteredKey(
            owner=leaver, title=f"laptop-{leaver.pk}", fingerprint_md5=str(leaver.pk), nsml_name=str(leaver.pk)
        )
        for leaver in leavers[:230]
    )

    selection = {
        "action": "offboard_selected",
        "select_across": "1",
        "index": "0",
        ACTION_CHECKBOX_NAME: [leavers[0].pk],
    }
    response = admin_client.post(f"{USERS}?q=leaver", selection)
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ko"
    korean = admin_client.post(f"{USERS}?q=leaver", selection).content.decode()

    page = response.content.decode()
    assert "These 250 users will be deactivated" in page and "These 230 keys will be revoked in NSML" in page
    assert len(response.context["keys"]) == 200 and page.count("<tr><td>leaver") == 200
    assert "and 30 more keys" in page
    assert page.count("<strong>leaver") == 200 and "and 50 more users" in page
    assert "No active key: leaver230, leaver231" in page  # the 20 users without a key: all of them named
    assert "외 50명" in korean and "… 외 키 30개." in korean
    assert django_user_model.objects.filter(username__startswith="leaver", is_active=True).count() == 250
