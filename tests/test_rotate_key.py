"""Rotate on a key's page: the new key is registered, then the old one revoked; one audit row links them."""

from __future__ import annotations

import re
import threading
import time

import pytest
import requests
from django.urls import reverse

from keys.models import AuditEvent, RegisteredKey
from keys.reauth import SESSION_CONFIRMED_AT
from nsml.simulator import Faults
from tests.helpers import generate_private_key, public_line
from tests.live_portal import (
    Gunicorn,
    Member,
    create_members,
    live_simulator,
    manage,
    portal_database,
    portal_env,
    read_rows,
)

pytestmark = pytest.mark.django_db


def rotate_url(key: RegisteredKey) -> str:
    return reverse("keys:rotate", args=[key.pk])


def test_the_page_suggests_the_next_title(member_client, member, nsml, register):
    key = register(member, "alice-laptop")

    page = member_client.get(rotate_url(key)).content.decode()

    assert re.search(r'<input[^>]*name="title"[^>]*value="alice-laptop-2"', page)
    assert key.fingerprint_sha256 in page
    assert nsml.requests_seen.count(("POST", "/nsml/v1/auth-keys")) == 1  # looking changes nothing


def test_a_second_rotation_counts_on(member_client, member, nsml, register):
    key = register(member, "alice-laptop-2")
    register(member, "alice-laptop-3")

    page = member_client.get(rotate_url(key)).content.decode()

    assert re.search(r'<input[^>]*name="title"[^>]*value="alice-laptop-4"', page)


def test_it_registers_the_new_key_then_revokes_the_old(member_client, member, nsml, register, new_public_key, event):
    old = register(member, "alice-laptop")
    line = new_public_key()

    response = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": line}, follow=True)

    old.refresh_from_db()
    new = RegisteredKey.objects.get(title="alice-laptop-2")
    assert (old.status, new.status) == ("revoked", "active")
    assert [held["title"] for held in nsml.held_keys()] == ["alice-laptop-2"]
    methods = [method for method, _ in nsml.requests_seen]
    assert methods.index("DELETE") > len(methods) - 1 - methods[::-1].index("POST")  # create first, then delete
    assert response.redirect_chain[-1][0] == reverse("keys:detail", args=[new.pk])
    assert "Your new key “alice-laptop-2” is registered, and the old key “alice-laptop” is revoked." in (
        response.content.decode()
    )
    row = event(action=AuditEvent.Action.ROTATE)
    assert (row.outcome, row.actor, row.registered_key) == ("success", member, new)
    assert f"#{old.pk}" in row.detail and "alice-laptop" in row.detail
    assert event(action="revoke", registered_key=old).reason == "rotated"


def test_a_refused_new_key_leaves_the_old_one_alone(member_client, member, nsml, register, event):
    old = register(member, "alice-laptop")
    calls = len(nsml.requests_seen)

    response = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": "ssh-rsa AAAAnot-a-key"})

    assert response.status_code == 200
    assert 'id="id_key_error"' in response.content.decode()
    old.refresh_from_db()
    assert old.is_active
    assert len(nsml.requests_seen) == calls  # nothing sent to NSML
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ROTATE).exists()


def test_the_key_being_replaced_pasted_again_is_named_as_such(member_client, member, nsml, register, event):
    # Found in a browser pass: the Rotate page said "This key is already registered as your key “alice-laptop”"
    # on alice-laptop's own page, true but no help; the member had pasted the old .pub file again.
    old = register(member, "alice-laptop")
    calls = len(nsml.requests_seen)

    response = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": old.public_key})

    page = response.content.decode()
    assert "This is the key you are replacing. Paste the public key of your new key pair" in page
    assert "already registered as your key" not in page
    assert re.search(r'<textarea[^>]*name="key"[^>]*autofocus', page)  # the cursor is in the key box
    old.refresh_from_db()
    assert old.is_active and len(nsml.requests_seen) == calls
    assert event(action=AuditEvent.Action.REGISTER).reason == "duplicate_key"  # the code stays


def test_another_of_the_members_keys_pasted_is_still_named_by_its_title(member_client, member, nsml, register):
    old = register(member, "alice-laptop")
    other = register(member, "alice-desktop")

    response = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": other.public_key})

    assert "This key is already registered as your key “alice-desktop”." in response.content.decode()


def test_a_new_key_nsml_refuses_leaves_the_old_one_alone(member_client, member, nsml, register, new_public_key):
    old = register(member, "alice-laptop")
    nsml.set_faults(Faults(fail_status=400, fail_methods=frozenset({"POST"})))

    response = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": new_public_key()})

    assert "NSML refused the key" in response.content.decode()
    old.refresh_from_db()
    assert old.is_active
    assert not any(method == "DELETE" for method, _ in nsml.requests_seen)


def test_when_the_old_key_cannot_be_revoked_it_is_left_revoking(
    member_client, member, nsml, register, new_public_key, event
):
    old = register(member, "alice-laptop")
    nsml.set_faults(Faults(fail_status=400, fail_methods=frozenset({"DELETE"})))

    response = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": new_public_key()}, follow=True)

    old.refresh_from_db()
    assert old.status == "revoking"
    assert RegisteredKey.objects.get(title="alice-laptop-2").is_active
    page = response.content.decode()
    assert "the old key “alice-laptop” could not be revoked yet (NSML refused the request)" in page
    # Found in a browser pass: the reason was the revoke page's sentence, "so it is still active", next to
    # "It is marked as being revoked": the key is revoking, and the page must not say otherwise.
    assert "still active" not in page
    assert "It is marked as being revoked" in page
    assert event(action=AuditEvent.Action.ROTATE).outcome == "failed"

    nsml.set_faults(Faults())
    from tests.helpers import nsml_sync

    nsml_sync("--apply")  # the reconciler sends the DELETE again
    old.refresh_from_db()
    assert old.status == "revoked"


def test_when_nsml_does_not_answer_about_the_new_key_the_old_stays_active(
    member_client, member, nsml, register, new_public_key, settings, event
):
    old = register(member, "alice-laptop")
    settings.NSML_TIMEOUT = 0.5
    nsml.set_faults(Faults(latency=1.0, fail_methods=frozenset({"POST", "GET"})))

    response = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": new_public_key()}, follow=True)

    old.refresh_from_db()
    assert old.is_active
    assert RegisteredKey.objects.get(title="alice-laptop-2").status == "pending"
    assert "so the old key “alice-laptop” is still active" in response.content.decode()
    assert event(action=AuditEvent.Action.ROTATE).outcome == "unknown"


def test_only_an_active_key_can_be_rotated(member_client, member, nsml, register, new_public_key):
    old = register(member, "alice-laptop")
    member_client.post(reverse("keys:revoke", args=[old.pk]))

    response = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": new_public_key()})

    assert "Only an active key can be rotated." in response.content.decode()
    assert not RegisteredKey.objects.filter(title="alice-laptop-2").exists()


def test_a_new_key_sent_after_the_old_one_was_revoked_in_another_tab_is_said_to_be_lost(
    member_client, member, nsml, register, new_public_key
):
    old = register(member, "alice-laptop")
    page = member_client.get(rotate_url(old))  # the rotate form, open in one tab
    assert page.status_code == 200
    member_client.post(reverse("keys:revoke", args=[old.pk]))  # revoked in another tab

    response = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": new_public_key()})

    assert response.status_code == 409
    text = response.content.decode()
    assert "the new key was not registered and the portal did not keep it" in text
    assert f'href="{reverse("keys:new")}"' in text
    assert not RegisteredKey.objects.filter(title="alice-laptop-2").exists()
    member_client.cookies["django_language"] = "ko"
    korean = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": new_public_key()})
    assert "새 키는 등록되지 않았고" in korean.content.decode()
    # Opening the page (no key sent) says only that the key cannot be rotated.
    member_client.cookies["django_language"] = "en"
    opened = member_client.get(rotate_url(old)).content.decode()
    assert "Only an active key can be rotated." in opened and "was not registered" not in opened


def test_it_checks_the_owner(client, member, other_member, nsml, register, new_public_key):
    old = register(member, "alice-laptop")
    client.force_login(other_member)

    assert client.get(rotate_url(old)).status_code == 404
    assert client.post(rotate_url(old), {"title": "bob-key", "key": new_public_key()}).status_code == 404
    old.refresh_from_db()
    assert old.is_active


def test_it_requires_sudo_mode(member_client, member, nsml, register, new_public_key):
    old = register(member, "alice-laptop")
    session = member_client.session
    session[SESSION_CONFIRMED_AT] = time.time() - 16 * 60
    session.save()

    response = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": new_public_key()})

    assert response.status_code == 302 and response["Location"] == reverse("confirm_password")
    old.refresh_from_db()
    assert old.is_active
    response = member_client.post(reverse("confirm_password"), {"password": "alice-password-1"})
    old.refresh_from_db()
    assert old.status == "revoked"
    assert RegisteredKey.objects.get(title="alice-laptop-2").is_active


def test_it_needs_a_log_in(client, member, nsml, register):
    old = register(member, "alice-laptop")

    response = client.get(rotate_url(old))

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_rotation_message_in_korean_does_not_say_the_old_key_is_still_active(
    member_client, member, nsml, register, new_public_key
):
    old = register(member, "alice-laptop")
    nsml.set_faults(Faults(fail_status=401, fail_methods=frozenset({"DELETE"})))
    member_client.cookies["django_language"] = "ko"

    response = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": new_public_key()}, follow=True)

    old.refresh_from_db()
    assert old.status == "revoking"
    page = response.content.decode()
    assert "기존 “alice-laptop” 키는 아직 폐기하지 못했습니다" in page
    assert "아직 활성 상태" not in page  # "still active"
    assert "폐기 중으로 표시되며" in page


def test_a_new_key_revoked_while_nsml_answered_is_not_called_unconfirmed(
    member_client, member, nsml, register, new_public_key, monkeypatch
):
    """NSML registered the new key, and before its answer came back a reconcile pass activated it and an
    administrator revoked it: the member must not read that NSML has not confirmed it yet."""
    from keys.services import rotation

    old = register(member, "alice-laptop")
    registered = rotation.register_key

    def registered_then_revoked(**kwargs):
        key = registered(**kwargs)
        RegisteredKey.objects.filter(pk=key.pk).update(status=RegisteredKey.Status.REVOKED)
        key.refresh_from_db()
        return key

    monkeypatch.setattr(rotation, "register_key", registered_then_revoked)

    response = member_client.post(rotate_url(old), {"title": "alice-laptop-2", "key": new_public_key()}, follow=True)

    page = response.content.decode()
    old.refresh_from_db()
    assert old.is_active
    assert "but it was revoked while NSML answered" in page
    assert "NSML has not confirmed your new key" not in page
    assert "the old key “alice-laptop” is still active" in page


def test_an_old_key_revoked_elsewhere_while_nsml_is_silent_about_the_new_one_is_not_called_active(tmp_path):
    """Found on the load run with random faults (a member rotating a key in one tab and revoking it over the API
    in another): NSML answered the rotation's new key late, and meanwhile the old key was revoked; the member read
    "so the old key is still active. Revoke it yourself", and the audit's rotate row said "now active", of a key
    revoked seconds before."""
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        env = portal_env(database_url, NSML_API_URL=simulator.base_url, NSML_TIMEOUT="2")
        create_members(database_url, ["alice"])
        secret = manage(database_url, "create_api_token", "alice", "--name", "laptop", env=env).stdout.strip()
        api = {"Authorization": f"Bearer {secret}"}
        portal = Gunicorn(env, tmp_path / "gunicorn.log", workers=1, threads=4)
        try:
            created = requests.post(
                f"{portal.url}/api/v1/keys",
                json={"title": "alice-laptop", "key": public_line(generate_private_key())},
                headers=api,
                timeout=30,
            )
            old = created.json()["id"]
            member = Member(portal.url, "alice")
            member.log_in()
            # NSML holds the new key at once and answers 6 s later, past the portal's 2 s.
            simulator.set_faults(Faults(slow_commit=6.0))
            answers: list[requests.Response] = []
            rotation = threading.Thread(
                target=lambda: answers.append(
                    member.post(
                        f"/keys/{old}/rotate/",
                        {"title": "alice-laptop-2", "key": public_line(generate_private_key())},
                    )
                )
            )
            rotation.start()
            deadline = time.monotonic() + 5
            while not any(held["title"] == "alice-laptop-2" for held in simulator.held_keys()):
                assert time.monotonic() < deadline, "NSML never received the new key"
                time.sleep(0.05)
            revoked = requests.delete(f"{portal.url}/api/v1/keys/{old}", headers=api, timeout=30)  # another tab
            assert revoked.json()["status"] == "revoked"
            # The lookup that should settle the new key fails: the new key stays pending.
            simulator.set_faults(Faults(fail_status=503, fail_methods=frozenset({"GET"})))
            rotation.join(timeout=60)
            page = member.get(answers[0].headers["Location"]).text
        finally:
            portal.stop()
        rows = read_rows(
            database_url,
            "from keys.models import AuditEvent\n"
            "rows = list(AuditEvent.objects.filter(action='rotate').values_list('reason', 'detail'))\n",
        )

    assert "is still active" not in page
    assert "NSML has not confirmed your key “alice-laptop-2” yet." in page
    [(reason, detail)] = rows
    assert reason == "old_key_revoked"
    assert detail.endswith(", now revoked")
