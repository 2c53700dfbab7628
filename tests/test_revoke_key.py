"""A member revokes a key: confirmation, a signed DELETE to NSML, the key kept as revoked."""

from __future__ import annotations

import time

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import translation

from keys import audit_display, services
from keys.audit import Origin
from keys.models import RegisteredKey, UnmanagedKey
from nsml.simulator import Faults
from tests.helpers import delete_answered_then_refused, nsml_sync

pytestmark = pytest.mark.django_db


def test_the_confirmation_page_does_not_revoke(member_client, member, nsml, register):
    key = register(member)

    response = member_client.get(reverse("keys:revoke", args=[key.pk]))

    assert response.status_code == 200
    assert "Revoke “laptop”?" in response.content.decode()
    key.refresh_from_db()
    assert key.is_active
    assert len(nsml.held_keys()) == 1


def test_a_member_revokes_a_key_and_nsml_no_longer_has_it(member_client, member, nsml, register, event):
    key = register(member)

    response = member_client.post(reverse("keys:revoke", args=[key.pk]), follow=True)

    assert nsml.held_keys() == []
    assert ("DELETE", f"/nsml/v1/auth-keys/title/laptop/name/{key.nsml_name}") in nsml.requests_seen
    key.refresh_from_db()
    assert key.status == RegisteredKey.Status.REVOKED
    assert key.revoked_at is not None
    assert "is revoked; NSML no longer accepts it" in response.content.decode()
    row = event(action="revoke")
    assert (row.actor, row.subject, row.outcome, row.registered_key) == (member, member, "success", key)
    assert row.upstream_status == 200
    assert row.trace_id


def test_a_revoked_key_stays_in_the_list_as_revoked(member_client, member, nsml, register):
    key = register(member)
    member_client.post(reverse("keys:revoke", args=[key.pk]))

    page = member_client.get(reverse("keys:list")).content.decode()

    assert "laptop" in page
    assert "Revoked" in page


def test_the_title_can_be_used_again_after_revoking(member_client, member, nsml, register, new_public_key):
    key = register(member)
    member_client.post(reverse("keys:revoke", args=[key.pk]))

    response = member_client.post(reverse("keys:new"), {"title": "laptop", "key": new_public_key()})

    assert response.status_code == 302
    assert RegisteredKey.objects.filter(title="laptop").count() == 2


def test_a_key_nsml_no_longer_has_is_revoked_with_that_noted(member_client, member, nsml, register, event):
    key = register(member)
    nsml.remove_key("laptop", key.nsml_name)

    member_client.post(reverse("keys:revoke", args=[key.pk]))

    key.refresh_from_db()
    assert key.status == RegisteredKey.Status.REVOKED
    assert key.revoked_note == "NSML no longer had this key"
    row = event(action="revoke")
    assert (row.outcome, row.reason, row.upstream_status) == ("success", "absent_upstream", 404)
    page = member_client.get(reverse("keys:detail", args=[key.pk])).content.decode()
    assert "NSML no longer had this key" in page


def test_the_korean_admin_shows_the_note_of_a_key_nsml_no_longer_had_in_korean(
    admin_client, member_client, member, nsml, register
):
    """Found in the Korean admin: a key's page read "NSML no longer had this key" in English (the note is
    stored in English), where the member's own page says it in Korean."""
    key = register(member)
    nsml.remove_key("laptop", key.nsml_name)
    member_client.post(reverse("keys:revoke", args=[key.pk]))
    page = reverse("admin:keys_registeredkey_change", args=[key.pk])

    korean = admin_client.get(page, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    english = admin_client.get(page, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "NSML no longer had this key" not in korean
    assert "NSML에 이 키가 이미 없었음" in korean
    assert "NSML no longer had this key" in english


def test_a_404_to_the_retry_of_a_delete_whose_answer_was_lost_is_the_members_own_revocation(
    member_client, member, nsml, register, event
):
    """Found with random faults: NSML deleted the key and the answer was lost; the retried DELETE got a 404,
    and the member's own revocation read "NSML no longer had this key" (reason absent_upstream)."""
    key = register(member)
    # Seed 13 at rate 0.5: the first request (the DELETE) is hit (the key is deleted, then the connection
    # closes), the retry and the confirming list are not.
    nsml.set_faults(Faults(fault_rate=0.5, fault_kinds=("drop-after",), seed=13))

    member_client.post(reverse("keys:revoke", args=[key.pk]))

    deletes = [target for method, target in nsml.requests_seen if method == "DELETE"]
    assert len(deletes) == 2  # the lost one, and its retry answered 404
    key.refresh_from_db()
    assert key.status == RegisteredKey.Status.REVOKED
    assert key.revoked_note == ""
    row = event(action="revoke", outcome="success")
    # Not absent_upstream, nor a bare success beside the retry's 404: the list settled the DELETE whose answer was lost.
    assert row.reason == "confirmed_absent"
    assert row.detail.startswith("NSML answered 404 (")


def test_a_refusal_of_the_retry_of_a_delete_whose_answer_was_lost_does_not_call_the_key_active(
    member_client, member, nsml, register, event
):
    """Found reading the DELETE's retries after a load run with random faults: NSML deleted the key and the answer
    was lost, then the gateway throttled both retries; the 429 put the key back to active and told the member
    "NSML is busy right now, so the key is still active", while NSML no longer held it (until a pass marked it
    revoked as a key NSML had lost, in nobody's name)."""
    key = register(member)
    nsml.set_faults(delete_answered_then_refused())

    response = member_client.post(reverse("keys:revoke", args=[key.pk]), follow=True)

    assert [method for method, _target in nsml.requests_seen[-4:]] == ["DELETE", "DELETE", "DELETE", "GET"]
    assert nsml.held_keys() == []
    page = response.content.decode()
    assert "still active" not in page
    assert "is revoked; NSML no longer accepts it" in page
    key.refresh_from_db()
    assert key.status == RegisteredKey.Status.REVOKED
    row = event(action="revoke", registered_key=key)
    assert (row.actor, row.outcome, row.upstream_status) == (member, "success", 429)


def test_a_404_from_a_wrong_url_does_not_revoke_a_key_nsml_still_holds(member_client, member, nsml, register):
    key = register(member)
    nsml.set_faults(Faults(fail_status=404, fail_methods=frozenset({"DELETE"})))

    member_client.post(reverse("keys:revoke", args=[key.pk]))

    key.refresh_from_db()
    assert key.is_active
    assert len(nsml.held_keys()) == 1


@pytest.mark.parametrize(
    ("faults", "says"),
    [
        (Faults(fail_status=401, fail_code="200", fail_methods=frozenset({"DELETE"})), "tell an administrator"),
        (Faults(fail_status=429, fail_methods=frozenset({"DELETE"})), "try again in a minute"),
        (Faults(fail_status=400, fail_methods=frozenset({"DELETE"})), "NSML refused to revoke the key"),
    ],
    ids=["credentials", "throttled", "rejected"],
)
def test_a_definite_refusal_leaves_the_key_active_with_a_clear_message(
    member_client, member, nsml, register, settings, faults, says, event
):
    settings.NSML_TIMEOUT = 1.0
    key = register(member)
    nsml.set_faults(faults)

    response = member_client.post(reverse("keys:revoke", args=[key.pk]), follow=True)

    assert response.status_code == 200
    assert says in response.content.decode()
    assert "simulated fault" not in response.content.decode()  # NSML's own words stay in the audit log
    key.refresh_from_db()
    assert key.is_active
    assert len(nsml.held_keys()) == 1
    row = event(action="revoke")
    assert row.outcome in ("failed", "rejected")


def test_nsml_busy_says_how_long_nsml_asked_to_wait(member_client, member, nsml, register, settings):
    # NSML asks for longer than the call has left: the portal stops at once, without a retry.
    settings.NSML_TIMEOUT = settings.NSML_CONNECT_TIMEOUT = 0.5
    key = register(member)
    nsml.set_faults(Faults(fail_status=429, retry_after=45, fail_methods=frozenset({"DELETE"})))

    response = member_client.post(reverse("keys:revoke", args=[key.pk]), follow=True)

    assert "NSML is busy right now, so the key is still active. Please try again in 45 seconds." in (
        response.content.decode()
    )


def test_nsml_busy_for_longer_than_the_portal_waits_answers_at_once_without_asking_again(
    member_client, member, nsml, register
):
    """Found in the browser with NSML answering 429 and Retry-After: 45: the member's revoke took 10 s (two more
    DELETEs, 5 s apart, long before the 45 s NSML asked for) to end with the same "try again in 45 seconds"."""
    key = register(member)  # with the portal's usual timeouts
    nsml.set_faults(Faults(fail_status=429, retry_after=45, fail_methods=frozenset({"DELETE"})))

    started = time.monotonic()
    response = member_client.post(reverse("keys:revoke", args=[key.pk]), follow=True)

    assert time.monotonic() - started < 3
    assert "Please try again in 45 seconds." in response.content.decode()
    assert [method for method, _ in nsml.requests_seen].count("DELETE") == 1


@pytest.mark.parametrize(
    "faults",
    [
        Faults(fail_status=503, fail_methods=frozenset({"DELETE"})),
        Faults(drop=True, fail_methods=frozenset({"DELETE"})),
        Faults(fail_status=502, fail_body="html", fail_methods=frozenset({"DELETE"})),
    ],
    ids=["unavailable", "dropped", "html"],
)
def test_an_unknown_outcome_leaves_the_key_being_revoked_until_the_reconciler_finishes(
    member_client, member, nsml, register, settings, faults, event
):
    settings.NSML_TIMEOUT = 1.0
    key = register(member)
    nsml.set_faults(faults)

    response = member_client.post(reverse("keys:revoke", args=[key.pk]), follow=True)

    page = response.content.decode()
    assert "keeps trying" in page
    assert "Being revoked" in page
    key.refresh_from_db()
    assert key.status == "revoking"
    assert event(action="revoke").outcome == "unknown"

    nsml.set_faults(Faults())
    nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == "revoked"
    assert nsml.held_keys() == []


def test_a_200_with_an_html_page_is_not_taken_as_a_revocation(member_client, member, nsml, register, settings):
    key = register(member)
    # NSML deletes the key, but something in between answers every request with a 200 HTML page.
    nsml.set_faults(Faults(fault_rate=1.0, fault_kinds=("html-200",)))

    member_client.post(reverse("keys:revoke", args=[key.pk]))

    key.refresh_from_db()
    assert nsml.held_keys() == []
    # Neither the DELETE's answer nor the list (an HTML page too) is NSML's: nothing is confirmed yet.
    assert key.status == "revoking"

    nsml.set_faults(Faults())
    nsml_sync("--apply")
    key.refresh_from_db()
    assert key.status == "revoked"


def test_the_member_is_emailed_when_a_key_is_added_and_revoked(
    member_client, member, nsml, register, settings, django_capture_on_commit_callbacks
):
    settings.SECURITY_NOTIFY_EMAIL = "security@example.com"
    member.email = "alice@example.com"
    member.save()
    with django_capture_on_commit_callbacks(execute=True):
        key = register(member)
    assert len(mail.outbox) == 1
    added = mail.outbox[0]

    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(reverse("keys:revoke", args=[key.pk]), REMOTE_ADDR="10.9.8.7")

    # Found in QA: the security team's copy shared the To: line, so every member learnt its address.
    assert (added.to, added.bcc) == (["alice@example.com"], ["security@example.com"])
    assert "security@example.com" not in added.message().as_string()
    assert "added" in added.subject
    assert key.fingerprint_sha256 in added.body
    assert "10.0.0.7" in added.body
    revoked = mail.outbox[1]
    assert "revoked" in revoked.subject
    assert "alice" in revoked.body
    assert "10.9.8.7" in revoked.body


def test_a_member_without_email_gets_no_mail_but_security_does(
    member, nsml, register, settings, django_capture_on_commit_callbacks
):
    settings.SECURITY_NOTIFY_EMAIL = "security@example.com"

    with django_capture_on_commit_callbacks(execute=True):
        register(member)

    assert [message.to for message in mail.outbox] == [["security@example.com"]]


@pytest.mark.parametrize(
    ("faults", "deletes", "answered"),
    [
        # Seeded: every DELETE attempt deletes (or finds nothing to delete) and loses its answer; the list is answered.
        (
            Faults(fault_rate=0.5, fault_kinds=("drop-after",), seed=8),
            3,
            "nothing (connection to NSML lost (ConnectionError))",
        ),
        # Seeded: the DELETE is made, then something in between answers 200 with an HTML page; the list is answered.
        (
            Faults(fault_rate=0.5, fault_kinds=("html-200",), seed=4),
            1,
            "200 (an HTML page where NSML answers 200 (HTTP 200: answer is not JSON (text/html, 75 bytes)))",
        ),
    ],
    ids=["every-answer-lost", "html-page"],
)
def test_a_delete_whose_answer_was_lost_or_unreadable_is_the_members_own_revocation(
    member_client, member, nsml, register, event, faults, deletes, answered
):
    """Found with random faults on DELETE (late, drop-after, html-200): NSML deleted the key but no attempt's answer
    could be read, and the member's own revocation read "Revoked on ... (NSML no longer had this key)" on their key's
    page, the audit's reason absent_upstream, as for a key deleted in the NCP console."""
    key = register(member)
    nsml.set_faults(faults)

    response = member_client.post(reverse("keys:revoke", args=[key.pk]), follow=True)

    assert len([target for method, target in nsml.requests_seen if method == "DELETE"]) == deletes
    assert nsml.held_keys() == []
    assert "is revoked; NSML no longer accepts it" in response.content.decode()
    key.refresh_from_db()
    assert key.status == RegisteredKey.Status.REVOKED
    assert key.revoked_note == ""
    page = member_client.get(reverse("keys:detail", args=[key.pk])).content.decode()
    assert "NSML no longer had this key" not in page
    # Found in fault QA: the row was a bare success with no reason and no detail beside NSML's status (500, or 200
    # for a proxy's page, or none), as if NSML had answered the DELETE. It says what NSML answered and that NSML's
    # list settled it, as a create's lookup does.
    row = event(action="revoke", outcome="success", registered_key=key)
    assert row.reason == "confirmed_absent"
    assert row.detail == f"NSML answered {answered}"
    with translation.override("ko"):
        assert audit_display.reason_name(row.reason) == "NSML 목록에서 삭제가 확인됨"
        assert audit_display.detail_shown(row.detail).startswith("NSML 응답 ")


def test_a_refused_revocation_of_a_key_added_outside_the_portal_is_found_by_its_fingerprint(
    member_client, member, admin_user, nsml, new_public_key, event
):
    # A key assigned from the unmanaged keys has only NSML's MD5 fingerprint: its refused revocation's row had an
    # empty fingerprint, so the audit search by the fingerprint the member and NSML know did not find it.
    nsml.add_key("console-key", new_public_key())
    nsml_sync("--apply")
    record = UnmanagedKey.objects.get()
    key = services.assign_unmanaged_key(record=record, member=member, actor=admin_user, origin=Origin(ip="10.0.0.9"))
    nsml.set_faults(Faults(fail_status=403, fail_methods=frozenset({"DELETE"})))

    member_client.post(reverse("keys:revoke", args=[key.pk]))

    row = event(action="revoke", outcome="failed")
    assert (row.registered_key_id, row.fingerprint) == (key.pk, record.fingerprint_md5)
