"""keys.inserts writes a new row as Model.save() would: the same columns, prepared the same way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.forms.models import model_to_dict

from keys import inserts
from keys.audit import Origin
from keys.models import AuditEvent, RegisteredKey

pytestmark = pytest.mark.django_db


def key_fields(member, title: str) -> dict:
    return {
        "owner": member,
        "title": title,
        "key_type": "ssh-ed25519",
        "bits": 256,
        "public_key": f"ssh-ed25519 AAAA{title}",
        "comment": "alice@laptop",
        "fingerprint_sha256": f"SHA256:{title}",
        "fingerprint_md5": title,
        "nsml_name": title,
        "status": RegisteredKey.Status.PENDING,
        "expires_at": datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC),
        "status_changed_at": datetime(2026, 11, 30, 1, 2, 3, tzinfo=UTC),
        "created_at": datetime(2026, 11, 30, 1, 2, 3, tzinfo=UTC),
        "submitted_ip": "2001:db8::1",
        "submitted_agent": "curl/8",
    }


def stored(model, pk) -> dict:
    row = model_to_dict(model.objects.get(pk=pk))
    row.pop("id")
    return row


def test_a_key_inserted_is_stored_as_save_would_store_it(member):
    saved = RegisteredKey.objects.create(**key_fields(member, "saved"))
    inserted = RegisteredKey(**key_fields(member, "inserted"))

    inserts.insert(inserted)

    assert inserted.pk is not None and inserted.pk != saved.pk
    assert inserted._state.adding is False and inserted._state.db == "default"
    saved_row, inserted_row = stored(RegisteredKey, saved.pk), stored(RegisteredKey, inserted.pk)
    assert inserted_row["title"] == "inserted" and inserted_row["nsml_name"] == "inserted"
    unique = ("title", "public_key", "fingerprint_sha256", "fingerprint_md5", "nsml_name")  # the two keys' own
    assert {name: value for name, value in inserted_row.items() if name not in unique} == {
        name: value for name, value in saved_row.items() if name not in unique
    }


def test_an_audit_row_inserted_is_stored_as_save_would_store_it(member):
    fields = {
        "action": AuditEvent.Action.REGISTER,
        "outcome": AuditEvent.Outcome.SUCCESS,
        "actor": member,
        "actor_username": member.username,
        "subject": member,
        "client_ip": Origin(ip="192.0.2.7", user_agent="x").ip,
        "user_agent": "Mozilla/5.0",
        "title": "laptop",
        "reason": "",
        "detail": "a detail",
    }
    saved = AuditEvent(**fields)
    saved.save(force_insert=True)
    inserted = AuditEvent(**fields)

    inserts.insert(inserted)

    saved_row, inserted_row = stored(AuditEvent, saved.pk), stored(AuditEvent, inserted.pk)
    saved_row.pop("created_at"), inserted_row.pop("created_at")  # each row's own moment
    assert inserted_row == saved_row
