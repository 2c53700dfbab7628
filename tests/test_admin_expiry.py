"""The admin's Set expiry action (a confirmation page first, then one audit row per key) and the expiry filters."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from keys.models import AuditEvent, RegisteredKey
from keys.services.lifetimes import local_today

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:keys_registeredkey_changelist")


def day(offset: int) -> str:
    return (local_today() + dt.timedelta(days=offset)).isoformat()


def legacy(key: RegisteredKey) -> RegisteredKey:
    """A key from before lifetimes existed: no expiry."""
    RegisteredKey.objects.filter(pk=key.pk).update(expires_at=None)
    key.refresh_from_db()
    return key


def test_the_action_asks_first_and_changes_nothing(admin_client, member, nsml, register):
    key = legacy(register(member, "old-laptop"))

    response = admin_client.post(CHANGELIST, {"action": "set_expiry", "_selected_action": [key.pk]})

    page = response.content.decode()
    assert response.status_code == 200
    assert "Set expiry" in page and "old-laptop" in page and "never" in page
    assert f'name="_selected_action" value="{key.pk}"' in page
    key.refresh_from_db()
    assert key.expires_at is None
    assert not AuditEvent.objects.filter(action="set_expiry").exists()


def test_an_admin_sets_expiry_past_the_default_and_it_is_audited(admin_client, member, nsml, register, event):
    first = legacy(register(member, "old-laptop"))
    second = register(member, "desktop")

    response = admin_client.post(
        CHANGELIST,
        {"action": "set_expiry", "_selected_action": [first.pk, second.pk], "expires_at": day(500), "apply": "1"},
        follow=True,
    )

    assert "Expiry set on 2 keys." in response.content.decode()
    for key in (first, second):
        key.refresh_from_db()
        local = key.expires_at.astimezone(ZoneInfo("Asia/Seoul"))
        assert (local.date().isoformat(), local.hour, local.minute) == (day(500), 23, 59)
    row = event(action="set_expiry", registered_key=first)
    assert (row.actor.username, row.subject, row.detail) == ("admin", member, f"expiry never -> {day(500)}")


def test_a_past_date_is_refused_on_the_confirmation_page(admin_client, member, nsml, register):
    key = register(member, "laptop")
    before = key.expires_at

    response = admin_client.post(
        CHANGELIST, {"action": "set_expiry", "_selected_action": [key.pk], "expires_at": day(-1), "apply": "1"}
    )

    assert response.status_code == 200
    assert f"Choose an expiry date from {day(0)} on" in response.content.decode()
    key.refresh_from_db()
    assert key.expires_at == before


def test_the_last_day_of_9999_west_of_greenwich_is_refused_on_the_confirmation_page(
    admin_client, member, nsml, register, settings
):
    settings.TIME_ZONE = "America/Los_Angeles"
    key = register(member, "laptop")
    before = key.expires_at

    response = admin_client.post(
        CHANGELIST, {"action": "set_expiry", "_selected_action": [key.pk], "expires_at": "9999-12-31", "apply": "1"}
    )

    assert response.status_code == 200
    assert "to 9999-12-30." in response.content.decode()
    key.refresh_from_db()
    assert key.expires_at == before


def test_a_staff_user_without_change_permission_has_no_such_action(client, django_user_model, member, nsml, register):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user(username="viewer", password="viewer-password-1", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_registeredkey"))
    client.force_login(staff)
    key = register(member, "laptop")

    page = client.get(CHANGELIST).content.decode()
    client.post(CHANGELIST, {"action": "set_expiry", "_selected_action": [key.pk], "expires_at": day(1), "apply": "1"})

    assert 'value="set_expiry"' not in page
    key.refresh_from_db()
    assert key.expires_at.astimezone(ZoneInfo("Asia/Seoul")).date().isoformat() == day(90)


@pytest.mark.parametrize(("choice", "expected"), [("7d", ["soon"]), ("expired", ["past"])])
def test_the_list_filters_by_expiry(admin_client, member, nsml, register, choice, expected):
    for title, delta in (("soon", timedelta(days=3)), ("past", timedelta(days=-1)), ("later", timedelta(days=30))):
        key = register(member, title)
        RegisteredKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() + delta)

    response = admin_client.get(CHANGELIST, {"expiry": choice})

    titles = [key.title for key in response.context["cl"].result_list]
    assert titles == expected


def test_keys_that_already_expire_that_day_are_named_not_counted_as_nothing(admin_client, member, nsml, register):
    """Found in the browser: setting the day some selected keys already had said "Expiry set on 0 keys." as a
    success, as if the action had done nothing it was asked."""
    first = register(member, "laptop")
    second = register(member, "desktop")
    admin_client.post(
        CHANGELIST, {"action": "set_expiry", "_selected_action": [first.pk], "expires_at": day(30), "apply": "1"}
    )

    response = admin_client.post(
        CHANGELIST,
        {"action": "set_expiry", "_selected_action": [first.pk, second.pk], "expires_at": day(30), "apply": "1"},
        follow=True,
    )

    page = response.content.decode()
    assert "Expiry set on 1 key." in page
    assert "1 key already had this expiry." in page

    response = admin_client.post(
        CHANGELIST,
        {"action": "set_expiry", "_selected_action": [first.pk, second.pk], "expires_at": day(30), "apply": "1"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="ko",
    )

    page = response.content.decode()
    assert "Expiry set on 0 keys." not in page and "키 0개의 만료일을 설정했습니다." not in page
    assert "키 2개는 이미 이 만료일로 설정되어 있었습니다." in page


def test_setting_the_expiry_of_a_large_selection_lists_a_page_of_it_and_sets_them_all(admin_client, member):
    """Found with 100,000 keys: Set expiry on "Select all 8,854 registered keys" listed every one of them, a 518 kB
    page that took 4 s (5 MB at 80,000 keys). It lists the first 200; the expiry is still set on every one."""
    RegisteredKey.objects.bulk_create(
        RegisteredKey(
            owner=member,
            title=f"ci-{n:03d}",
            fingerprint_md5=str(n),
            nsml_name=str(n),
            status=RegisteredKey.Status.ACTIVE,
        )
        for n in range(230)
    )
    search = f"{CHANGELIST}?q=ci-"
    first = RegisteredKey.objects.order_by("pk").first().pk
    selection = {"action": "set_expiry", "select_across": "1", "index": "0", "_selected_action": [first]}

    confirmation = admin_client.post(search, selection).content.decode()
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ko"
    korean = admin_client.post(search, selection).content.decode()

    assert confirmation.count("<tr><td>ci-") == 200 and "… and 30 more keys." in confirmation
    assert "… 외 키 30개." in korean
    response = admin_client.post(search, {**selection, "expires_at": day(30), "apply": "1"}, follow=True)
    assert response.status_code == 200
    assert not RegisteredKey.objects.filter(expires_at__isnull=True).exists()
