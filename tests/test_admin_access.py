"""Only staff reach the admin, and the admin's log-in is under the same lock-out as the portal's."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from keys.models import AuditEvent

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = reverse("admin:login")
ADMIN_PAGES = [
    reverse("admin:index"),
    reverse("admin:keys_auditevent_changelist"),
    reverse("admin:keys_registeredkey_changelist"),
    reverse("admin:auth_user_changelist"),
]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="sam", password="sam-password-1", is_staff=True)


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_anonymous_visitors_are_sent_to_the_admin_log_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN_LOGIN)


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_members_without_staff_status_are_sent_to_the_admin_log_in(member_client, url):
    response = member_client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN_LOGIN)


def test_a_member_cannot_log_in_to_the_admin_with_a_correct_password(client, member):
    response = client.post(ADMIN_LOGIN, {"username": "alice", "password": "alice-password-1"})

    assert response.status_code == 200
    assert "staff account" in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302


def test_staff_without_permissions_get_403_on_the_models(client, staff):
    client.force_login(staff)

    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:keys_auditevent_changelist")).status_code == 403
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403


def test_staff_with_the_view_permission_read_the_audit_log(client, staff):
    staff.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(staff)

    assert client.get(reverse("admin:keys_auditevent_changelist")).status_code == 200


@pytest.mark.parametrize("model", ["registeredkey", "unmanagedkey"])
def test_staff_who_may_only_view_keys_get_no_check_nsml_button(client, admin_client, staff, model):
    """Found as a view-only staff user: the key lists offered *Check NSML now*, and pressing it was a 403."""
    staff.user_permissions.add(Permission.objects.get(codename=f"view_{model}"))
    client.force_login(staff)
    changelist = reverse(f"admin:keys_{model}_changelist")

    page = client.get(changelist).content.decode()

    assert "Check NSML now" not in page
    assert client.post(reverse(f"admin:keys_{model}_check_nsml")).status_code == 403
    assert "Check NSML now" in admin_client.get(changelist).content.decode()


@pytest.mark.parametrize(("language", "button"), [("en", "Reset password"), ("ko", "비밀번호 초기화")])
def test_staff_who_may_only_view_users_get_no_reset_password_button(
    client, admin_client, staff, member, language, button
):
    """Found as a view-only staff user: a user's page offered *Reset password*, and following it was a 403."""
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(staff)
    change = reverse("admin:auth_user_change", args=[member.pk])

    page = client.get(change, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert button not in page
    assert 'href="../password/"' not in page
    assert "md5" in page  # the password's summary (its algorithm) is still shown
    assert client.get(reverse("admin:auth_user_password_change", args=[member.pk])).status_code == 403
    assert button in admin_client.get(change, HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_staff_who_change_users_get_no_reset_password_button_on_a_superusers_page(client, django_user_model):
    """They may change members, not a superuser: on a superuser's (read-only) page the button was a 403 too."""
    manager = django_user_model.objects.create_user(username="sam", password="sam-password-1", is_staff=True)
    manager.user_permissions.set(Permission.objects.filter(codename__in=["change_user", "view_user"]))
    root = django_user_model.objects.create_superuser(username="root", password="root-password-1")
    member = django_user_model.objects.create_user(username="alice", password="alice-password-1")
    client.force_login(manager)

    assert "Reset password" not in client.get(reverse("admin:auth_user_change", args=[root.pk])).content.decode()
    assert "Reset password" in client.get(reverse("admin:auth_user_change", args=[member.pk])).content.decode()


def test_staff_log_in_to_the_admin(client, staff, event):
    response = client.post(ADMIN_LOGIN, {"username": "sam", "password": "sam-password-1", "next": "/admin/"})

    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    assert event().action == "login"


def test_failed_admin_log_ins_lock_the_admin_log_in_too(client, staff):
    statuses = [client.post(ADMIN_LOGIN, {"username": "sam", "password": f"guess-{n}"}).status_code for n in range(6)]

    assert statuses == [200, 200, 200, 200, 429, 429]
    response = client.post(ADMIN_LOGIN, {"username": "sam", "password": "sam-password-1"})
    assert response.status_code == 429
    assert "Log-in paused" in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302
    assert AuditEvent.objects.filter(action="lockout", actor_username="sam").count() == 1


def test_failures_at_the_admin_lock_the_portal_log_in(client, staff):
    for n in range(5):
        client.post(ADMIN_LOGIN, {"username": "sam", "password": f"guess-{n}"})

    response = client.post(reverse("login"), {"username": "sam", "password": "sam-password-1"})

    assert response.status_code == 429
