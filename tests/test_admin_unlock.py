"""Log-in lock-outs in the admin: listed under a clear name, unlocked from the list or the user's page, audited."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
LOCKOUTS = reverse("admin:keys_loginlockout_changelist")


def lock_out(username: str = "alice", ip: str = "10.9.8.7") -> None:
    client = Client()
    statuses = [
        client.post(LOGIN, {"username": username, "password": "wrong-password-42"}, REMOTE_ADDR=ip).status_code
        for _ in range(5)
    ]
    assert statuses[-1] == 429


def can_log_in(username: str = "alice", password: str = "alice-password-1", ip: str = "10.9.8.7") -> bool:
    return Client().post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip).status_code == 302


def test_the_lock_out_list_shows_who_is_locked_out(admin_client, member):
    lock_out()

    response = admin_client.get(LOCKOUTS)

    page = response.content.decode()
    assert "Log-in lock-outs" in page
    assert [(row.username, row.ip_address) for row in response.context["cl"].result_list] == [("alice", "10.9.8.7")]
    assert "Locked out" in page
    assert "Unlock: forget the failed log-ins of the selected names and addresses" in page


def test_unlock_on_the_list_lets_the_user_log_in_again_and_is_audited(admin_client, admin_user, member, event):
    lock_out()
    assert not can_log_in()
    attempt = AccessAttempt.objects.get()

    response = admin_client.post(
        LOCKOUTS, {"action": "unlock_selected", ACTION_CHECKBOX_NAME: [attempt.pk]}, follow=True
    )

    assert [str(message) for message in response.context["messages"]] == ["Unlocked: alice. They can log in again."]
    assert can_log_in()
    audit = event(action="unlock")
    assert (audit.actor, audit.subject, audit.outcome) == (admin_user, member, "success")
    assert audit.detail == "username=alice address=10.9.8.7; 1 failure record(s) removed"


def test_unlocking_a_name_that_is_no_accounts_says_so_as_the_list_does(admin_client):
    """Found in the Korean admin: the list showed "계정이 없는 이름 (0841078bedd5903d)" and the message after Unlock
    said "잠금을 해제했습니다: unknown:0841078bedd5903d.", the stored marker no one is meant to read."""
    lock_out("hunter2-typed-as-a-name")
    attempt = AccessAttempt.objects.get()
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ko"

    response = admin_client.post(
        LOCKOUTS, {"action": "unlock_selected", ACTION_CHECKBOX_NAME: [attempt.pk]}, follow=True
    )

    digest = attempt.username.removeprefix("unknown:")
    [said] = [str(message) for message in response.context["messages"]]
    assert said == f"잠금을 해제했습니다: 계정이 없는 이름 ({digest}). 이제 다시 로그인할 수 있습니다."


def test_unlocking_an_address_frees_the_other_names_it_locked(admin_client, member, other_member):
    for name in ("alice", "bob", "carol", "dave", "erin"):
        Client().post(LOGIN, {"username": name, "password": "wrong"}, REMOTE_ADDR="10.1.1.1")
    assert not can_log_in("bob", "bob-password-1", ip="10.1.1.1")
    alice_row = AccessAttempt.objects.get(username="alice")

    admin_client.post(LOCKOUTS, {"action": "unlock_selected", ACTION_CHECKBOX_NAME: [alice_row.pk]})

    assert can_log_in("bob", "bob-password-1", ip="10.1.1.1")


def test_the_users_page_shows_the_lock_out_and_unlocks_it(admin_client, admin_user, member, event):
    lock_out()
    change = reverse("admin:auth_user_change", args=[member.pk])

    page = admin_client.get(change).content.decode()
    assert "Locked out of log-in after 5 failed attempts." in page
    assert "Unlock log-in" in page

    response = admin_client.post(reverse("admin:auth_user_unlock", args=[member.pk]), follow=True)

    assert response.redirect_chain[-1][0] == change
    assert [str(message) for message in response.context["messages"]] == [
        "Failed log-ins of alice are forgotten: they can log in again."
    ]
    assert can_log_in()
    assert (event(action="unlock").actor, event(action="unlock").subject) == (admin_user, member)
    assert "Unlock log-in" not in admin_client.get(change).content.decode()


def test_the_users_page_has_no_unlock_button_without_failures(admin_client, member):
    page = admin_client.get(reverse("admin:auth_user_change", args=[member.pk])).content.decode()

    assert "Unlock log-in" not in page
    assert "failed log-in" not in page


def test_unlocking_needs_a_post_and_the_change_permission(admin_client, client, django_user_model, member):
    lock_out()
    unlock = reverse("admin:auth_user_unlock", args=[member.pk])
    assert admin_client.get(unlock).status_code == 405

    viewer = django_user_model.objects.create_user(username="sam", password="sam-password-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(viewer)

    assert client.post(unlock).status_code == 403
    assert AccessAttempt.objects.filter(username="alice").exists()


@pytest.mark.parametrize("user_id", ["abc", "1.5", "99999999999999999999", "424242"])
def test_unlocking_a_user_id_that_names_nobody_is_not_found(admin_client, member, user_id):
    """Found with curl: POST /admin/auth/user/abc/unlock/ was a 500 (Django's "Field 'id' expected a number")."""
    lock_out()

    response = admin_client.post(f"/admin/auth/user/{user_id}/unlock/")

    assert response.status_code == 404
    assert AccessAttempt.objects.filter(username="alice").exists()


def test_staff_who_may_only_view_users_see_the_lock_out_without_an_unlock_button(client, django_user_model, member):
    """Found as a view-only staff user: a locked-out user's page offered *Unlock log-in*, which was a 403."""
    lock_out()
    viewer = django_user_model.objects.create_user(username="sam", password="sam-password-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(viewer)

    page = client.get(reverse("admin:auth_user_change", args=[member.pk])).content.decode()

    assert "Locked out of log-in after 5 failed attempts." in page
    assert "Unlock log-in" not in page


def test_the_lock_out_pages_are_korean_in_the_korean_admin(admin_client, member):
    """Found in the Korean admin: django-axes ships no Korean, so the columns and the row's page read
    USERNAME, IP ADDRESS, FAILED LOGINS, ATTEMPT TIME."""
    lock_out()
    admin_client.cookies["django_language"] = "ko"

    listing = admin_client.get(LOCKOUTS).content.decode()
    row = AccessAttempt.objects.get()
    detail = admin_client.get(reverse("admin:keys_loginlockout_change", args=[row.pk])).content.decode()

    for english in ("Username", "IP Address", "Failed Logins", "Attempt Time", "User Agent"):
        assert f">{english}<" not in listing and f">{english}:<" not in detail
    assert "로그인 실패 횟수" in listing and "시도 시각" in listing


def test_django_axes_model_names_are_korean_in_the_permission_lists(admin_client, member):
    admin_client.cookies["django_language"] = "ko"

    page = admin_client.get(reverse("admin:auth_user_change", args=[member.pk])).content.decode()

    # The model's name in the reader's language; a permission's own name ("Can add ...") is stored text,
    # English for every app, Django's included.
    assert "| 접근 시도 |" in page
    assert "| access attempt |" not in page


def test_each_lock_out_is_labelled_in_the_admins_language_and_time(admin_client, member, settings):
    """Found walking the admin in Korean: each row's checkbox was labelled with django-axes' own words,
    "Attempted Access: 2026-11-29 12:37:57.701006+00:00", English and in UTC, read out by a screen reader."""
    settings.TIME_ZONE = "Asia/Seoul"
    lock_out()
    attempt = AccessAttempt.objects.get()
    local = timezone.localtime(attempt.attempt_time).strftime("%Y-%m-%d %H:%M:%S")

    page = admin_client.get(LOCKOUTS, HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert f'aria-label="작업에 대한 객체를 선택합니다. - {local} KST alice 10.9.8.7"' in page
    assert "Attempted Access" not in page


def test_unlocking_many_names_at_once_names_a_page_of_them(admin_client):
    """A guessing run leaves a lock-out per name it tried: "Select all" and Unlock named every one of them in the
    message (thousands at once). It names the first 200 and counts the rest; all are unlocked."""
    AccessAttempt.objects.bulk_create(
        AccessAttempt(
            username=f"guess{number:03d}",
            ip_address="10.9.8.7",
            user_agent="curl",
            http_accept="*/*",
            path_info="/accounts/login/",
            attempt_time=timezone.now(),
            get_data="",
            post_data="",
            failures_since_start=5,
        )
        for number in range(250)
    )
    selection = {
        "action": "unlock_selected",
        "select_across": "1",
        "index": "0",
        ACTION_CHECKBOX_NAME: [AccessAttempt.objects.first().pk],
    }

    response = admin_client.post(LOCKOUTS, selection, follow=True)

    [message] = [str(message) for message in response.context["messages"]]
    assert message.count("guess") == 200
    assert message.endswith(" and 50 more. They can log in again.")
    assert not AccessAttempt.objects.exists()
