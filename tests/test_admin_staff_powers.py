"""Staff who may change users manage members, not other staff: they cannot take over a superuser's account
or make themselves one."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse

pytestmark = pytest.mark.django_db

USERS = reverse("admin:auth_user_changelist")


@pytest.fixture
def user_manager(django_user_model):
    """Staff with Django's change and view permissions on users, and no other power."""
    manager = django_user_model.objects.create_user(username="sam", password="sam-password-1", is_staff=True)
    manager.user_permissions.set(Permission.objects.filter(codename__in=["change_user", "view_user", "delete_user"]))
    return manager


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="root-password-1")


def test_staff_who_change_users_cannot_set_a_superusers_password(client, user_manager, superuser):
    client.force_login(user_manager)
    url = reverse("admin:auth_user_password_change", args=[superuser.pk])

    assert client.get(url).status_code == 403
    response = client.post(url, {"usable_password": "true", "password1": "taken-over-9", "password2": "taken-over-9"})

    assert response.status_code == 403
    client.logout()
    assert not client.login(username="root", password="taken-over-9")
    assert client.login(username="root", password="root-password-1")


def test_a_superusers_page_is_read_only_for_them(client, user_manager, superuser):
    client.force_login(user_manager)

    page = client.get(reverse("admin:auth_user_change", args=[superuser.pk])).content.decode()

    assert 'name="is_active"' not in page
    assert 'name="is_staff"' not in page


def test_staff_who_change_users_cannot_make_themselves_superuser(client, user_manager):
    client.force_login(user_manager)
    url = reverse("admin:auth_user_change", args=[user_manager.pk])
    assert 'name="is_superuser"' not in client.get(url).content.decode()

    client.post(
        url,
        {
            "username": "sam",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "user_permissions": [permission.pk for permission in Permission.objects.all()],
        },
    )

    user_manager.refresh_from_db()
    assert not user_manager.is_superuser
    assert user_manager.user_permissions.count() == 3


def test_they_still_manage_members(client, user_manager, member):
    client.force_login(user_manager)
    url = reverse("admin:auth_user_password_change", args=[member.pk])

    response = client.post(url, {"usable_password": "true", "password1": "new-alice-9x", "password2": "new-alice-9x"})

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.check_password("new-alice-9x")


def test_they_cannot_offboard_a_superuser(client, user_manager, superuser):
    client.force_login(user_manager)

    response = client.post(
        USERS,
        {"action": "offboard_selected", ACTION_CHECKBOX_NAME: [superuser.pk], "post": "yes", "reason": "x"},
        follow=True,
    )

    assert [str(message) for message in response.context["messages"]] == [
        "Only a superuser may offboard, revoke the keys of, or delete a staff account (root)."
    ]
    superuser.refresh_from_db()
    assert superuser.is_active


def test_a_superuser_still_sets_another_staff_members_password(admin_client, user_manager):
    url = reverse("admin:auth_user_password_change", args=[user_manager.pk])

    response = admin_client.post(
        url, {"usable_password": "true", "password1": "sam-new-pw-9", "password2": "sam-new-pw-9"}
    )

    assert response.status_code == 302
    user_manager.refresh_from_db()
    assert user_manager.check_password("sam-new-pw-9")


def test_the_refusal_is_in_korean_on_a_korean_admin(client, user_manager, superuser):
    client.force_login(user_manager)

    response = client.post(
        USERS,
        {"action": "revoke_all_keys", ACTION_CHECKBOX_NAME: [superuser.pk]},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="ko",
    )

    assert [str(message) for message in response.context["messages"]] == [
        "스태프 계정은 최고 관리자만 오프보딩하거나, 키를 폐기하거나, 삭제할 수 있습니다 (root)."
    ]


def test_staff_who_change_groups_cannot_give_their_group_more_permissions(client, django_user_model):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="key-admins")
    group.permissions.set(Permission.objects.filter(codename__in=["change_group", "view_group"]))
    sam = django_user_model.objects.create_user(username="sam", password="sam-password-1", is_staff=True)
    sam.groups.add(group)
    client.force_login(sam)
    url = reverse("admin:auth_group_change", args=[group.pk])
    assert 'name="permissions"' not in client.get(url).content.decode()

    client.post(url, {"name": "key-admins", "permissions": [p.pk for p in Permission.objects.all()]})

    assert group.permissions.count() == 2
    sam = django_user_model.objects.get(pk=sam.pk)
    assert not sam.has_perm("auth.change_user")
