"""The reconciler (`nsml_sync --apply`, the admin's *Check NSML now*): every key whose outcome NSML left
unknown is settled by looking at NSML's list, against the real simulator over HTTP and the real database."""

from __future__ import annotations

import importlib
import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import dateformat, timezone

from keys import locks
from keys.audit import Origin
from keys.management.commands.nsml_sync import USAGE_STATUS
from keys.models import AuditEvent, ReconcileLock, ReconcilePass, RegisteredKey, UnmanagedKey
from keys.offboarding import offboard
from keys.services import RegistrationFailed, reconcile, register_key, revoke_key, states
from keys.services.revocation import confirm_revocation
from keys.upstream import nsml_client
from nsml.client import Reply, http_session
from nsml.simulator import Faults
from tests.helpers import free_port, generate_private_key, nsml_sync, public_line
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

Status = RegisteredKey.Status
ORIGIN = Origin(ip="10.0.0.7")


def deletes_seen(nsml) -> int:
    return sum(1 for method, _ in nsml.requests_seen if method == "DELETE")


@pytest.fixture
def submit_unanswered(nsml, new_public_key):
    """A submission whose answer NSML lost: the key stays pending. `reached=True`: NSML made the change."""

    def submit(owner, title: str = "laptop", *, reached: bool) -> RegisteredKey:
        # drop-after: NSML stores the key, then the connection closes (the settling lookup is lost too).
        faults = Faults(fault_rate=1.0, fault_kinds=("drop-after",), seed=1) if reached else Faults(drop=True)
        nsml.set_faults(faults)
        key = register_key(owner=owner, title=title, key_text=new_public_key(), origin=ORIGIN)
        nsml.set_faults(Faults())
        assert key.status == Status.PENDING
        assert any(held["title"] == title for held in nsml.held_keys()) is reached
        return key

    return submit


@pytest.fixture
def left_revoking(nsml, register):
    """An active key whose DELETE NSML never answered: the key stays revoking, NSML still holds it."""

    def make(owner, title: str = "laptop") -> RegisteredKey:
        key = register(owner, title)
        nsml.set_faults(Faults(drop=True, fail_methods=frozenset({"DELETE"})))
        revoke_key(key=key, actor=owner, origin=ORIGIN)
        nsml.set_faults(Faults())
        assert key.status == Status.REVOKING
        assert [held["title"] for held in nsml.held_keys()] == [title]
        return key

    return make


READ_ONLY = re.compile(r'<div class="readonly">(.*?)</div>', re.S)


def audit_row(row: AuditEvent) -> str:
    return reverse("admin:keys_auditevent_change", args=[row.pk])


def age(key: RegisteredKey, seconds: int) -> None:
    RegisteredKey.objects.filter(pk=key.pk).update(status_changed_at=timezone.now() - timedelta(seconds=seconds))


# Pending keys.


def test_it_activates_a_pending_key_nsml_holds(member, nsml, submit_unanswered, event):
    key = submit_unanswered(member, reached=True)

    status, out = nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.ACTIVE
    assert status == 0  # the portal's own submission, settled: no drift
    assert "pending keys found in NSML, now active: laptop (alice)" in out
    row = event(action="register", registered_key=key, outcome="success")
    assert row.reason == "found_upstream"
    # Found on the load run with random faults: the pass recorded the registration in its own name, and when it
    # settled the key while the member's request still waited, nothing said who had submitted it or from where.
    assert (row.actor, row.actor_username, row.subject) == (member, "alice", member)
    assert row.user_agent == "manage.py nsml_sync"  # the pass settled it
    assert row.detail == "found in NSML by a reconcile pass; submitted from 10.0.0.7"


def test_it_leaves_a_pending_key_nsml_lacks_pending_within_the_grace_period(member, nsml, submit_unanswered):
    key = submit_unanswered(member, reached=False)

    status, out = nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.PENDING
    assert status == 0  # nothing to repair
    assert "Not settled yet: 1 key(s) pending or being revoked; later passes settle them." in out


def test_it_fails_a_pending_key_nsml_lacks_after_the_grace_period_and_emails_the_member(
    member, nsml, submit_unanswered, settings, event, django_capture_on_commit_callbacks
):
    member.email = "alice@example.com"
    member.save()
    settings.NSML_PENDING_GRACE_SECONDS = 0
    key = submit_unanswered(member, reached=False)
    age(key, 60)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        status, out = nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.FAILED
    assert status == 0  # settled as NSML's list answered; the member is told
    assert "now failed: laptop (alice)" in out
    row = event(action="register", registered_key=key, outcome="failed")
    assert row.reason == "not_found_after_grace"
    assert (row.actor, row.user_agent) == (member, "manage.py nsml_sync")
    assert row.detail == "NSML did not hold the key 0 s after it was submitted; submitted from 10.0.0.7"
    [notice] = mail.outbox
    assert notice.to == ["alice@example.com"]
    assert notice.subject == "Your SSH key was not registered with NSML"
    assert "laptop" in notice.body and "add it again" in notice.body
    # Settled once: a second pass neither audits nor emails again.
    with django_capture_on_commit_callbacks(execute=True):
        nsml_sync("--apply")
    assert len(mail.outbox) == 1


def test_a_deactivated_member_is_not_told_to_add_again_a_key_nsml_never_registered(
    member, nsml, submit_unanswered, settings, django_capture_on_commit_callbacks
):
    member.email = "alice@example.com"
    member.save()
    settings.NSML_PENDING_GRACE_SECONDS = 0
    key = submit_unanswered(member, reached=False)
    age(key, 60)
    type(member).objects.filter(pk=member.pk).update(is_active=False)  # a directory sync: no signal
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.FAILED
    assert mail.outbox == []


def test_the_not_registered_email_does_not_say_nsml_was_silent_when_it_answered(
    member, nsml, new_public_key, settings, django_capture_on_commit_callbacks
):
    # Found by QA with NSML answering 503 to the create and to the lookup: the key stayed pending, and the email
    # the pass sent said "NSML did not answer when you submitted", which it had, with an error.
    member.email = "alice@example.com"
    member.save()
    settings.NSML_PENDING_GRACE_SECONDS = 0
    nsml.set_faults(Faults(fail_status=503))
    key = register_key(owner=member, title="laptop", key_text=new_public_key(), origin=ORIGIN)
    nsml.set_faults(Faults())
    assert key.status == Status.PENDING
    age(key, 60)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        nsml_sync("--apply")

    [notice] = mail.outbox
    assert "did not answer" not in notice.body
    assert 'NSML did not confirm the SSH key "laptop" when you submitted it' in notice.body


# Exit status: 1 for drift (NSML and the portal disagreed), 0 for a pass that only settled the portal's own work.


def test_a_pass_that_only_settles_the_portals_own_work_exits_0(
    member, nsml, submit_unanswered, left_revoking, settings
):
    """Found in QA: a pass that activated a submission NSML held, or confirmed a member's revocation, exited 1
    ("Drift found"), which tells a cron or a supervisor to look: every busy minute looked like trouble."""
    settings.NSML_PENDING_GRACE_SECONDS = 0
    left_revoking(member, "revoking")
    submit_unanswered(member, "found", reached=True)
    age(submit_unanswered(member, "lost", reached=False), 60)

    status, out = nsml_sync("--apply")

    assert status == 0, out
    assert "pending keys found in NSML, now active: found (alice)" in out
    assert "pending keys not in NSML after the grace period, now failed: lost (alice)" in out
    assert "revocations confirmed: revoking (alice)" in out
    assert "In sync: NSML and the portal hold the same keys." in out
    assert "Drift found" not in out
    assert ReconcilePass.objects.get().changes == 3  # still recorded as what the pass changed


@pytest.mark.parametrize("drift", ["missing", "unmanaged", "departed"])
def test_a_pass_that_finds_drift_exits_1_whatever_else_it_settled(
    member, other_member, nsml, register, submit_unanswered, new_public_key, drift
):
    submit_unanswered(member, "found", reached=True)  # routine, beside the drift
    if drift == "missing":
        lost = register(other_member, "bob-laptop")
        nsml.remove_key(lost.title, lost.nsml_name)
    elif drift == "unmanaged":
        nsml.add_key("console-key", new_public_key())
    else:
        register(other_member, "bob-laptop")
        type(other_member).objects.filter(pk=other_member.pk).update(is_active=False)  # no signal: no revocation

    status, out = nsml_sync("--apply")

    assert status == 1, out
    assert "Drift found: 1 repair(s) made" in out
    lines = {
        "missing": "active keys NSML no longer holds, now revoked: bob-laptop (bob)",
        "unmanaged": "new unmanaged keys: console-key",
        "departed": "active keys of deactivated members, now being revoked: bob-laptop (bob)",
    }
    assert lines[drift] in out


# Revoking keys.


def test_it_revokes_a_revoking_key_nsml_no_longer_holds(member, nsml, left_revoking, event):
    key = left_revoking(member)
    nsml.remove_key("laptop", key.nsml_name)
    deletes_before = deletes_seen(nsml)

    nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.REVOKED
    assert key.revoked_at is not None
    assert event(action="revoke", registered_key=key, outcome="success").reason == "confirmed_absent"
    assert deletes_seen(nsml) == deletes_before  # nothing left to delete


def test_it_deletes_a_revoking_key_nsml_still_holds_and_revokes_it_after_the_confirming_list(
    member, nsml, left_revoking, event
):
    key = left_revoking(member)
    seen_before = len(nsml.requests_seen)

    status, out = nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.REVOKED
    assert nsml.held_keys() == []
    methods = [method for method, _ in nsml.requests_seen[seen_before:]]
    assert methods == ["GET", "DELETE", "GET"]  # list, delete again, the list that confirms
    assert event(action="revoke", registered_key=key, outcome="success").reason == "confirmed_absent"
    assert "revocations confirmed: laptop (alice)" in out


def test_it_backs_off_when_nsml_refuses_the_delete(member, nsml, left_revoking):
    key = left_revoking(member)
    nsml.set_faults(Faults(fail_status=401, fail_methods=frozenset({"DELETE"})))
    deletes_before = deletes_seen(nsml)

    nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.REVOKING
    assert key.revoke_attempts == 1
    assert key.next_attempt_at is not None and key.next_attempt_at > timezone.now()
    assert deletes_seen(nsml) == deletes_before + 1

    status, out = nsml_sync("--apply")  # before next_attempt_at: no DELETE

    key.refresh_from_db()
    assert deletes_seen(nsml) == deletes_before + 1
    # Found running it: "In sync" right after an unconfirmed revocation read as "all done".
    assert "Not settled yet: 1 key(s) pending or being revoked" in out
    assert "In sync" not in out
    assert (key.status, key.revoke_attempts) == (Status.REVOKING, 1)
    assert [held["title"] for held in nsml.held_keys()] == ["laptop"]


@pytest.fixture
def nsml_answers():
    """What NSML answered each call this process made to it, as it came over HTTP: (method, status, trace id)."""
    answers: list[tuple[str, int, str]] = []

    def note(response, *args, **kwargs):
        answers.append((response.request.method, response.status_code, response.headers.get("x-ncp-trace-id", "")))

    hooks = http_session().hooks["response"]
    hooks.append(note)
    yield answers
    hooks.remove(note)


def test_a_delete_nsml_refuses_is_audited_with_its_answer_once_per_attempt(
    member, nsml, left_revoking, nsml_answers, admin_client
):
    """Found in QA: a DELETE a pass sent and NSML refused wrote no audit row, only a line in the pass's report, so the
    audit log did not say what NSML answered, nor when the reconciler would try again."""
    key = left_revoking(member)
    nsml.set_faults(Faults(fail_status=429, fail_code="410", retry_after=60, fail_methods=frozenset({"DELETE"})))
    newest = AuditEvent.objects.latest("id").id
    nsml_answers.clear()

    nsml_sync("--apply")

    key.refresh_from_db()
    assert (key.status, key.revoke_attempts) == (Status.REVOKING, 1)
    [(status, trace_id)] = [(status, trace) for method, status, trace in nsml_answers if method == "DELETE"]
    [row] = AuditEvent.objects.filter(id__gt=newest)
    assert (row.action, row.outcome, row.reason, row.registered_key, row.subject) == (
        "revoke",
        "failed",
        "delete_refused",
        key,
        member,
    )
    assert (row.upstream_status, row.upstream_error_code, row.trace_id) == (429, "410", trace_id) != (429, "410", "")
    assert (row.actor, row.actor_username) == (None, "manage.py nsml_sync")
    again = f"the reconciler sends the DELETE again after {key.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
    assert row.detail.endswith(f"; {again}")
    shown = READ_ONLY.findall(admin_client.get(audit_row(row), HTTP_ACCEPT_LANGUAGE="ko").content.decode())
    assert "동기화 작업의 삭제 요청(DELETE)이 처리되지 않음 (delete_refused)" in shown
    assert any(f"동기화 작업이 {key.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC 이후에" in text for text in shown)

    nsml_sync("--apply")  # before the next attempt: no DELETE, and no second row

    assert [method for method, _status, _trace in nsml_answers].count("DELETE") == 1
    assert list(AuditEvent.objects.filter(id__gt=newest)) == [row]

    nsml.set_faults(Faults())  # NSML takes DELETEs again, and the next attempt is due
    RegisteredKey.objects.filter(pk=key.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.REVOKED
    assert [row.reason for row in AuditEvent.objects.filter(id__gt=newest).order_by("id")] == [
        "delete_refused",
        "confirmed_absent",
    ]


def test_a_delete_the_confirming_list_contradicts_is_audited_with_both_answers(
    member, nsml, left_revoking, nsml_answers
):
    """The DELETE answered (a 500 here: NSML may have done it), but the list after it still holds the key: the row
    says what the DELETE got, which list said otherwise, and when the reconciler tries again."""
    key = left_revoking(member)
    nsml.set_faults(Faults(fail_status=500, fail_methods=frozenset({"DELETE"})))
    newest = AuditEvent.objects.latest("id").id
    nsml_answers.clear()

    nsml_sync("--apply")

    key.refresh_from_db()
    assert (key.status, key.revoke_attempts) == (Status.REVOKING, 1)
    assert [(method, status) for method, status, _trace in nsml_answers] == [
        ("GET", 200),
        ("DELETE", 500),
        ("GET", 200),
    ]
    delete_trace, confirming_trace = nsml_answers[1][2], nsml_answers[2][2]
    [row] = AuditEvent.objects.filter(id__gt=newest)
    assert (row.action, row.outcome, row.reason) == ("revoke", "unknown", "unconfirmed")
    assert (row.upstream_status, row.upstream_error_code, row.trace_id) == (500, "900", delete_trace)
    assert f"; NSML still lists the key after the DELETE (list trace id {confirming_trace}); " in row.detail
    assert row.detail.endswith(f"again after {key.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC")

    nsml_sync("--apply")  # before the next attempt

    assert AuditEvent.objects.filter(id__gt=newest).count() == 1


@pytest.fixture
def after_the_delete(nsml):
    """after_the_delete(faults): the simulator takes on `faults` once NSML has answered the next DELETE, so the list
    that should confirm it meets them (the DELETE itself answered as the faults before had it). Once only."""
    hooks = http_session().hooks["response"]
    armed = []

    def arm(faults: Faults) -> None:
        fired = []

        def switch(response, *args, **kwargs):
            if response.request.method == "DELETE" and not fired:
                fired.append(response)  # not removed here: requests is iterating over the hooks
                nsml.set_faults(faults)

        hooks.append(switch)
        armed.append(switch)

    yield arm
    for switch in armed:
        hooks.remove(switch)


NEXT_PASS_DECIDES = "the next reconcile pass lists NSML again, and sends the DELETE again if NSML still holds the key"


@pytest.mark.parametrize(
    ("list_fault", "failed"),
    [
        (Faults(drop=True, fail_methods=frozenset({"GET"})), "NSML no_answer: connection to NSML lost ("),
        (Faults(latency=1.0, latency_methods=frozenset({"GET"})), "NSML no_answer: NSML did not answer within"),
        (
            Faults(fail_status=503, fail_methods=frozenset({"GET"})),
            "NSML unavailable: Endpoint Error: simulated fault (list trace id ",
        ),
    ],
    ids=["dropped", "timed-out", "503"],
)
def test_a_delete_whose_confirming_list_fails_is_audited_and_left_to_the_next_pass(
    member, nsml, left_revoking, nsml_answers, after_the_delete, admin_client, settings, list_fault, failed
):
    """Found in QA: NSML answered the pass's DELETE, then the list that should confirm it failed, and the audit log
    said nothing: an admin could not see that a DELETE had gone out and its outcome was unknown."""
    settings.NSML_SYNC_TIMEOUT = settings.NSML_CONNECT_TIMEOUT = 0.5
    key = left_revoking(member)
    newest = AuditEvent.objects.latest("id").id
    nsml_answers.clear()
    after_the_delete(list_fault)

    nsml_sync("--apply")

    key.refresh_from_db()
    assert nsml.held_keys() == []  # NSML did delete it
    assert (key.status, key.revoke_attempts, key.next_attempt_at) == (Status.REVOKING, 0, None)  # nothing refused
    [(delete_status, delete_trace)] = [(status, trace) for method, status, trace in nsml_answers if method == "DELETE"]
    [row] = AuditEvent.objects.filter(id__gt=newest)
    assert (row.action, row.outcome, row.reason, row.registered_key) == ("revoke", "unknown", "unconfirmed", key)
    assert (row.upstream_status, row.trace_id) == (delete_status, delete_trace) == (200, delete_trace) != (200, "")
    assert (row.actor, row.actor_username) == (None, "manage.py nsml_sync")
    assert row.detail.startswith(f"the list that confirms it failed: {failed}"), row.detail
    assert row.detail.endswith(f"; {NEXT_PASS_DECIDES}")
    if list_fault.fail_status:
        listed = [trace for method, status, trace in nsml_answers if method == "GET" and status == 503]
        assert f"(list trace id {listed[-1]});" in row.detail
    shown = READ_ONLY.findall(admin_client.get(audit_row(row), HTTP_ACCEPT_LANGUAGE="ko").content.decode())
    assert "아직 NSML에서 확인되지 않음 (unconfirmed)" in shown
    [detail] = [text.split("<br>")[0] for text in shown if text.startswith("확인용 목록 조회 실패: ")]
    next_pass = "다음 동기화 작업이 NSML 목록을 다시 조회하고, NSML에 키가 남아 있으면 삭제 요청을 다시 보냄"
    assert detail.endswith(f"; {next_pass}")
    assert not re.search(r"NSML [a-z_]+:|did not|lost \(|list trace|next reconcile", detail), detail

    nsml.set_faults(Faults())
    nsml_sync("--apply")  # the next pass's list decides: NSML no longer holds it

    key.refresh_from_db()
    assert key.status == Status.REVOKED
    assert [row.reason for row in AuditEvent.objects.filter(id__gt=newest).order_by("id")] == [
        "unconfirmed",
        "confirmed_absent",
    ]


def test_a_refused_delete_whose_confirming_list_fails_is_sent_again_by_the_next_pass(
    member, nsml, left_revoking, nsml_answers, after_the_delete
):
    """NSML answered 500 to the DELETE (it may or may not have acted) and the list after it dropped: the row says
    what the DELETE got, and the next pass, finding the key still held, sends the DELETE again without waiting."""
    key = left_revoking(member)
    nsml.set_faults(Faults(fail_status=500, fail_methods=frozenset({"DELETE"})))
    after_the_delete(Faults(drop=True, fail_methods=frozenset({"GET"})))
    newest = AuditEvent.objects.latest("id").id
    nsml_answers.clear()

    nsml_sync("--apply")

    [(delete_trace)] = [trace for method, status, trace in nsml_answers if method == "DELETE"]
    [row] = AuditEvent.objects.filter(id__gt=newest)
    assert (row.outcome, row.reason) == ("unknown", "unconfirmed")
    assert (row.upstream_status, row.upstream_error_code, row.trace_id) == (500, "900", delete_trace)
    assert "; the list that confirms it failed: NSML no_answer: connection to NSML lost (" in row.detail
    assert row.detail.endswith(f"; {NEXT_PASS_DECIDES}")

    nsml.set_faults(Faults())
    nsml_answers.clear()
    nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.REVOKED
    assert [method for method, _status, _trace in nsml_answers] == ["GET", "DELETE", "GET"]


def test_a_pass_inside_the_backoff_sends_nothing_and_writes_nothing(
    member, nsml, left_revoking, nsml_answers, after_the_delete
):
    key = left_revoking(member)
    RegisteredKey.objects.filter(pk=key.pk).update(
        revoke_attempts=1, next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    after_the_delete(Faults(drop=True, fail_methods=frozenset({"GET"})))
    newest = AuditEvent.objects.latest("id").id
    nsml_answers.clear()

    nsml_sync("--apply")

    assert [method for method, _status, _trace in nsml_answers] == ["GET"]
    assert not AuditEvent.objects.filter(id__gt=newest).exists()


# Drift.


def test_a_list_that_lacks_more_active_keys_than_the_limit_marks_none_revoked(member, nsml, register, settings, caplog):
    """Found in QA pass 2: pointed at an NSML that held none of them (another subscription, a wrong URL), one
    pass (an admin's Check NSML now) marked 79,899 active keys revoked."""
    settings.RECONCILE_MISSING_LIMIT = 2
    keys = [register(member, f"laptop-{number}") for number in range(3)]
    for key in keys:
        nsml.remove_key(key.title, key.nsml_name)

    status, out = nsml_sync("--apply")

    assert status == 1  # drift, and nothing repaired
    assert "Drift found: 0 repair(s) made, 0 unmanaged key(s) open, 3 missing key(s) held back." in out
    assert {key.status for key in RegisteredKey.objects.all()} == {Status.ACTIVE}
    assert not AuditEvent.objects.filter(reason="missing_upstream").exists()
    assert (
        "held back: 3 active keys are missing from NSML's list, more than RECONCILE_MISSING_LIMIT (2), so none was "
        "marked revoked." in out
    )
    assert any(r.levelname == "WARNING" and "held back: 3 active keys" in r.getMessage() for r in caplog.records)
    record = ReconcilePass.objects.get()
    assert record.succeeded and record.report == {"held_missing": 3}
    assert "held back: 3 active keys" in record.summary

    status, out = nsml_sync("--apply", "--accept-missing")

    assert status == 1
    assert {key.status for key in RegisteredKey.objects.all()} == {Status.REVOKED}
    assert AuditEvent.objects.filter(reason="missing_upstream").count() == 3


def test_keys_missing_up_to_the_limit_are_marked_revoked(member, nsml, register, settings):
    settings.RECONCILE_MISSING_LIMIT = 2
    keys = [register(member, f"laptop-{number}") for number in range(3)]
    for key in keys[:2]:
        nsml.remove_key(key.title, key.nsml_name)

    nsml_sync("--apply")

    assert sorted(key.status for key in RegisteredKey.objects.all()) == [Status.ACTIVE, Status.REVOKED, Status.REVOKED]


def test_a_pass_reads_whole_only_the_active_keys_nsml_lacks(member, nsml, register, monkeypatch):
    """Found at 80,000 active keys: every pass, and each admin's *Check NSML now*, read every active key as a model
    with its owner to compare two fields with NSML's list, 16 s where 0.8 s does, all of it spent in Python."""
    keys = [register(member, f"laptop-{number}") for number in range(3)]
    nsml.remove_key(keys[0].title, keys[0].nsml_name)
    read = []
    built = RegisteredKey.from_db.__func__

    def from_db(cls, db, field_names, values):
        key = built(cls, db, field_names, values)
        read.append(key.pk)
        return key

    monkeypatch.setattr(RegisteredKey, "from_db", classmethod(from_db))

    report = reconcile(origin=ORIGIN)

    assert report.missing == ["laptop-0 (alice)"]
    assert keys[1].pk not in read and keys[2].pk not in read


def test_accept_missing_is_for_one_pass():
    assert nsml_sync("--accept-missing")[0] == USAGE_STATUS
    assert nsml_sync("--apply", "--every", "30", "--accept-missing")[0] == USAGE_STATUS


def test_it_revokes_an_active_key_nsml_lost(member, nsml, register, event):
    key = register(member)
    nsml.remove_key("laptop", key.nsml_name)

    status, out = nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.REVOKED
    assert key.revoked_note == "NSML no longer had this key"
    assert event(action="revoke", registered_key=key).reason == "missing_upstream"
    assert "active keys NSML no longer holds, now revoked: laptop (alice)" in out


def test_it_attaches_a_key_nsml_holds_to_the_member_whose_submission_failed(member, nsml, new_public_key, event):
    line = new_public_key()
    nsml.set_faults(Faults(fail_status=503, fail_methods=frozenset({"POST"})))
    with pytest.raises(RegistrationFailed):
        register_key(owner=member, title="laptop", key_text=line, origin=ORIGIN)
    nsml.set_faults(Faults())
    key = RegisteredKey.objects.get()
    assert key.status == Status.FAILED
    nsml.add_key("laptop", line)  # NSML got it after all (e.g. a retry somewhere in between)

    status, out = nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.ACTIVE
    assert status == 1  # the portal had recorded it as not registered: drift
    assert key.owner == member
    assert not UnmanagedKey.objects.exists()
    row = event(action="register", registered_key=key, outcome="success")
    assert (row.reason, row.actor) == ("attached", member)
    assert row.detail.endswith("; submitted from 10.0.0.7")
    assert "attached to the member who submitted them: laptop (alice)" in out


def test_it_records_a_key_nobody_submitted_as_unmanaged(member, nsml, new_public_key, event):
    held = nsml.add_key("console-key", new_public_key())

    status, out = nsml_sync("--apply")

    record = UnmanagedKey.objects.get()
    assert (record.title, record.nsml_name, record.status) == ("console-key", held["name"], "open")
    assert not RegisteredKey.objects.exists()
    assert event(action="drift").reason == "unmanaged"
    assert status == 1
    assert "1 unmanaged key(s) await an admin" in out


def test_each_row_a_pass_writes_carries_what_nsml_answered_to_its_list(
    member, other_member, nsml, submit_unanswered, left_revoking, register, new_public_key, settings
):
    """Found checking the audit after a load run against the simulator's random faults: every row a pass wrote
    (a key found, failed after the grace period, confirmed revoked, lost, an unmanaged key) had no NSML status and
    no trace id, though each was decided by NSML's list; the trace id is what NCP support asks for."""
    settings.NSML_PENDING_GRACE_SECONDS = 0
    gone = left_revoking(member, "gone")
    nsml.remove_key("gone", gone.nsml_name)
    submit_unanswered(member, "found", reached=True)
    never = submit_unanswered(member, "never", reached=False)
    age(never, 60)
    lost = register(other_member, "lost")
    nsml.remove_key("lost", lost.nsml_name)
    nsml.add_key("console-key", new_public_key())
    newest = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()

    nsml_sync("--apply")

    rows = AuditEvent.objects.filter(id__gt=newest)
    assert sorted((row.title, row.reason) for row in rows) == [
        ("console-key", "unmanaged"),
        ("found", "found_upstream"),
        ("gone", "confirmed_absent"),
        ("lost", "missing_upstream"),
        ("never", "not_found_after_grace"),
    ]
    assert {row.upstream_status for row in rows} == {200}
    [trace_id] = {row.trace_id for row in rows}  # the one list that decided them all
    assert len(trace_id) == 32


def test_it_changes_nothing_when_nsml_cannot_be_listed(
    member, nsml, register, submit_unanswered, new_public_key, settings
):
    settings.NSML_PENDING_GRACE_SECONDS = 0
    lost = register(member, "lost")
    nsml.remove_key("lost", lost.nsml_name)
    pending = submit_unanswered(member, "pending", reached=False)
    age(pending, 60)
    nsml.add_key("console-key", new_public_key())
    nsml.set_faults(Faults(fail_status=503, fail_methods=frozenset({"GET"})))

    status, out = nsml_sync("--apply")

    assert status == 2
    assert "Nothing was changed" in out
    lost.refresh_from_db()
    pending.refresh_from_db()
    assert (lost.status, pending.status) == (Status.ACTIVE, Status.PENDING)
    assert not UnmanagedKey.objects.exists()
    record = ReconcilePass.objects.get()
    assert record.succeeded is False
    assert record.finished_at is not None
    assert "NSML could not be listed" in record.summary


# One pass at a time.


def test_it_skips_a_pass_while_another_process_holds_the_lock(member, nsml, register):
    lost = register(member)
    nsml.remove_key("laptop", lost.nsml_name)

    with held_by_another_process():
        status, out = nsml_sync("--apply")

    assert status == 0
    assert "Another reconcile pass is running; skipped this one." in out
    lost.refresh_from_db()
    assert lost.status == Status.ACTIVE
    assert not ReconcilePass.objects.exists()
    # Once the other process lets go, the next pass runs.
    assert nsml_sync("--apply")[0] == 1
    lost.refresh_from_db()
    assert lost.status == Status.REVOKED


class held_by_another_process:
    """Hold the reconcile lock as another process would: PostgreSQL's advisory lock from a second
    session, or on SQLite the lease row written with another holder."""

    def __enter__(self):
        if connection.vendor == "postgresql":
            import psycopg

            params = connection.get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            params.pop("prepare_threshold", None)
            self.other = psycopg.connect(
                **{k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")},
                autocommit=True,
            )
            acquired = self.other.execute("SELECT pg_try_advisory_lock(%s)", [locks.ADVISORY_KEY]).fetchone()[0]
            assert acquired
        else:
            self.other = None
            ReconcileLock.objects.update_or_create(
                name=locks.NAME,
                defaults={"holder": "other-host:4242:abcdef12", "expires_at": timezone.now() + timedelta(minutes=5)},
            )
        return self

    def __exit__(self, *exc_info):
        if self.other is not None:
            self.other.close()  # the session ends, and its advisory lock with it
        else:
            ReconcileLock.objects.filter(name=locks.NAME).update(holder="", expires_at=None)


def test_it_skips_a_pass_while_this_process_holds_the_lease(member, nsml, register):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL's advisory lock is re-entrant within one session; see the test above")
    lost = register(member)
    nsml.remove_key("laptop", lost.nsml_name)

    with locks.reconcile_lock() as acquired:
        assert acquired
        status, out = nsml_sync("--apply")

    assert "Another reconcile pass is running" in out
    lost.refresh_from_db()
    assert lost.status == Status.ACTIVE


def test_it_takes_over_a_lease_whose_holder_died(member, nsml, register):
    if connection.vendor == "postgresql":
        pytest.skip("a PostgreSQL advisory lock ends with its session; there is no lease to expire")
    lost = register(member)
    nsml.remove_key("laptop", lost.nsml_name)
    ReconcileLock.objects.create(
        name=locks.NAME, holder="dead-host:1:00000000", expires_at=timezone.now() - timedelta(seconds=1)
    )

    status, out = nsml_sync("--apply")

    assert "Another reconcile pass" not in out
    lost.refresh_from_db()
    assert lost.status == Status.REVOKED
    assert ReconcileLock.objects.get(name=locks.NAME).holder == ""  # released after the pass


# The loop.


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _wait_for(lines: queue.Queue, text: str, seen: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"{text!r} not printed in {timeout} s; got:\n{''.join(seen)}")


def _start_loop(env: dict[str, str]) -> tuple[subprocess.Popen, queue.Queue]:
    """`nsml_sync --apply --every 5` in a process of its own, and the queue its output lines arrive on."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "nsml_sync", "--apply", "--every", "5"],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True).start()
    return process, lines


def test_it_loops_until_sigterm_and_finishes_the_pass_under_way(nsml, new_public_key, tmp_path):
    # The subprocess needs a database of its own: pytest's test database is not visible to it
    # (in memory on SQLite, an uncommitted transaction on PostgreSQL).
    database = tmp_path / "db.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "NSML_API_URL": nsml.base_url,
        "PYTHONUNBUFFERED": "1",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "migrate", "--no-input"],
        cwd=django_settings.BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    nsml.add_key("console-key", new_public_key())
    nsml.set_faults(Faults(latency=1.5))  # the first pass is under way for a while

    process, lines = _start_loop(env)
    seen: list[str] = []
    try:
        _wait_for(lines, "Reconciler: a pass every 5 s", seen, timeout=60)
        deadline = time.monotonic() + 10
        while not any(method == "GET" for method, _ in nsml.requests_seen):
            assert time.monotonic() < deadline, "the first pass never asked NSML"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)  # while NSML is still answering the pass's list
        status = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    while (line := lines.get(timeout=5)) is not None:
        seen.append(line)

    out = "".join(seen)
    assert status == 0, out
    assert "new unmanaged keys: console-key" in out  # the pass under way finished
    assert out.rstrip().endswith("Reconciler stopped."), out
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT title, status FROM keys_unmanagedkey").fetchall() == [("console-key", "open")]
        assert db.execute("SELECT count(*) FROM keys_reconcilepass WHERE succeeded").fetchone() == (1,)


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_loop_whose_database_is_away_says_so_as_a_one_shot_pass_does(log_format):
    """Found running `nsml_sync --apply --every 5` during a database outage: each pass ended with
    "Reconcile pass failed: OperationalError('connection failed: connection to server at ...')", the driver's
    words, where a one-shot pass names DATABASE_URL (keys/management/database.py)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://portal:db-password-9@127.0.0.1:{free_port()}/portal",
        "LOG_FORMAT": log_format,
        "PYTHONUNBUFFERED": "1",
    }
    process, lines = _start_loop(env)
    seen: list[str] = []
    try:
        _wait_for(lines, "could not be reached", seen, timeout=60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    said = seen[-1]
    if log_format == "json":
        line = json.loads(said)
        assert (line["level"], line["logger"]) == ("ERROR", "keys.reconcile")
        said = line["message"]
    assert "The database could not be reached (OperationalError): this pass did not finish" in said
    assert "DATABASE_URL" in said
    assert "connection to server" not in said


def test_it_refuses_an_interval_under_five_seconds(nsml):
    status, out = nsml_sync("--apply", "--every", "2")

    assert status == USAGE_STATUS
    assert "--every must be at least 5 and at most 86400 seconds" in out
    assert not ReconcilePass.objects.exists()


def test_it_refuses_every_without_apply(nsml):
    status, out = nsml_sync("--every", "5")

    assert status == USAGE_STATUS
    assert "--every repeats the reconciler, so it needs --apply." in out
    assert not ReconcilePass.objects.exists()


# The admin.


def test_check_nsml_now_settles_a_pending_key_and_says_what_changed(admin_client, member, nsml, submit_unanswered):
    key = submit_unanswered(member, reached=True)

    response = admin_client.post(reverse("admin:keys_registeredkey_check_nsml"), follow=True)

    key.refresh_from_db()
    assert key.status == Status.ACTIVE
    assert response.redirect_chain[-1][0] == reverse("admin:keys_registeredkey_changelist")
    assert "Pending keys found in NSML, now active: laptop (alice)" in response.content.decode()
    assert ReconcilePass.objects.get().succeeded


def test_check_nsml_now_says_when_nothing_changed(admin_client, member, nsml, register):
    register(member)

    response = admin_client.post(reverse("admin:keys_unmanagedkey_check_nsml"), follow=True)

    assert "Checked NSML: the portal and NSML agree." in response.content.decode()


def test_check_nsml_now_warns_of_missing_keys_held_back_rather_than_reporting_a_success(
    admin_client, member, nsml, register, settings
):
    """Found at bench volume: "Held back: 79822 active keys are missing from NSML's list ... none was marked revoked"
    came in the green of a success, as if the check had gone well."""
    settings.RECONCILE_MISSING_LIMIT = 0
    key = register(member)
    nsml.remove_key(key.title, key.nsml_name)

    response = admin_client.post(reverse("admin:keys_registeredkey_check_nsml"), follow=True)

    [held] = [message for message in response.context["messages"] if "held back" in message.message.lower()]
    assert held.level_tag == "warning"


def test_check_nsml_now_says_keys_still_wait_on_nsml_as_nsml_sync_does(
    admin_client, member, nsml, submit_unanswered, left_revoking
):
    """Found in review: with a submission in its grace period and a revocation NSML never answered, Check
    NSML now said "the portal and NSML agree" while nsml_sync said "Not settled yet" and the metrics counted
    the pass as unsettled."""
    submit_unanswered(member, "fresh", reached=False)
    left_revoking(member, "old")
    RegisteredKey.objects.filter(status=Status.REVOKING).update(next_attempt_at=timezone.now() + timedelta(hours=1))

    page = admin_client.post(reverse("admin:keys_registeredkey_check_nsml"), follow=True).content.decode()
    admin_client.cookies["django_language"] = "ko"
    korean = admin_client.post(reverse("admin:keys_registeredkey_check_nsml"), follow=True).content.decode()
    _status, said = nsml_sync("--apply")

    assert "Not settled yet: 2 keys pending or being revoked; later passes settle them." in page
    assert "agree" not in page
    assert "아직 정리되지 않았습니다: 키 2개" in korean
    assert "일치합니다" not in korean
    assert "Not settled yet: 2 key(s) pending or being revoked" in said


def test_check_nsml_now_takes_about_one_nsml_timeout_and_leaves_the_rest_to_the_next_pass(
    admin_client, member, nsml, register, settings
):
    """Found by the browser QA pass with a slow NSML: the button ran a whole pass inside the admin's request,
    each call with the reconciler's 30 s timeout, and took 80 s with two keys being revoked."""
    keys = [register(member, f"old-{number}") for number in range(3)]
    nsml.set_faults(Faults(drop=True, fail_methods=frozenset({"DELETE"})))  # left revoking, NSML holds them
    for key in keys:
        revoke_key(key=key, actor=member, origin=ORIGIN)
    settings.NSML_TIMEOUT = 1.0
    nsml.set_faults(Faults(latency=0.4))  # the list, three DELETEs and the confirming list: 2 s in all
    newest, seen_before = AuditEvent.objects.latest("id").id, len(nsml.requests_seen)

    started = time.monotonic()
    page = admin_client.post(reverse("admin:keys_registeredkey_check_nsml"), follow=True).content.decode()
    waited = time.monotonic() - started

    assert waited < 1.6
    assert "Not settled yet: 3 keys pending or being revoked; later passes settle them." in page
    # Each DELETE the button sent is in the audit log, its outcome left to the next pass's list.
    sent = {target for method, target in nsml.requests_seen[seen_before:] if method == "DELETE"}
    rows = AuditEvent.objects.filter(id__gt=newest, action="revoke")
    assert len(sent) == rows.count() >= 1
    for row in rows:
        assert (row.outcome, row.reason) == ("unknown", "unconfirmed")
        assert "the pass's wait for NSML ran out before the list that confirms it; the next reconcile" in row.detail
    nsml.set_faults(Faults())
    time.sleep(0.5)  # a DELETE the button stopped waiting for still reaches NSML
    _status, said = nsml_sync("--apply")
    assert "revocations confirmed: old-2 (alice), old-1 (alice), old-0 (alice)" in said
    assert {key.status for key in RegisteredKey.objects.filter(pk__in=[key.pk for key in keys])} == {Status.REVOKED}
    assert nsml.held_keys() == []


def test_check_nsml_now_names_ten_keys_per_change_and_counts_the_rest(admin_client, member, nsml, register):
    """Found against a loaded portal: the first pass changed 2,432 keys, and Check NSML now showed every
    title in one message, as did the admin's front page (its last reconcile pass)."""
    for number in range(12):
        key = register(member, f"gone-{number:02d}")
        nsml.remove_key(key.title, key.nsml_name)

    page = admin_client.post(reverse("admin:keys_registeredkey_check_nsml"), follow=True).content.decode()
    passes = admin_client.get(reverse("admin:index")).content.decode()
    admin_client.cookies["django_language"] = "ko"
    korean = admin_client.get(reverse("admin:index")).content.decode()

    for shown, marker in ((page, "now revoked:"), (passes, "now revoked:"), (korean, "gone-")):
        [said] = [line for line in shown.splitlines() if marker in line and "<li" in line]
        assert said.count("(alice)") == 10
        assert ("외 2개" if shown is korean else "(alice) and 2 more") in said
    assert RegisteredKey.objects.filter(status=Status.REVOKED).count() == 12


def test_check_nsml_now_names_the_admin_who_ran_it_not_their_browser(
    admin_client, admin_user, member, nsml, register, new_public_key
):
    """Found with years of keys NSML no longer held: after Check NSML now, the audit rows of the keys it revoked and
    the unmanaged key it found named their actor "Mozilla/5.0 (X11; Linux x86_64) ...": the pass named the agent
    it ran from, as it names the command (manage.py nsml_sync), and no admin."""
    gone = register(member, "gone")
    nsml.remove_key(gone.title, gone.nsml_name)
    nsml.add_key("console-key", new_public_key())
    browser = "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0"

    admin_client.post(reverse("admin:keys_registeredkey_check_nsml"), HTTP_USER_AGENT=browser)

    rows = AuditEvent.objects.filter(reason__in=["missing_upstream", "unmanaged"])
    assert rows.count() == 2
    for row in rows:
        assert (row.actor, row.actor_username) == (None, f"{admin_user.username} via Check NSML now")
        assert row.user_agent == browser  # where the pass ran, as for any row
    assert AuditEvent.objects.filter(action="revoke").get().reason == "missing_upstream"


def test_check_nsml_now_does_nothing_on_get(admin_client, member, nsml, submit_unanswered):
    key = submit_unanswered(member, reached=True)

    response = admin_client.get(reverse("admin:keys_registeredkey_check_nsml"))

    assert response.status_code == 405
    key.refresh_from_db()
    assert key.status == Status.PENDING
    assert not ReconcilePass.objects.exists()


def test_the_admin_index_shows_what_needs_attention(admin_client, member, nsml, new_public_key, submit_unanswered):
    nsml.add_key("console-key", new_public_key())
    nsml_sync("--apply")
    stuck = submit_unanswered(member, "stuck", reached=False)
    age(stuck, django_settings.NSML_PENDING_GRACE_SECONDS + 60)
    submit_unanswered(member, "fresh", reached=False)  # within the grace period: not counted

    page = admin_client.get(reverse("admin:index")).content.decode()

    assert "Needs attention" in page
    assert "1 key has been waiting for NSML longer than the grace period" in page
    assert "1 unmanaged key in NSML awaits an owner or a revocation" in page
    last = ReconcilePass.objects.get()
    when = dateformat.format(timezone.localtime(last.started_at), "Y-m-d H:i:s T")
    assert f"Last reconcile pass: {when}, new unmanaged keys: console-key." in page


def test_a_staff_member_sees_what_needs_attention_linked_only_where_they_may_look(
    client, django_user_model, member, nsml, new_public_key, submit_unanswered
):
    """Found in the Korean admin as a staff member who may view keys but not unmanaged keys: the index linked
    "1 unmanaged key in NSML awaits ..." to a list that answered 403."""
    nsml.add_key("console-key", new_public_key())
    nsml_sync("--apply")
    age(submit_unanswered(member, "stuck", reached=False), django_settings.NSML_PENDING_GRACE_SECONDS + 60)
    staff = django_user_model.objects.create_user("keyviewer", password="keyviewer-password-1", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_registeredkey"))
    client.force_login(staff)

    page = client.get(reverse("admin:index")).content.decode()

    pending = reverse("admin:keys_registeredkey_changelist") + "?status__exact=pending"
    assert f'<a href="{pending}">1 key has been waiting for NSML longer than the grace period</a>' in page
    assert "<li>1 unmanaged key in NSML awaits an owner or a revocation</li>" in page
    assert reverse("admin:keys_unmanagedkey_changelist") not in page


def test_the_admin_index_shows_a_failed_pass(admin_client, nsml):
    nsml.set_faults(Faults(fail_status=503, fail_methods=frozenset({"GET"})))
    nsml_sync("--apply")

    page = admin_client.get(reverse("admin:index")).content.decode()

    assert "Last reconcile pass failed:" in page
    assert "NSML could not be listed" in page
    assert "Nothing: every key is settled." in page


def test_why_nsml_could_not_be_listed_is_in_the_admins_language(admin_client, nsml, settings):
    """Found walking the admin in Korean with NSML down: the index's last pass and *Check NSML now* read
    "NSML에 연결할 수 없습니다 (connection to NSML refused)", the client's own English phrase in the middle,
    though the audit log's detail already translated it."""
    settings.NSML_API_URL = "http://127.0.0.1:1/nsml/v1"  # nothing listens there: the connection is refused
    nsml_sync("--apply")

    index = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    checked = admin_client.post(
        reverse("admin:keys_registeredkey_check_nsml"), HTTP_ACCEPT_LANGUAGE="ko", follow=True
    ).content.decode()

    for page in (index, checked):
        assert "NSML에 연결할 수 없습니다 (NSML 연결이 거부됨)" in page
        assert "connection to NSML refused" not in page
    english = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "(connection to NSML refused)" in english


def test_an_assigned_unmanaged_key_is_named_by_its_md5_fingerprint_in_the_admin(
    admin_client, member, nsml, new_public_key
):
    """Found walking the admin: a key assigned from the unmanaged keys was named "console-key ()" in its
    page's title, its audit rows and its checkbox label, as it has no SHA256 fingerprint (NSML tells only MD5)."""
    nsml.add_key("console-key", new_public_key())
    nsml_sync("--apply")
    record = UnmanagedKey.objects.get()
    admin_client.post(reverse("admin:keys_unmanagedkey_change", args=[record.pk]), {"assigned_to": member.pk})
    key = RegisteredKey.objects.get(owner=member)

    page = admin_client.get(reverse("admin:keys_registeredkey_change", args=[key.pk])).content.decode()

    assert f"<title>console-key ({record.fingerprint_md5}) | " in page
    assert "console-key ()" not in page


def test_an_unmanaged_keys_history_says_what_changed_in_the_admins_language(admin_client, member, nsml, new_public_key):
    """Found walking the admin in Korean: after assigning an unmanaged key, its History read "Assigned to가
    변경되었습니다.": Django stores the form's English label and translates it when shown, and no catalogue
    had this one."""
    nsml.add_key("console-key", new_public_key())
    nsml_sync("--apply")
    record = UnmanagedKey.objects.get()
    admin_client.post(reverse("admin:keys_unmanagedkey_change", args=[record.pk]), {"assigned_to": member.pk})

    page = admin_client.get(
        reverse("admin:keys_unmanagedkey_history", args=[record.pk]), HTTP_ACCEPT_LANGUAGE="ko"
    ).content.decode()

    assert "할당 대상 항목을 변경했습니다." in page
    assert "Assigned to" not in page


def test_an_assigned_unmanaged_key_is_the_members_to_revoke(
    admin_client, member, member_client, nsml, new_public_key, event
):
    held = nsml.add_key("console-key", new_public_key())
    nsml_sync("--apply")
    record = UnmanagedKey.objects.get()

    admin_client.post(reverse("admin:keys_unmanagedkey_change", args=[record.pk]), {"assigned_to": member.pk})

    page = member_client.get(reverse("keys:list")).content.decode()
    assert "console-key" in page
    assert "added outside the portal" in page
    key = RegisteredKey.objects.get(owner=member)
    assert (key.status, key.source, key.nsml_name) == (Status.ACTIVE, "outside", held["name"])

    response = member_client.post(reverse("keys:revoke", args=[key.pk]))

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.status == Status.REVOKED
    assert nsml.held_keys() == []
    assert deletes_seen(nsml) == 1
    row = event(action="revoke", registered_key=key)
    assert (row.actor, row.outcome, row.upstream_status) == (member, "success", 200)


def test_a_pending_key_of_a_member_deactivated_meanwhile_is_revoked_not_activated(
    member, nsml, submit_unanswered, event
):
    """Found offboarding a member whose key was still being checked: the next pass made it active in
    NSML for the leaver, emailed them that a key was added, and nothing revoked it afterwards."""
    key = submit_unanswered(member, reached=True)
    member.is_active = False
    member.save()  # deactivation revokes active keys; this one was pending
    mail.outbox.clear()

    nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.REVOKED
    assert nsml.held_keys() == []
    assert not [message for message in mail.outbox if "added" in message.subject]
    refused = event(action="register", registered_key=key, outcome="refused")
    assert refused.reason == "owner_deactivated"


def test_a_failed_submission_of_a_deactivated_member_is_not_attached(member, nsml, new_public_key):
    line = new_public_key()
    nsml.set_faults(Faults(fail_status=503, fail_methods=frozenset({"POST"})))
    with pytest.raises(RegistrationFailed):
        register_key(owner=member, title="laptop", key_text=line, origin=ORIGIN)
    nsml.set_faults(Faults())
    nsml.add_key("laptop", line)  # NSML got it after all
    member.is_active = False
    member.save()

    nsml_sync("--apply")

    assert RegisteredKey.objects.get().status == Status.FAILED
    assert UnmanagedKey.objects.get().title == "laptop"  # for an admin to revoke


def test_a_key_revoked_after_the_list_was_taken_is_not_called_unmanaged(member, nsml, register):
    """Found revoking a key while a pass ran: the pass's list still held it, the portal no longer called it
    live, and the pass recorded it as a key nobody registered."""
    from keys.upstream import nsml_client

    passes = importlib.import_module("keys.services.reconcile")  # the module; the package exports its function

    key = register(member, "laptop")
    listed_at = timezone.now()
    held, listing = nsml_client().list_keys()
    revoke_key(key=key, actor=member, origin=ORIGIN)
    assert RegisteredKey.objects.get().status == Status.REVOKED

    report = passes.PassReport()
    passes._settle_unknown_keys(held, listing, listed_at, ORIGIN, report)

    assert not UnmanagedKey.objects.exists()
    assert report.unmanaged == []


def test_the_last_pass_reads_in_the_admins_language(admin_client, member, nsml, new_public_key):
    """Found in the Korean admin: Needs attention read "…, new unmanaged keys: outsider-one." in English."""
    nsml.add_key("outsider-one", new_public_key())
    nsml_sync("--apply")
    admin_client.cookies["django_language"] = "ko"

    page = admin_client.get(reverse("admin:index")).content.decode()

    assert "새로 찾은 관리되지 않는 키: outsider-one" in page
    assert "new unmanaged keys" not in page


@pytest.mark.parametrize(
    ("language", "ending"), [("en", "run nsml_sync --apply --accept-missing."), ("ko", "실행하세요.")]
)
def test_a_held_back_pass_ends_its_sentence_on_the_index_once(
    admin_client, member, nsml, register, settings, language, ending
):
    """Found on the admin index at bench volume: "Last reconcile pass: ..., held back: ... --accept-missing.." """
    settings.RECONCILE_MISSING_LIMIT = 0
    key = register(member)
    nsml.remove_key(key.title, key.nsml_name)
    nsml_sync("--apply")
    admin_client.cookies["django_language"] = language

    page = admin_client.get(reverse("admin:index")).content.decode()

    assert ending in page and f"{ending}." not in page


def test_a_failed_pass_names_its_failure_in_the_admins_language(admin_client, nsml):
    nsml.set_faults(Faults(drop=True))
    nsml_sync("--apply")
    admin_client.cookies["django_language"] = "ko"

    page = admin_client.get(reverse("admin:index")).content.decode()

    assert "NSML 목록을 가져올 수 없습니다: NSML이 제시간에 응답하지 않았습니다" in page


def test_check_nsml_now_says_what_changed_in_the_admins_language(admin_client, member, nsml, new_public_key):
    nsml.add_key("outsider-two", new_public_key())
    admin_client.cookies["django_language"] = "ko"

    response = admin_client.post(reverse("admin:keys_registeredkey_check_nsml"), follow=True)

    assert "새로 찾은 관리되지 않는 키: outsider-two" in response.content.decode()


def test_the_email_for_a_members_own_revocation_the_reconciler_confirms_names_the_member(
    member, nsml, left_revoking, django_capture_on_commit_callbacks
):
    """Found revoking a key against a slow NSML: when the reconciler confirmed it, the member read "Revoked
    by: the portal ... This was done by someone other than you"."""
    member.email = "alice@example.com"
    member.save()
    key = left_revoking(member)  # the member revoked it; NSML's answer was lost
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        nsml_sync("--apply")

    key.refresh_from_db()
    assert key.status == Status.REVOKED
    [notice] = [message for message in mail.outbox if member.email in message.to]
    assert f"Revoked by: {member.username}" in notice.body
    assert "someone other than you" not in notice.body
    assert "From: 10.0.0.7" in notice.body  # where the member asked from


def test_a_revocation_the_portal_started_still_says_so(member, nsml, register, django_capture_on_commit_callbacks):
    member.email = "alice@example.com"
    member.save()
    key = register(member, "laptop")
    nsml.set_faults(Faults(drop=True, fail_methods=frozenset({"DELETE"})))
    revoke_key(key=key, actor=None, origin=Origin.command("nsml_sync"))
    nsml.set_faults(Faults())
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        nsml_sync("--apply")

    [notice] = [message for message in mail.outbox if member.email in message.to]
    assert "someone other than you" in notice.body


def test_the_email_for_a_members_submission_the_reconciler_settles_names_the_member(
    member, nsml, submit_unanswered, django_capture_on_commit_callbacks
):
    """Found with a slow NSML: the key-added email of a pending key the reconciler settled read "Added by:
    the portal / From: no address (a server command)", under "If you did not do this..."."""
    member.email = "alice@example.com"
    member.save()
    submit_unanswered(member, reached=True)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        nsml_sync("--apply")

    [notice] = [message for message in mail.outbox if member.email in message.to]
    assert f"Added by: {member.username}" in notice.body
    assert "From: 10.0.0.7" in notice.body


# A revocation the reconciler confirms is recorded as the requester's.


def revocation_rows(key: RegisteredKey) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(registered_key=key, action="revoke", outcome="success"))


def test_a_pass_that_confirms_a_members_revocation_before_their_request_returns_records_it_once_as_theirs(
    member, nsml, register, django_capture_on_commit_callbacks
):
    """Found revoking a key against a slow NSML: a pass listed NSML while the member's DELETE was still under
    way, found the key gone and settled it; the audit showed only the reconciler, and the member's email read
    "Revoked by: the portal ... This was done by someone other than you". In the order it happened, one step
    at a time: the member's request moves the key and NSML deletes it, a pass runs, then the request's own
    confirmation comes back."""
    member.email = "alice@example.com"
    member.save()
    key = register(member)
    # The member's request, as far as its DELETE: the key moves to revoking in their name, and NSML deletes it.
    assert states.move(key, to=Status.REVOKING, expected=(Status.ACTIVE,), **states.asked_to_revoke(member, ORIGIN))
    nsml.remove_key(key.title, key.nsml_name)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        status, out = nsml_sync("--apply")
    # NSML's 200 reaches the member's request, which confirms by a list of its own.
    with django_capture_on_commit_callbacks(execute=True):
        confirm_revocation(
            key, actor=member, origin=ORIGIN, reply=Reply(status=200), client=nsml_client(), deleted=True
        )

    assert "revocations confirmed: laptop (alice)" in out
    assert key.status == Status.REVOKED  # what the member's page is told
    [row] = revocation_rows(key)
    assert (row.actor, row.actor_username, row.subject) == (member, "alice", member)
    assert (row.reason, row.user_agent, row.client_ip) == ("confirmed_absent", "manage.py nsml_sync", None)
    assert row.detail == "confirmed by a reconcile pass: NSML no longer lists the key; asked from 10.0.0.7"
    [notice] = mail.outbox
    assert "Revoked by: alice" in notice.body
    assert "From: 10.0.0.7" in notice.body
    assert "someone other than you" not in notice.body


def test_a_revocation_a_pass_confirms_before_the_members_own_list_fails_reads_revoked_and_is_recorded_once(
    member, nsml, register
):
    """Found in the browser with NSML answering in 15 s: while the member's revoke waited, a pass confirmed it;
    then the request's own confirming list timed out, and the member's page said "NSML has not confirmed the
    deletion yet" above the status *Revoked*, and the audit added "unconfirmed" after the pass's success."""
    key = register(member)
    # The member's request, as far as its DELETE: the key moves to revoking in their name, and NSML deletes it.
    assert states.move(key, to=Status.REVOKING, expected=(Status.ACTIVE,), **states.asked_to_revoke(member, ORIGIN))
    nsml.remove_key(key.title, key.nsml_name)
    nsml_sync("--apply")
    # NSML's answer to the DELETE never reached the request, and its confirming list fails too.
    nsml.set_faults(Faults(fail_status=503, fail_methods=frozenset({"GET"})))

    confirm_revocation(
        key,
        actor=member,
        origin=ORIGIN,
        reply=Reply(status=None, detail="NSML did not answer within the read timeout"),
        client=nsml_client(),
        deleted=False,
    )

    assert key.status == Status.REVOKED  # what the member's page is told
    rows = AuditEvent.objects.filter(registered_key=key, action="revoke")
    assert [(row.outcome, row.reason) for row in rows] == [("success", "confirmed_absent")]


def test_a_revocation_the_member_left_unconfirmed_is_recorded_as_theirs_when_a_pass_confirms_it(
    member, nsml, left_revoking
):
    key = left_revoking(member)

    nsml_sync("--apply")

    [row] = revocation_rows(key)
    assert (row.actor, row.reason, row.user_agent) == (member, "confirmed_absent", "manage.py nsml_sync")
    assert "confirmed by a reconcile pass" in row.detail


def test_an_offboarding_a_pass_confirms_is_recorded_as_the_admins_with_their_reason(
    member, admin_user, nsml, register, django_capture_on_commit_callbacks, settings
):
    """The notice goes to security's copy alone: the member has left (offboarded), and is not written to."""
    settings.SECURITY_NOTIFY_EMAIL = "security@example.com"
    member.email = "alice@example.com"
    member.save()
    key = register(member)
    nsml.set_faults(Faults(drop=True, fail_methods=frozenset({"DELETE"})))
    offboard(member, actor=admin_user, origin=Origin(ip="10.0.0.8"), reason="left the team")
    nsml.set_faults(Faults())
    key.refresh_from_db()
    assert key.status == Status.REVOKING
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        nsml_sync("--apply")

    [row] = revocation_rows(key)
    assert (row.actor, row.subject, row.user_agent) == (admin_user, member, "manage.py nsml_sync")
    assert row.detail == (
        "confirmed by a reconcile pass: NSML no longer lists the key; asked from 10.0.0.8; reason given: left the team"
    )
    [notice] = mail.outbox
    assert (notice.to, notice.bcc) == (["security@example.com"], [])
    assert f"Revoked by: {admin_user.username}" in notice.body
    assert "From: 10.0.0.8" in notice.body
    assert "someone other than you" in notice.body


def test_an_expiry_a_pass_confirms_is_recorded_as_the_expiry_jobs(
    admin_client, member, nsml, register, django_capture_on_commit_callbacks
):
    """The admin's Check NSML now confirms a revocation the expiry job asked for: the row names the job, not the
    admin's browser, and the member reads that the key expired."""
    member.email = "alice@example.com"
    member.save()
    key = register(member)
    RegisteredKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    nsml.set_faults(Faults(drop=True, fail_methods=frozenset({"DELETE"})))
    nsml_sync("--apply")  # its expiry job revokes the key; NSML's answer is lost
    nsml.set_faults(Faults())
    key.refresh_from_db()
    assert key.status == Status.REVOKING
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:keys_registeredkey_check_nsml"), HTTP_USER_AGENT="Firefox/140")

    [row] = revocation_rows(key)
    assert (row.actor, row.actor_username) == (None, "manage.py nsml_sync")
    assert (row.user_agent, row.client_ip) == ("Firefox/140", "127.0.0.1")  # where the confirming pass ran
    assert row.detail == "confirmed by a reconcile pass: NSML no longer lists the key"
    [notice] = [message for message in mail.outbox if member.email in message.to]
    assert notice.subject == "Your SSH key expired and was revoked"


def test_a_members_revocation_a_pass_confirms_while_nsml_answers_is_recorded_once_as_theirs(tmp_path):
    """As it happens: the live portal, a slow NSML, the member's revoke in a thread, and `nsml_sync --apply`
    run while the member's DELETE waits for NSML's answer."""
    outbox = tmp_path / "mail"  # the emails, one file each (django-environ drops one slash: hence four)
    with portal_database(tmp_path) as database_url, live_simulator() as simulator:
        # NSML_TIMEOUT 20 s: room for two 7 s calls in the member's wait (the DELETE, then its confirming list).
        env = portal_env(
            database_url, NSML_API_URL=simulator.base_url, EMAIL_URL=f"filemail:///{outbox}", NSML_TIMEOUT="20"
        )
        create_members(database_url, ["m00"])
        read_rows(
            database_url,
            "from django.contrib.auth.models import User\n"
            "User.objects.filter(username='m00').update(email='m00@example.com')\nrows = []\n",
        )
        portal = Gunicorn(env, tmp_path / "gunicorn.log", workers=1, threads=4)
        try:
            member = Member(portal.url, "m00")
            member.log_in()
            added = member.post("/keys/new/", {"title": "laptop", "key": public_line(generate_private_key())})
            assert added.status_code == 302, added.text
            key_page = added.headers["Location"]
            # Each NSML call takes 7 s: the pass's list arrives after the member's DELETE was made, and is
            # answered before the member's confirming list, if nsml_sync starts and lists within those 7 s
            # (a busy CI machine took more than 4).
            simulator.set_faults(Faults(latency=7.0))
            answers = []
            request = threading.Thread(target=lambda: answers.append(member.post(f"{key_page}revoke/", {})))
            request.start()
            deadline = time.monotonic() + 10
            while not any(method == "DELETE" for method, _ in simulator.requests_seen):
                assert time.monotonic() < deadline, "the member's DELETE never reached NSML"
                time.sleep(0.02)
            reconciled = manage(database_url, "nsml_sync", "--apply", env=env, check=False)
            request.join(timeout=60)
            simulator.set_faults(Faults())
            page = member.get(key_page).text
        finally:
            portal.stop()
        rows = read_rows(
            database_url,
            "from keys.models import AuditEvent\n"
            "rows = list(AuditEvent.objects.filter(action='revoke')"
            ".values('outcome', 'actor_username', 'reason', 'user_agent', 'detail'))\n",
        )

    assert "revocations confirmed: laptop (m00)" in reconciled.stdout, reconciled.stdout + reconciled.stderr
    assert [answer.status_code for answer in answers] == [302]
    assert "is revoked; NSML no longer accepts it." in page
    [row] = rows
    assert (row["outcome"], row["actor_username"], row["reason"]) == ("success", "m00", "confirmed_absent")
    assert row["user_agent"] == "manage.py nsml_sync"
    assert row["detail"] == "confirmed by a reconcile pass: NSML no longer lists the key; asked from 127.0.0.1"
    [notice] = [text for path in outbox.iterdir() if "was revoked" in (text := path.read_text())]
    assert "Revoked by: m00" in notice
    assert "From: 127.0.0.1" in notice
    assert "someone other than you" not in notice


def test_the_admin_index_shows_a_pass_under_way_as_under_way_not_failed(admin_client, nsml):
    """Found in the admin with a slow NSML: while the reconciler's pass waited for NSML's list (its row not finished
    yet), the index said in bold "Last reconcile pass failed: <time>, ." with no reason."""
    nsml_sync("--apply")
    finished = ReconcilePass.objects.get()
    with locks.reconcile_lock() as acquired:  # the running pass holds the lock
        assert acquired
        running = ReconcilePass.objects.create()

        page = admin_client.get(reverse("admin:index")).content.decode()

    assert "Last reconcile pass failed" not in page
    finished_when = dateformat.format(timezone.localtime(finished.started_at), "Y-m-d H:i:s T")
    running_when = dateformat.format(timezone.localtime(running.started_at), "Y-m-d H:i:s T")
    assert f"Last reconcile pass: {finished_when}, in sync." in page
    assert f"A reconcile pass is under way, since {running_when}." in page


def test_the_admin_index_says_the_first_pass_is_under_way(admin_client):
    with locks.reconcile_lock():
        ReconcilePass.objects.create()

        page = admin_client.get(reverse("admin:index")).content.decode()

    assert "A reconcile pass is under way, since" in page
    assert "No reconcile pass has run yet" not in page
    assert "Last reconcile pass failed" not in page


def test_the_admin_index_says_a_pass_that_never_finished_did_not_finish(admin_client):
    ReconcilePass.objects.create(started_at=timezone.now() - locks.LEASE - timedelta(minutes=1))

    page = admin_client.get(reverse("admin:index")).content.decode()

    assert "Last reconcile pass failed:" in page
    assert "it did not finish." in page
    assert ", ." not in page


def test_the_admin_index_says_a_pass_whose_process_died_did_not_finish_not_that_it_is_under_way(admin_client):
    """Found with two instances under load: a reconciler killed mid-pass (kill -9, out of memory) leaves its row
    unfinished and lets go of the lock, and for the lease's 10 minutes the index said "A reconcile pass is under
    way" while no pass ran at all."""
    nsml_sync("--apply")
    ReconcilePass.objects.create()  # its process died: nobody holds the lock

    page = admin_client.get(reverse("admin:index")).content.decode()

    assert "A reconcile pass is under way" not in page
    assert "Last reconcile pass failed:" in page
    assert "it did not finish." in page


def test_the_korean_admin_index_says_a_pass_is_under_way(admin_client):
    ReconcilePass.objects.create(started_at=timezone.now() - locks.LEASE - timedelta(minutes=1))
    with locks.reconcile_lock():
        ReconcilePass.objects.create()

        page = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert "마지막 동기화 실행 실패:" in page
    assert "완료되지 않음." in page
    assert "동기화 실행이 진행 중입니다(" in page
