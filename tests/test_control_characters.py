"""Names and titles with line breaks or bidirectional overrides forge nothing: the log escapes them,
and the admin's audit list, detail and CSV show them escaped."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.urls import reverse

from keys.models import AuditEvent
from portal.logs import escape_unsafe

pytestmark = pytest.mark.django_db

FORGED_LINE = "2026-01-01 00:00:00,000 INFO keys.audit audit action=login outcome=success actor=admin"
FORGING_NAME = f"x\r\n{FORGED_LINE}"
RLO = "\u202e"
# Reads as "laptop-exe.txt" once the override flips the end of it.
BIDI_TITLE = f"laptop-{RLO}txt.exe"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the configured stdout handler writes, with its own filters and formatter (caplog has neither)."""
    # settings.LOGGING's "stdout" handler on the root logger (pytest's own handlers are subclasses).
    handler = next(h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler)
    written = io.StringIO()
    previous = handler.setStream(written)
    try:
        yield written
    finally:
        handler.setStream(previous)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain name", "plain name"),
        ("김민수", "김민수"),
        ("a\r\nb\tc", "a\\r\\nb\\tc"),
        ("\x1b[31mred\x00\x7f\x85", "\\x1b[31mred\\x00\\x7f\\x85"),
        (f"{RLO}\u202a\u2066\u2069\u200e\u200f\u061c", "\\u202e\\u202a\\u2066\\u2069\\u200e\\u200f\\u061c"),
    ],
)
def test_it_escapes_control_and_bidirectional_characters(text, shown):
    assert escape_unsafe(text) == shown


def test_a_forged_log_in_name_writes_one_log_line(client, log_output):
    client.post(reverse("login"), {"username": FORGING_NAME, "password": "wrong-password-1"}, REMOTE_ADDR="10.0.0.9")

    lines = log_output.getvalue().splitlines()
    audit_lines = [line for line in lines if "keys.audit" in line]
    assert len(audit_lines) == 1, lines
    assert "action=login_failed" in audit_lines[0]
    # No account has this name: it is kept as a digest (keys/login_names.py), so nothing of it reaches the line.
    assert "actor=unknown:" in audit_lines[0] and "2026-01-01" not in audit_lines[0]
    assert not any(line.startswith(FORGED_LINE[:23]) and "outcome=success" in line for line in lines)


def test_a_traceback_keeps_its_own_lines(log_output):
    try:
        raise ValueError("bad\ninput")
    except ValueError:
        logging.getLogger("keys").exception("failed for %s", "a\nb")

    output = log_output.getvalue()
    assert "failed for a\\nb\n" in output
    assert "Traceback (most recent call last):\n" in output
    assert "ValueError: bad\ninput" in output


def test_every_configured_handler_escapes():
    handlers = settings.LOGGING["handlers"]

    assert handlers
    for name, handler in handlers.items():
        assert "escape_controls" in handler.get("filters", []), name
    assert settings.LOGGING["filters"]["escape_controls"]["()"] == "portal.logs.EscapeControlCharacters"


@pytest.fixture
def refused_bidi_title(member_client, nsml, new_public_key) -> AuditEvent:
    response = member_client.post(reverse("keys:new"), {"title": BIDI_TITLE, "key": new_public_key()})

    assert response.status_code == 200
    assert "title" in response.context["form"].errors
    assert nsml.requests_seen == []
    return AuditEvent.objects.get(action="register", outcome="refused")


def test_a_refused_bidi_title_is_shown_escaped_in_the_audit_list(refused_bidi_title, admin_client):
    page = admin_client.get(reverse("admin:keys_auditevent_changelist")).content.decode()

    assert refused_bidi_title.title == BIDI_TITLE  # stored as given: the record is evidence
    assert "laptop-\\u202etxt.exe" in page
    assert RLO not in page


def test_a_refused_bidi_title_is_shown_escaped_in_the_audit_detail(refused_bidi_title, admin_client):
    page = admin_client.get(reverse("admin:keys_auditevent_change", args=[refused_bidi_title.pk])).content.decode()

    assert "laptop-\\u202etxt.exe" in page
    assert RLO not in page


def test_a_refused_bidi_title_is_escaped_in_the_csv_export(refused_bidi_title, admin_client):
    response = admin_client.get(reverse("admin:keys_auditevent_export"), {"action__exact": "register"})

    text = b"".join(response.streaming_content).decode()
    header, row = list(csv.reader(io.StringIO(text)))
    assert dict(zip(header, row, strict=True))["title"] == "laptop-\\u202etxt.exe"
    assert RLO not in text


def test_a_single_sign_on_name_with_an_override_is_shown_escaped(admin_client, django_user_model, event):
    from keys.audit import Origin, record_event

    sso_user = django_user_model.objects.create_user(username=f"eve{RLO}nimda")
    record_event(action="login_failed", outcome="refused", actor=sso_user, subject=sso_user, origin=Origin())

    page = admin_client.get(reverse("admin:keys_auditevent_changelist"), {"action__exact": "login_failed"})

    assert "eve\\u202enimda" in page.content.decode()
    assert RLO not in page.content.decode()
