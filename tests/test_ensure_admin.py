from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tests.helpers import free_port
from tests.live_portal import manage, portal_database, portal_env
from tests.test_headers import PRODUCTION

pytestmark = pytest.mark.django_db


def run(monkeypatch, **env) -> str:
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


def test_it_creates_an_admin_with_a_generated_password_printed_once(monkeypatch, client):
    first = run(monkeypatch)
    password = first.split("password: ")[1].split()[0]

    assert client.login(username="admin", password=password)
    second = run(monkeypatch)
    assert password not in second
    assert "Log in as admin" in second
    assert get_user_model().objects.count() == 1


def test_it_creates_the_admin_named_in_the_environment(monkeypatch, client):
    out = run(monkeypatch, DJANGO_SUPERUSER_USERNAME="root-admin", DJANGO_SUPERUSER_PASSWORD="s3cret-pass-word")

    assert "s3cret-pass-word" not in out
    assert client.login(username="root-admin", password="s3cret-pass-word")
    assert get_user_model().objects.get().is_superuser


def test_it_says_how_to_log_in_as_the_named_admin_that_exists(monkeypatch, client):
    env = {"DJANGO_SUPERUSER_USERNAME": "root-admin", "DJANGO_SUPERUSER_PASSWORD": "s3cret-pass-word"}
    run(monkeypatch, **env)

    assert "Log in as root-admin with the password in DJANGO_SUPERUSER_PASSWORD." in run(monkeypatch, **env)


def test_it_refuses_to_call_a_member_named_in_the_environment_an_admin(monkeypatch, member):
    """Found running it: DJANGO_SUPERUSER_USERNAME naming an existing member (not staff, another password)
    printed "Log in as alice with the password in DJANGO_SUPERUSER_PASSWORD", which worked for neither."""
    with pytest.raises(CommandError, match="alice, who is not an active administrator"):
        run(monkeypatch, DJANGO_SUPERUSER_USERNAME="alice", DJANGO_SUPERUSER_PASSWORD="s3cret-pass-word")

    member.refresh_from_db()
    assert not member.is_staff


def test_it_says_when_the_admins_password_is_not_the_one_in_the_environment(monkeypatch, client):
    run(monkeypatch, DJANGO_SUPERUSER_USERNAME="root-admin", DJANGO_SUPERUSER_PASSWORD="s3cret-pass-word")

    out = run(monkeypatch, DJANGO_SUPERUSER_USERNAME="root-admin", DJANGO_SUPERUSER_PASSWORD="another-pass-word")

    assert "which is not the one in DJANGO_SUPERUSER_PASSWORD" in out
    assert "changepassword root-admin" in out
    assert "another-pass-word" not in out
    assert client.login(username="root-admin", password="s3cret-pass-word")


@pytest.mark.parametrize("username", ["x" * 151, "has space", "semi;colon"])
def test_a_user_name_no_account_can_have_is_a_clear_error(monkeypatch, username):
    """Found running it: a 200-character DJANGO_SUPERUSER_USERNAME ended in PostgreSQL's DataError traceback."""
    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_USERNAME is not a valid user name"):
        run(monkeypatch, DJANGO_SUPERUSER_USERNAME=username, DJANGO_SUPERUSER_PASSWORD="s3cret-pass-word")

    assert not get_user_model().objects.exists()


def test_a_user_name_no_account_can_have_is_refused_without_a_password_too(monkeypatch):
    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_USERNAME is not a valid user name"):
        run(monkeypatch, DJANGO_SUPERUSER_USERNAME="x" * 151)

    assert not get_user_model().objects.exists()


def test_a_database_it_cannot_reach_is_one_line_not_a_traceback():
    """Found running it before the database was up: psycopg's traceback, exit status 1."""
    unreachable = f"postgres://portal:db-password-9@127.0.0.1:{free_port()}/portal"
    result = manage(unreachable, "ensure_admin", check=False)

    assert result.returncode == 3  # as nsml_sync's: the database could not be reached
    assert "The database could not be reached (OperationalError): no administrator was created." in result.stderr
    assert "Traceback" not in result.stderr
    assert "db-password-9" not in result.stderr


@pytest.mark.parametrize("password", ["x", "hunter2", "root-admin-1"])
def test_a_password_the_rules_refuse_creates_no_one_and_is_not_shown(password, tmp_path: Path):
    """Found running it: DJANGO_SUPERUSER_PASSWORD=x with DJANGO_DEBUG=false made an administrator "x" guards."""
    with portal_database(tmp_path) as database_url:
        env = portal_env(
            database_url,
            **PRODUCTION,
            DJANGO_SUPERUSER_USERNAME="root-admin",
            DJANGO_SUPERUSER_PASSWORD=password,
        )
        result = manage(database_url, "ensure_admin", env=env, check=False)
        listed = manage(
            database_url,
            "shell",
            "-c",
            "from django.contrib.auth.models import User; print(User.objects.count())",
            env=env,
        )

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: DJANGO_SUPERUSER_PASSWORD is refused by the password rules: ")
    assert "No administrator was created" in lines[0]
    assert f" {password}" not in result.stderr + result.stdout
    assert listed.stdout.strip().splitlines()[-1] == "0"


def test_the_rules_name_what_is_wrong(monkeypatch):
    with pytest.raises(CommandError) as refused:
        run(monkeypatch, DJANGO_SUPERUSER_USERNAME="root-admin", DJANGO_SUPERUSER_PASSWORD="x")

    assert "This password is too short. It must contain at least 8 characters." in str(refused.value)
    assert not get_user_model().objects.exists()


def test_it_creates_no_second_admin_and_says_so(monkeypatch, client):
    """Found running it: with an administrator there, DJANGO_SUPERUSER_USERNAME=bob made bob a second one,
    though the command and the README promise only the first."""
    first = run(monkeypatch)
    password = first.split("password: ")[1].split()[0]

    out = run(monkeypatch, DJANGO_SUPERUSER_USERNAME="bob", DJANGO_SUPERUSER_PASSWORD="s3cret-pass-word")

    assert list(get_user_model().objects.values_list("username", flat=True)) == ["admin"]
    assert "Not creating bob (DJANGO_SUPERUSER_USERNAME): administrators exist already" in out
    assert "python manage.py createsuperuser --username bob" in out
    assert "Log in as admin" in out  # what `make run` prints before it serves the portal
    assert "s3cret-pass-word" not in out
    assert client.login(username="admin", password=password)


def test_a_member_named_without_a_password_is_refused_not_a_crash(monkeypatch, member):
    with pytest.raises(CommandError, match="alice, who is not an active administrator"):
        run(monkeypatch, DJANGO_SUPERUSER_USERNAME="alice")

    assert not get_user_model().objects.filter(is_superuser=True).exists()


def test_a_password_without_a_user_name_is_the_admins_not_ignored(monkeypatch, client):
    out = run(monkeypatch, DJANGO_SUPERUSER_PASSWORD="s3cret-pass-word")

    assert "s3cret-pass-word" not in out
    assert client.login(username="admin", password="s3cret-pass-word")
    again = run(monkeypatch, DJANGO_SUPERUSER_PASSWORD="s3cret-pass-word")
    assert "Log in as admin with the password in DJANGO_SUPERUSER_PASSWORD" in again
    assert get_user_model().objects.count() == 1


def test_a_later_run_does_not_say_a_password_was_printed_that_never_was(monkeypatch):
    """Found following the README: an administrator made from DJANGO_SUPERUSER_USERNAME and _PASSWORD was
    later named with "the password was printed when the account was created", which it never was; and with
    DJANGO_SUPERUSER_PASSWORD alone, the refusal to make 'admin' blamed DJANGO_SUPERUSER_USERNAME, never set."""
    run(monkeypatch, DJANGO_SUPERUSER_USERNAME="carol", DJANGO_SUPERUSER_PASSWORD="s3cret-pass-word")

    later = run(monkeypatch)
    password_alone = run(monkeypatch, DJANGO_SUPERUSER_PASSWORD="s3cret-pass-word")

    assert "Log in as carol with the password it was given when it was created" in later
    assert "printed" not in later
    assert "Not creating admin (DJANGO_SUPERUSER_PASSWORD without DJANGO_SUPERUSER_USERNAME)" in password_alone
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["carol"]
