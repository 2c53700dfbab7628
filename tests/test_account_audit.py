"""Security changes to accounts are audited once, with who made them: staff and superuser grants and
removals, activation, passwords, new users, log-outs and audit exports; from a shell, as the portal."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import PBKDF2SHA1PasswordHasher, make_password
from django.urls import reverse

from keys.models import AuditEvent
from tests.test_sso import as_user, sso  # noqa: F401  (sso is a fixture)

pytestmark = pytest.mark.django_db

ACCOUNT_ACTIONS = ["user_create", "privileges", "activation", "password"]


class CheapSHA1Hasher(PBKDF2SHA1PasswordHasher):
    """A hasher the portal no longer prefers, quick enough for a test."""

    iterations = 1


def account_rows(actions=ACCOUNT_ACTIONS, **filters) -> list[tuple]:
    rows = AuditEvent.objects.filter(action__in=actions, **filters).order_by("id")
    return [(row.action, row.reason, row.actor_id, row.subject_id) for row in rows]


def change_user(admin_client, user, *, is_active=True, is_staff=False, is_superuser=False):
    """Post the admin's user change form with these flags (an unticked box is left out, as a browser does)."""
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "09:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "09:00:00",
        "last_login_0": "",
        "last_login_1": "",
    }
    data.update(
        {
            name: "on"
            for name, on in [("is_active", is_active), ("is_staff", is_staff), ("is_superuser", is_superuser)]
            if on
        }
    )
    response = admin_client.post(reverse("admin:auth_user_change", args=[user.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    return response


def test_an_admin_granting_staff_is_audited_once(admin_client, admin_user, member, event):
    change_user(admin_client, member, is_staff=True)

    assert account_rows(subject=member) == [
        ("user_create", "created", None, member.pk),
        ("privileges", "staff_granted", admin_user.pk, member.pk),
    ]
    row = event(action="privileges")
    assert row.detail == "is_staff: False → True"
    assert row.client_ip == "127.0.0.1"


def test_an_admin_granting_and_removing_superuser_is_audited(admin_client, admin_user, member):
    change_user(admin_client, member, is_staff=True, is_superuser=True)
    change_user(admin_client, member)

    assert account_rows(subject=member, action="privileges") == [
        ("privileges", "staff_granted", admin_user.pk, member.pk),
        ("privileges", "superuser_granted", admin_user.pk, member.pk),
        ("privileges", "staff_removed", admin_user.pk, member.pk),
        ("privileges", "superuser_removed", admin_user.pk, member.pk),
    ]


def test_an_admin_deactivating_and_activating_a_user_is_audited(admin_client, admin_user, member):
    change_user(admin_client, member, is_active=False)
    member.refresh_from_db()
    assert not member.is_active  # and the offboarding receiver still ran (tests/test_offboarding.py)
    change_user(admin_client, member, is_active=True)

    assert account_rows(subject=member, action="activation") == [
        ("activation", "deactivated", admin_user.pk, member.pk),
        ("activation", "activated", admin_user.pk, member.pk),
    ]


def test_an_admin_changing_a_password_is_audited(admin_client, admin_user, member):
    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[member.pk]),
        {"password1": "a-new-long-password-7", "password2": "a-new-long-password-7", "usable_password": "true"},
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.check_password("a-new-long-password-7")
    assert account_rows(subject=member, action="password") == [("password", "password_set", admin_user.pk, member.pk)]
    assert "a-new-long-password-7" not in str(AuditEvent.objects.values_list())


def test_an_admin_creating_a_user_is_audited(admin_client, admin_user, django_user_model):
    response = admin_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "carol",
            "password1": "carols-long-password-3",
            "password2": "carols-long-password-3",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302
    carol = django_user_model.objects.get(username="carol")
    assert account_rows(subject=carol) == [("user_create", "created", admin_user.pk, carol.pk)]


def test_changes_from_a_shell_are_audited_with_the_portal_as_actor(member, event):
    member.is_staff = True
    member.is_superuser = True
    member.save()
    member.set_password("shell-password-9")
    member.save()
    member.is_active = False
    member.save(update_fields=["is_active"])

    assert account_rows(subject=member) == [
        ("user_create", "created", None, member.pk),
        ("privileges", "staff_granted", None, member.pk),
        ("privileges", "superuser_granted", None, member.pk),
        ("password", "password_set", None, member.pk),
        ("activation", "deactivated", None, member.pk),
    ]
    row = event(action="activation")
    assert row.actor_username == "manage.py pytest"
    assert (row.client_ip, row.user_agent) == (None, "manage.py pytest")


def test_a_superuser_made_in_a_shell_is_audited_with_its_privileges(django_user_model, event):
    root = django_user_model.objects.create_superuser("root", password="root-password-5")

    row = event(action="user_create")
    assert (row.subject, row.actor) == (root, None)
    assert row.detail == "active=True staff=True superuser=True password=set"


def test_saving_other_fields_writes_no_row(member):
    member.first_name = "Alice"
    member.save()
    member.save(update_fields=["last_login"])

    assert account_rows(subject=member) == [("user_create", "created", None, member.pk)]


def test_a_password_rehash_at_log_in_is_not_a_password_change(client, member, settings, django_user_model):
    # A hash from a hasher the portal no longer prefers: the next log-in re-hashes the same password.
    settings.PASSWORD_HASHERS = [*settings.PASSWORD_HASHERS, "tests.test_account_audit.CheapSHA1Hasher"]
    django_user_model.objects.filter(pk=member.pk).update(
        password=make_password("alice-password-1", hasher="pbkdf2_sha1")
    )

    client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})

    member.refresh_from_db()
    assert member.password.startswith("md5$")
    assert account_rows(subject=member, action="password") == []


def test_removing_a_password_is_audited(member, event):
    member.set_unusable_password()
    member.save()

    assert (event(action="password").reason, event(action="password").subject) == ("password_unusable", member)


def test_logging_out_is_audited(client, member, event):
    client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"}, REMOTE_ADDR="10.3.3.3")

    client.post(reverse("logout"), REMOTE_ADDR="10.3.3.4")

    row = event(action="logout")
    assert (row.outcome, row.actor, row.subject, row.reason, row.client_ip) == (
        "success",
        member,
        member,
        "password",
        "10.3.3.4",
    )


def test_logging_out_when_not_logged_in_writes_nothing(client):
    client.post(reverse("logout"))

    assert not AuditEvent.objects.filter(action="logout").exists()


@pytest.mark.usefixtures("sso")
def test_a_single_sign_on_user_created_from_the_header_is_audited(client):
    client.get(reverse("keys:list"), REMOTE_ADDR="10.4.4.4", HTTP_USER_AGENT="browser/1", **as_user("carol"))

    created = AuditEvent.objects.get(action="user_create")
    assert (created.subject.username, created.actor, created.actor_username) == ("carol", None, "portal")
    assert (created.client_ip, created.user_agent) == ("10.4.4.4", "browser/1")
    # Created, then made inactive with an unusable password by the backend: both are on record.
    assert account_rows(["activation", "password"]) == [
        ("activation", "deactivated", None, created.subject_id),
        ("password", "password_unusable", None, created.subject_id),
    ]


def test_each_audit_export_is_audited_once_with_its_count_and_filters(admin_client, admin_user, member, event):
    url = reverse("admin:keys_auditevent_export")

    response = admin_client.get(url, {"action__exact": "user_create"})
    exported = b"".join(response.streaming_content).decode().splitlines()

    row = event(action="export")
    assert AuditEvent.objects.filter(action="export").count() == 1
    assert (row.actor, row.outcome, row.reason) == (admin_user, "success", "csv")
    assert row.detail == "2 rows; export link; filters: action__exact=user_create"
    assert len(exported) == 1 + 2  # the header, admin and alice; not the export's own row


def test_the_export_action_is_audited_too(admin_client, admin_user, member, event):
    changelist = reverse("admin:keys_auditevent_changelist")
    first = AuditEvent.objects.order_by("id").first()

    response = admin_client.post(changelist, {"action": "export_audit_csv", "_selected_action": [first.pk]})

    assert response.streaming
    assert event(action="export").detail == "1 rows; admin action, selected rows; filters: none"
