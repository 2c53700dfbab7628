"""Retrying a refused log-in cannot grow the append-only audit table: the first refusal of a lock-out
(or of an inactive single sign-on user) is an audit row, the rest are counted in its window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from keys.models import AuditEvent, RefusalWindow
from tests.test_lockout import attempt
from tests.test_sso import as_user, sso  # noqa: F401  (sso is a fixture)

pytestmark = pytest.mark.django_db


def lock_alice(client) -> None:
    for _ in range(5):
        attempt(client)
    assert attempt(client, password="alice-password-1").status_code == 429


def audit_rows() -> int:
    return AuditEvent.objects.count()


def test_fifty_refusals_in_one_lock_out_add_one_audit_row_and_a_count(client, member, admin_client):
    for _ in range(5):
        attempt(client)
    before = audit_rows()

    responses = [attempt(client).status_code for _ in range(50)]

    assert responses == [429] * 50
    assert audit_rows() - before <= 2
    refused = AuditEvent.objects.get(action="login_failed", outcome="refused")
    assert (refused.reason, refused.actor_username) == ("locked_out", "alice")
    assert "counted" in refused.detail
    window = RefusalWindow.objects.get()
    assert (window.first_event, window.count, window.reason, window.username) == (refused, 50, "locked_out", "alice")
    # An admin sees the count beside the row, and in the list of windows.
    detail = admin_client.get(reverse("admin:keys_auditevent_change", args=[refused.pk])).content.decode()
    assert "Refused log-ins in its window" in detail
    assert '<div class="readonly">50</div>' in detail
    listing = admin_client.get(reverse("admin:keys_refusalwindow_changelist")).content.decode()
    assert '<td class="field-count">50</td>' in listing


def test_cycling_names_from_a_locked_address_stays_in_one_window(client, member):
    for name in ("mallory", "trudy", "eve", "oscar", "chuck"):
        attempt(client, username=name)
    before = audit_rows()

    for n in range(30):
        assert attempt(client, username=f"guess-{n}").status_code == 429

    assert audit_rows() - before == 1
    assert RefusalWindow.objects.get().count == 30


def test_cycling_addresses_against_a_locked_name_stays_in_one_window(client, member):
    for n in range(5):
        attempt(client, ip=f"10.0.0.{n + 1}")
    before = audit_rows()

    for n in range(30):
        assert attempt(client, ip=f"10.0.1.{n + 1}").status_code == 429

    assert audit_rows() - before == 1
    assert RefusalWindow.objects.get().count == 30


def test_a_refusal_after_the_window_starts_a_new_one(client, member, settings):
    lock_alice(client)
    RefusalWindow.objects.update(started_at=RefusalWindow.objects.get().started_at - settings.AXES_COOLOFF_TIME)

    attempt(client)

    assert AuditEvent.objects.filter(action="login_failed", outcome="refused").count() == 2
    assert sorted(RefusalWindow.objects.values_list("count", flat=True)) == [1, 1]


@pytest.mark.usefixtures("sso")
def test_an_inactive_single_sign_on_user_adds_one_row_however_often_they_come(client, settings):
    for _ in range(20):
        client.get(reverse("keys:list"), **as_user("carol"))

    refused = AuditEvent.objects.get(action="login_failed")
    assert (refused.reason, refused.actor_username) == ("inactive_sso_user", "carol")
    assert "SSO via X-Forwarded-User" in refused.detail
    window = RefusalWindow.objects.get()
    assert (window.count, window.reason, window.first_event) == (20, "inactive_sso_user", refused)
    assert window.last_at - window.started_at < timedelta(minutes=1)


def test_a_windows_page_is_titled_in_the_admins_language_and_time(client, member, admin_client, settings):
    """Found walking the admin in Korean: a window's page was titled "2026-11-29 12:37:54 locked_out alice x1",
    its reason code in English and its time in UTC where every date beside it is local (KST)."""
    settings.TIME_ZONE = "Asia/Seoul"
    lock_alice(client)
    window = RefusalWindow.objects.get()
    local = timezone.localtime(window.started_at).strftime("%Y-%m-%d %H:%M:%S")

    page = admin_client.get(
        reverse("admin:keys_refusalwindow_change", args=[window.pk]), HTTP_ACCEPT_LANGUAGE="ko"
    ).content.decode()

    title = page.split("<title>")[1].split("</title>")[0]
    assert f"{local} KST alice 로그인 잠김" in title
    assert "locked_out" not in title
