"""The audit table is append-only in the database itself, and the admin exports it as streamed CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction
from django.http import StreamingHttpResponse
from django.test import RequestFactory
from django.urls import reverse

from keys.admin import AuditEventAdmin
from keys.admin_export import export_audit_csv, safe_cell
from keys.audit import Origin, record_event
from keys.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def audit_row(member):
    return record_event(
        action="register", outcome="refused", actor=member, subject=member, origin=Origin(ip="10.1.2.3"), reason="x"
    )


def refused(sql: str, params: list) -> str:
    """Run one statement that must fail; the savepoint keeps the test's transaction usable."""
    with pytest.raises(DatabaseError) as refusal, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(refusal.value)


def test_the_triggers_are_installed():
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'keys_auditevent'")
        else:
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'keys_auditevent'::regclass AND NOT tgisinternal"
            )
        names = sorted(row[0] for row in cursor.fetchall())

    expected = {
        "sqlite": ["keys_auditevent_no_delete", "keys_auditevent_no_replace", "keys_auditevent_no_update"],
        "postgresql": ["keys_auditevent_append_only"],
    }
    assert names == expected[connection.vendor]


def test_raw_sql_cannot_update_an_audit_row(audit_row):
    message = refused("UPDATE keys_auditevent SET reason = %s WHERE id = %s", ["edited", audit_row.pk])

    assert "append-only" in message
    audit_row.refresh_from_db()
    assert audit_row.reason == "x"


def test_raw_sql_cannot_delete_an_audit_row(audit_row):
    message = refused("DELETE FROM keys_auditevent WHERE id = %s", [audit_row.pk])

    assert "append-only" in message
    assert AuditEvent.objects.filter(pk=audit_row.pk).exists()


def test_raw_sql_cannot_delete_the_whole_table(audit_row):
    refused("DELETE FROM keys_auditevent", [])

    assert AuditEvent.objects.exclude(action="user_create").count() == 1


# Every column a replacing row needs (NOT NULL, no database default), with the replacement's values.
REPLACEMENT = {
    "created_at": "2026-01-01 00:00:00",
    "actor_username": "mallory",
    "action": "login",
    "outcome": "success",
    "title": "",
    "fingerprint": "",
    "reason": "replaced",
    "detail": "",
    "user_agent": "",
    "upstream_error_code": "",
    "trace_id": "",
    "request_id": "",
}


def replacing(audit_row, statement: str, suffix: str = "") -> str:
    """Insert a row with `audit_row`'s id by `statement` (INSERT OR REPLACE INTO...), which must fail."""
    columns = ["id", *REPLACEMENT]
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"{statement} keys_auditevent ({', '.join(columns)}) VALUES ({placeholders}) {suffix}"
    return refused(sql, [audit_row.pk, *REPLACEMENT.values()])


@pytest.mark.parametrize("statement", ["INSERT OR REPLACE INTO", "REPLACE INTO"])
def test_sqlite_cannot_replace_an_audit_row(audit_row, statement):
    if connection.vendor != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite's")

    message = replacing(audit_row, statement)

    assert "append-only" in message
    audit_row.refresh_from_db()
    assert (audit_row.reason, audit_row.actor_username, audit_row.action) == ("x", "alice", "register")


def test_postgresql_cannot_upsert_over_an_audit_row(audit_row):
    if connection.vendor != "postgresql":
        pytest.skip("ON CONFLICT DO UPDATE is PostgreSQL's form of a replace")

    # The DO UPDATE half is an UPDATE, so 0003's trigger refuses it.
    message = replacing(
        audit_row,
        "INSERT INTO",
        "ON CONFLICT (id) DO UPDATE SET reason = EXCLUDED.reason, actor_username = EXCLUDED.actor_username",
    )

    assert "append-only" in message
    audit_row.refresh_from_db()
    assert (audit_row.reason, audit_row.actor_username) == ("x", "alice")


def test_the_orm_cannot_change_or_delete_either(audit_row):
    audit_row.reason = "edited"
    with pytest.raises(DatabaseError), transaction.atomic():
        audit_row.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.update(reason="edited")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().delete()

    assert AuditEvent.objects.exclude(action="user_create").get().reason == "x"


def test_new_rows_are_still_appended(audit_row, member):
    record_event(action="login", outcome="success", actor=member, origin=Origin(ip="10.1.2.4"))

    assert AuditEvent.objects.exclude(action="user_create").count() == 2


# CSV export


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def admin_request(admin_user):
    request = RequestFactory().get("/admin/keys/auditevent/")
    request.user = admin_user
    return request


def test_the_export_action_streams_csv(admin_request, audit_row, member):
    record_event(
        action="login_failed",
        outcome="failed",
        actor_username='=HYPERLINK("http://evil")',
        origin=Origin(ip="10.9.9.9", user_agent="@SUM(1+1)"),
        reason="bad_credentials",
        detail="-2+3",
    )
    model_admin = AuditEventAdmin(AuditEvent, admin.site)

    response = export_audit_csv(
        model_admin, admin_request, AuditEvent.objects.exclude(action="user_create").order_by("id")
    )

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    header, first, second = rows_of(response)
    assert header[:6] == ["id", "time", "actor", "subject", "action", "outcome"]
    row = dict(zip(header, first, strict=True))
    assert (row["actor"], row["subject"], row["action"], row["client_ip"]) == ("alice", "alice", "register", "10.1.2.3")
    row = dict(zip(header, second, strict=True))
    assert row["actor"] == '\'=HYPERLINK("http://evil")'
    assert row["user_agent"] == "'@SUM(1+1)"
    assert row["detail"] == "'-2+3"
    assert row["subject"] == "" and row["nsml_status"] == ""


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        # A tab or CR is written as an escape, which no spreadsheet reads as a formula.
        ("\tx", "\\tx"),
        ("\r=1", "\\r=1"),
        ("=\u202e1", "'=\\u202e1"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (401, "401"),
        (None, ""),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_quoted(value, cell):
    assert safe_cell(value) == cell


def test_the_export_reads_rows_in_chunks_not_all_at_once(admin_request, member, django_assert_max_num_queries):
    for n in range(5):
        record_event(action="login", outcome="success", actor=member, origin=Origin(ip=f"10.0.0.{n}"))
    response = export_audit_csv(None, admin_request, AuditEvent.objects.exclude(action="user_create"))

    # Nothing is read until the response is consumed: the view returns before the query runs.
    with django_assert_max_num_queries(2):
        assert len(rows_of(response)) == 6


def test_the_action_exports_every_filtered_event_from_the_changelist(admin_client, audit_row, member):
    record_event(action="login", outcome="success", actor=member, origin=Origin(ip="10.0.0.1"))
    record_event(action="login", outcome="success", actor=member, origin=Origin(ip="10.0.0.2"))
    changelist = reverse("admin:keys_auditevent_changelist")

    page = admin_client.get(changelist, {"action__exact": "login"})
    response = admin_client.post(
        f"{changelist}?action__exact=login",
        {"action": "export_audit_csv", "select_across": "1", "index": "0", "_selected_action": [audit_row.pk]},
    )

    assert "export_audit_csv" in page.content.decode()
    assert response.streaming
    header, *rows = rows_of(response)
    assert sorted(dict(zip(header, row, strict=True))["client_ip"] for row in rows) == ["10.0.0.1", "10.0.0.2"]


def test_the_export_link_streams_the_filtered_list(admin_client, audit_row, member):
    record_event(action="login", outcome="success", actor=member, origin=Origin(ip="10.0.0.1"))

    response = admin_client.get(reverse("admin:keys_auditevent_export"), {"outcome__exact": "refused"})

    assert response.streaming
    header, *rows = rows_of(response)
    assert [dict(zip(header, row, strict=True))["reason"] for row in rows] == ["x"]


def test_the_export_view_keeps_the_changelist_filters(admin_user, audit_row, member):
    record_event(action="login", outcome="success", actor=member, origin=Origin(ip="10.0.0.1"))
    model_admin = AuditEventAdmin(AuditEvent, admin.site)
    request = RequestFactory().get("/admin/keys/auditevent/export.csv", {"action__exact": "login"})
    request.user = admin_user

    response = model_admin.export_csv_view(request)

    header, *rows = rows_of(response)
    assert [dict(zip(header, row, strict=True))["action"] for row in rows] == ["login"]
    assert any(url.name == "keys_auditevent_export" for url in model_admin.get_urls())


def test_the_export_view_refuses_members_without_view_permission(member):
    member.is_staff = True
    member.save()
    request = RequestFactory().get("/admin/keys/auditevent/export.csv")
    request.user = member

    with pytest.raises(PermissionDenied):
        AuditEventAdmin(AuditEvent, admin.site).export_csv_view(request)


def test_the_export_carries_each_row_s_request_id(admin_client):
    """Found exporting the audit list: the admin shows and searches each row's request id, to find the request's log
    lines, but the CSV left it out."""
    export = reverse("admin:keys_auditevent_export")
    admin_client.get(export, {"action__exact": "export"}, HTTP_X_REQUEST_ID="req-export-1")

    response = admin_client.get(export, {"action__exact": "export"}, HTTP_X_REQUEST_ID="req-export-2")

    header, *rows = rows_of(response)
    assert [dict(zip(header, row, strict=True))["request_id"] for row in rows] == ["req-export-1"]
