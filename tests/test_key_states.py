"""A key's state changes (keys/services/states.py): each one moves the key once, and its audit row is written
with it or not at all. On PostgreSQL both are one statement (keys.audit.record_change); elsewhere one
transaction. These tests run on both (`make test`, and again on PostgreSQL in CI)."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from keys.audit import Origin
from keys.models import AuditEvent, RegisteredKey
from keys.services import states
from nsml.client import Reply
from tests.helpers import generate_private_key, public_line

ORIGIN = Origin(ip="2001:db8::7", user_agent="Firefox/140")


@pytest.fixture
def pending(member):
    from keys.sshkeys import parse_public_key

    key = parse_public_key(public_line(generate_private_key("ed25519"), "me@laptop"))
    return RegisteredKey.objects.create(
        owner=member,
        title="laptop",
        key_type=key.key_type,
        public_key=key.normalized,
        fingerprint_sha256=key.fingerprint_sha256,
        fingerprint_md5=key.fingerprint_md5,
        nsml_name=key.md5_name,
        status=RegisteredKey.Status.PENDING,
    )


REFUSE_AUDIT_ROWS = {
    "sqlite": [
        "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON keys_auditevent "
        "BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit refused by the test'; END $$",
        "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON keys_auditevent "
        "FOR EACH ROW EXECUTE FUNCTION test_refuse_audit()",
    ],
}
ALLOW_AUDIT_ROWS = {
    "sqlite": ["DROP TRIGGER IF EXISTS test_refuse_audit"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS test_refuse_audit ON keys_auditevent",
        "DROP FUNCTION IF EXISTS test_refuse_audit()",
    ],
}


@pytest.mark.django_db
def test_a_key_does_not_change_state_when_its_audit_row_cannot_be_written(pending, member):
    with connection.cursor() as cursor:
        for statement in REFUSE_AUDIT_ROWS[connection.vendor]:
            cursor.execute(statement)
    # SQLite goes on with the test's transaction after a refused statement, so an UPDATE made before the
    # refused INSERT would still show; PostgreSQL ends a transaction at its first error, so there the
    # test's own savepoint keeps it usable (and the state change is one statement anyway).
    around = transaction.atomic if connection.vendor == "postgresql" else nullcontext
    with pytest.raises(DatabaseError, match="audit refused by the test"), around():
        states.activate(pending, actor=member, origin=ORIGIN, reply=None)
    with connection.cursor() as cursor:
        for statement in ALLOW_AUDIT_ROWS[connection.vendor]:
            cursor.execute(statement)

    pending.refresh_from_db()
    assert pending.status == RegisteredKey.Status.PENDING
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REGISTER).exists()


@pytest.mark.django_db
def test_the_audit_row_of_a_state_change_records_who_where_and_what_nsml_answered(pending, member):
    reply = Reply(status=201, trace_id="trace-abc", duration_ms=37)
    before = timezone.now()

    assert states.activate(pending, actor=member, origin=ORIGIN, reply=reply)

    stored = RegisteredKey.objects.get(pk=pending.pk)
    assert stored.status == RegisteredKey.Status.ACTIVE
    assert stored.status_changed_at == pending.status_changed_at >= before
    row = AuditEvent.objects.get(registered_key=pending)
    assert (row.action, row.outcome) == (AuditEvent.Action.REGISTER, AuditEvent.Outcome.SUCCESS)
    assert (row.actor, row.actor_username, row.subject) == (member, member.username, member)
    assert (row.registered_key_id, row.title, row.fingerprint) == (pending.pk, "laptop", pending.fingerprint_sha256)
    assert (row.client_ip, row.user_agent) == ("2001:db8::7", "Firefox/140")  # the request id: test_request_id.py
    assert (row.upstream_status, row.trace_id, row.duration_ms) == (201, "trace-abc", 37)
    assert before <= row.created_at <= timezone.now()


@pytest.mark.django_db
def test_a_change_made_first_elsewhere_is_neither_repeated_nor_audited_again(pending, member):
    assert states.activate(pending, actor=member, origin=ORIGIN, reply=None)
    stale = RegisteredKey.objects.get(pk=pending.pk)
    stale.status = RegisteredKey.Status.PENDING  # as a reconciler pass that read it before would see it

    assert not states.activate(stale, actor=None, origin=Origin.command("nsml_sync"), reply=None)
    assert states.fail(stale, actor=None, origin=ORIGIN, outcome=AuditEvent.Outcome.FAILED, reason="x") is None

    assert RegisteredKey.objects.get(pk=pending.pk).status == RegisteredKey.Status.ACTIVE
    assert AuditEvent.objects.filter(registered_key=pending).count() == 1


@pytest.mark.django_db
def test_a_revocation_keeps_its_note_and_time_on_the_key_and_in_the_audit(pending, member):
    RegisteredKey.objects.filter(pk=pending.pk).update(status=RegisteredKey.Status.REVOKING, revoke_reason="left")
    pending.refresh_from_db()

    assert states.mark_revoked(pending, actor=member, origin=ORIGIN, reason="", note="by the admin", reply=None)

    stored = RegisteredKey.objects.get(pk=pending.pk)
    assert stored.status == RegisteredKey.Status.REVOKED
    assert stored.revoked_note == "by the admin" and stored.revoked_at is not None
    row = AuditEvent.objects.get(registered_key=pending)
    assert (row.action, row.detail) == (AuditEvent.Action.REVOKE, "by the admin; reason given: left")


@pytest.mark.django_db
def test_on_postgresql_a_state_change_and_its_audit_row_take_one_statement(pending, member, django_assert_num_queries):
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement form is PostgreSQL's (a data-modifying WITH); SQLite uses a transaction")

    with django_assert_num_queries(1):
        assert states.activate(pending, actor=member, origin=ORIGIN, reply=None)


@pytest.mark.django_db
def test_a_key_whose_member_was_deactivated_meanwhile_is_not_activated(pending, member):
    type(member).objects.filter(pk=member.pk).update(is_active=False)  # offboarded while NSML answered

    assert not states.activate(pending, actor=member, origin=ORIGIN, reply=None)

    assert RegisteredKey.objects.get(pk=pending.pk).status == RegisteredKey.Status.PENDING
    assert not AuditEvent.objects.filter(registered_key=pending).exists()


@pytest.mark.django_db
def test_a_state_change_stores_its_fields_as_the_orm_would(pending, member):
    # On PostgreSQL the UPDATE is written from a statement kept per shape (states._key_row), not compiled by the
    # ORM: a related row, an address, a time and an empty value land as the ORM's own UPDATE stores them.
    from django.forms.models import model_to_dict

    twin = RegisteredKey.objects.get(pk=pending.pk)
    twin.pk, twin.title, twin.nsml_name, twin.fingerprint_sha256 = None, "twin", "1" * 32, "SHA256:twin"
    twin.save(force_insert=True)
    fields = {
        "next_attempt_at": None,
        "revoke_reason": RegisteredKey.MEMBER_DEACTIVATED,
        **states.asked_to_revoke(member, Origin(ip="2001:db8::9", user_agent="Firefox/140")),
        "revoked_at": timezone.now(),
    }

    event = states.move_audited(
        pending,
        to=RegisteredKey.Status.REVOKING,
        expected=(RegisteredKey.Status.PENDING, RegisteredKey.Status.ACTIVE),
        fields=fields,
        action=AuditEvent.Action.REVOKE,
        outcome=AuditEvent.Outcome.SUCCESS,
        actor=member,
        origin=ORIGIN,
    )
    RegisteredKey.objects.filter(pk=twin.pk).update(
        status=RegisteredKey.Status.REVOKING, status_changed_at=pending.status_changed_at, **fields
    )

    assert event is not None and event.registered_key_id == pending.pk
    own = ("id", "title", "nsml_name", "fingerprint_sha256")
    written, by_orm = (
        {name: value for name, value in model_to_dict(RegisteredKey.objects.get(pk=pk)).items() if name not in own}
        for pk in (pending.pk, twin.pk)
    )
    assert written == by_orm
    assert written["revoke_requested_by"] == member.pk and written["revoke_requested_ip"] == "2001:db8::9"
    assert written["status"] == RegisteredKey.Status.REVOKING
