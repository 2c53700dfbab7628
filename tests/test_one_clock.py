"""One clock: every date and time the portal shows — member pages, the admin, emails, the CSV — is in
TIME_ZONE with seconds and the zone (2026-11-28 15:56:52 KST), in English and in Korean."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from keys.audit import Origin
from keys.models import ApiToken, AuditEvent
from keys.notifications import notify_key_added

pytestmark = pytest.mark.django_db

# 06:56:52 UTC is 15:56:52 in Seoul.
MOMENT = datetime(2026, 11, 28, 6, 56, 52, tzinfo=UTC)
LOCAL = "2026-11-28 15:56:52 KST"


@pytest.fixture
def key_added_at_moment(member, register):
    key = register(member, "laptop")
    type(key).objects.filter(pk=key.pk).update(created_at=MOMENT)
    return key


@pytest.mark.parametrize("language", ["en", "ko"])
def test_my_keys_shows_local_time_with_seconds_and_zone(member_client, key_added_at_moment, language):
    member_client.cookies["django_language"] = language

    list_page = member_client.get(reverse("keys:list")).content.decode()
    detail_page = member_client.get(reverse("keys:detail", args=[key_added_at_moment.pk])).content.decode()

    assert LOCAL in list_page
    assert LOCAL in detail_page


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_access_tokens_page_uses_the_same_local_time(member_client, member, token_for, language):
    """Found in a browser pass: the tokens page wrote 2026-11-28 15:56 with no seconds and no zone, where the
    key pages beside it say 2026-11-28 15:56:52 KST."""
    member_client.cookies["django_language"] = language
    token_for(member, name="deploy")
    ApiToken.objects.update(created_at=MOMENT, last_used_at=MOMENT, expires_at=MOMENT)

    page = member_client.get(reverse("tokens")).content.decode()

    assert page.count(LOCAL) == 3  # created, last used, expires
    assert "2026-11-28 15:56<" not in page


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_new_tokens_expiry_names_the_zone(member_client, language):
    member_client.cookies["django_language"] = language

    page = member_client.post(reverse("tokens"), {"name": "deploy", "days": "30"}).content.decode()

    expires = timezone.localtime(ApiToken.objects.get().expires_at).strftime("%Y-%m-%d %H:%M:%S KST")
    assert expires in page
    assert page.count(" KST") == 3  # the notice above, then the table's created and expires


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_admin_audit_list_and_heading_use_the_same_local_time(admin_client, language):
    admin_client.cookies["django_language"] = language
    event = AuditEvent.objects.create(action="login", outcome="success", actor_username="alice", created_at=MOMENT)

    listing = admin_client.get(reverse("admin:keys_auditevent_changelist")).content.decode()
    detail = admin_client.get(reverse("admin:keys_auditevent_change", args=[event.pk])).content.decode()

    assert LOCAL in listing
    assert f"{LOCAL} alice " in detail  # the heading (then the action and outcome): no UTC above a local time
    assert "06:56:52" not in detail


def test_the_csv_export_uses_the_same_local_time(admin_client):
    AuditEvent.objects.create(action="login", outcome="success", actor_username="alice", created_at=MOMENT)

    response = admin_client.get(reverse("admin:keys_auditevent_changelist") + "export.csv")

    assert LOCAL in b"".join(response.streaming_content).decode()


def test_emails_use_the_same_local_time(member, nsml, register, django_capture_on_commit_callbacks):
    member.email = "alice@example.com"
    member.save()

    with django_capture_on_commit_callbacks(execute=True):
        key = register(member, "laptop")
    type(key).objects.filter(pk=key.pk).update(created_at=MOMENT)
    key.refresh_from_db()

    mail.outbox.clear()
    notify_key_added(key, actor=member, origin=Origin(ip="10.0.0.7"))

    assert LOCAL in mail.outbox[0].body
