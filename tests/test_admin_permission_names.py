"""Permissions on the user and group pages of the admin are named in the admin's language; the database keeps
Django's English names."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import translation

from keys.admin_permissions import permission_label

pytestmark = pytest.mark.django_db

OPTION = re.compile(r"<option value=\"\d+\"[^>]*>([^<]*)</option>")
READ_ONLY = re.compile(r'<div class="readonly">(.*?)</div>', re.S)


def options(page: str) -> list[str]:
    return OPTION.findall(page)


@pytest.fixture
def auditors() -> Group:
    group = Group.objects.create(name="auditors")
    group.permissions.set(Permission.objects.filter(codename__in=["view_auditevent", "change_registeredkey"]))
    return group


@pytest.fixture
def staff(django_user_model):
    """Staff who may change users and groups, and are no superuser: they see permissions, read-only."""
    sam = django_user_model.objects.create_user(username="sam", password="sam-password-1", is_staff=True)
    sam.user_permissions.set(
        Permission.objects.filter(codename__in=["view_user", "change_user", "view_group", "change_group"])
    )
    return sam


def test_a_groups_permissions_are_offered_in_korean(admin_client, auditors):
    page = admin_client.get(reverse("admin:auth_group_change", args=[auditors.pk]), HTTP_ACCEPT_LANGUAGE="ko")

    offered = options(page.content.decode())
    assert "SSH 키 | 등록된 키 | 등록된 키 추가" in offered
    assert "SSH 키 | 등록된 키 | 등록된 키 변경" in offered
    assert "SSH 키 | 감사 이벤트 | 감사 이벤트 삭제" in offered
    assert "SSH 키 | 감사 이벤트 | 감사 이벤트 보기" in offered
    assert "인증 및 권한 | 사용자 | 사용자 보기" in offered
    assert len(offered) == Permission.objects.count()
    assert not [label for label in offered if "Can " in label]


def test_django_axes_permissions_are_named_in_the_admins_language(admin_client, auditors):
    """Found walking the admin in Korean: django-axes has no verbose_name, so its permissions read
    "Axes | 접근 시도 | 접근 시도 보기", the app's label in English in the middle of the Korean list."""
    korean = options(
        admin_client.get(
            reverse("admin:auth_group_change", args=[auditors.pk]), HTTP_ACCEPT_LANGUAGE="ko"
        ).content.decode()
    )
    english = options(
        admin_client.get(
            reverse("admin:auth_group_change", args=[auditors.pk]), HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
    )

    assert "로그인 시도 | 접근 시도 | 접근 시도 보기" in korean
    assert not [label for label in korean if "Axes" in label]
    assert "Log-in attempts | access attempt | Can view access attempt" in english


def test_a_users_permissions_are_offered_in_korean(admin_client, member):
    page = admin_client.get(reverse("admin:auth_user_change", args=[member.pk]), HTTP_ACCEPT_LANGUAGE="ko")

    offered = options(page.content.decode())
    assert "SSH 키 | 액세스 토큰 | 액세스 토큰 보기" in offered
    assert not [label for label in offered if "Can " in label]


def test_in_english_they_read_as_django_names_them(admin_client, auditors):
    page = admin_client.get(reverse("admin:auth_group_change", args=[auditors.pk]), HTTP_ACCEPT_LANGUAGE="en")

    offered = options(page.content.decode())
    assert "SSH keys | registered key | Can add registered key" in offered
    assert sorted(offered) == sorted(str(permission) for permission in Permission.objects.all())


def test_staff_who_are_no_superuser_read_a_users_permissions_in_korean(client, staff, member):
    member.user_permissions.set(Permission.objects.filter(codename__in=["view_auditevent", "add_registeredkey"]))
    client.force_login(staff)

    page = client.get(reverse("admin:auth_user_change", args=[member.pk]), HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert 'name="user_permissions"' not in page
    assert "SSH 키 | 감사 이벤트 | 감사 이벤트 보기<br>SSH 키 | 등록된 키 | 등록된 키 추가" in READ_ONLY.findall(page)
    assert "Can " not in page


def test_staff_who_may_only_view_read_a_groups_permissions_in_korean(client, django_user_model, auditors):
    viewer = django_user_model.objects.create_user(username="vic", password="vic-password-1", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_group"))
    client.force_login(viewer)

    page = client.get(reverse("admin:auth_group_change", args=[auditors.pk]), HTTP_ACCEPT_LANGUAGE="ko")

    assert READ_ONLY.findall(page.content.decode()) == [
        "auditors",
        "SSH 키 | 감사 이벤트 | 감사 이벤트 보기<br>SSH 키 | 등록된 키 | 등록된 키 변경",
    ]


def test_staff_who_change_groups_still_cannot_give_permissions(client, staff, auditors):
    client.force_login(staff)
    url = reverse("admin:auth_group_change", args=[auditors.pk])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'name="permissions"' not in page
    assert "SSH 키 | 감사 이벤트 | 감사 이벤트 보기" in page

    client.post(url, {"name": "auditors", "permissions": list(Permission.objects.values_list("pk", flat=True))})

    assert auditors.permissions.count() == 2


def test_the_stored_names_stay_djangos(admin_client, auditors):
    admin_client.get(reverse("admin:auth_group_change", args=[auditors.pk]), HTTP_ACCEPT_LANGUAGE="ko")

    assert Permission.objects.get(codename="add_registeredkey").name == "Can add registered key"


def test_a_permission_of_a_model_that_is_gone_keeps_its_stored_name():
    gone = ContentType.objects.create(app_label="retired", model="thing")
    permission = Permission.objects.create(content_type=gone, codename="add_thing", name="Can add thing")

    with translation.override("ko"):
        assert permission_label(permission) == str(permission) == "thing | Can add thing"


def test_the_user_lists_yes_and_no_icons_are_named_in_the_admins_language(admin_client, member):
    """Found walking the admin in Korean: the staff column's icons had the alt text "True" and "False"
    (Django's own), which a screen reader reads out in English on a Korean page."""
    member.is_active = False
    member.save()

    page = admin_client.get(reverse("admin:auth_user_changelist"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert 'alt="True"' not in page and 'alt="False"' not in page
    assert 'alt="예"' in page and 'alt="아니오"' in page
    assert "스태프 권한" in page and "활성" in page  # the columns' names
