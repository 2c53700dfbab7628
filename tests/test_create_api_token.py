"""`manage.py create_api_token USERNAME --name NAME --days N`: a token for provisioning, printed once."""

from __future__ import annotations

import io
import os
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from keys.checks import CENTURY_DAYS
from keys.models import ApiToken
from tests.helpers import free_port, postgresql_only
from tests.live_portal import manage

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_prints_a_token_that_works(client, member, event):
    out, err = run("alice", "--name", "ansible", "--days", "10")

    secret = out.strip()
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.prefix) == (member, "ansible", secret[:14])
    assert "ansible" in err and secret not in err
    assert client.get("/api/v1/keys", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    row = event(action="token_create")
    assert (row.actor, row.user_agent) == (member, "manage.py create_api_token")


def test_the_lifetime_defaults_to_the_longest_allowed(member, settings):
    settings.API_TOKEN_MAX_DAYS = 5
    run("alice", "--name", "ansible")

    token = ApiToken.objects.get()
    assert round((token.expires_at - token.created_at).total_seconds() / 86400) == 5


def test_the_longest_lifetime_the_checks_allow_makes_a_token_that_works(client, member, settings):
    settings.API_TOKEN_MAX_DAYS = CENTURY_DAYS  # keys.E007 refuses more: its end would pass year 9999

    secret = run("alice", "--name", "ansible")[0].strip()

    assert client.get("/api/v1/keys", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("nobody", "--name", "x"), "There is no user 'nobody'"),
        (("alice", "--name", "x", "--days", "91"), "from 1 to 90 days"),
        (("alice", "--name", " "), "Enter a name"),
    ],
)
def test_it_refuses_clearly(member, args, says):
    with pytest.raises(CommandError, match=says):
        run(*args)
    assert ApiToken.objects.count() == 0


def test_a_name_in_use_is_refused_in_the_operators_words(member):
    """It answered the operator "You already have a token with this name", the member's words."""
    run("alice", "--name", "ci")

    with pytest.raises(CommandError) as refused:
        run("alice", "--name", "ci")

    assert str(refused.value) == "alice already has a live token named 'ci'; choose another --name."
    assert ApiToken.objects.count() == 1


def test_it_refuses_a_deactivated_user(member):
    member.is_active = False
    member.save()

    with pytest.raises(CommandError, match="deactivated"):
        run("alice", "--name", "x")


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_stdout_holds_the_secret_alone_for_a_script_to_capture(member, log_format, tmp_path):
    """Found with TOKEN=$(manage.py create_api_token ...): the audit's log line came first, on stdout."""
    import subprocess
    import sys

    from django.conf import settings

    database = tmp_path / "portal.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "LOG_FORMAT": log_format, "LOG_LEVEL": "INFO"}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=settings.BASE_DIR, env=env, check=True, timeout=120)
    subprocess.run(
        [*manage, "shell", "-c", "from django.contrib.auth.models import User; User.objects.create(username='ci')"],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )

    result = subprocess.run(
        [*manage, "create_api_token", "ci", "--name", "deploy"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert result.stdout.startswith("nsmlk_")
    assert "token_create" in result.stderr  # the audit's line, still written, on stderr


@postgresql_only("row locks are PostgreSQL's; SQLite is the development database")
@pytest.mark.django_db(transaction=True)
def test_one_name_created_four_times_at_once_gives_one_token(member):
    """Found running `create_api_token alice --name race-ci` three times at once: two live tokens named
    race-ci. The name was checked before the INSERT with nothing holding it free meanwhile."""
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def create() -> None:
        try:
            start.wait()
            run("alice", "--name", "race-ci")
            outcomes.append("created")
        except CommandError as refused:
            outcomes.append(str(refused))
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes)[0] == "alice already has a live token named 'race-ci'; choose another --name."
    assert outcomes.count("created") == 1
    assert ApiToken.objects.filter(name="race-ci").count() == 1


def test_a_database_it_cannot_reach_is_one_line_not_a_traceback():
    """Found running it beside a stopped PostgreSQL: psycopg's traceback, exit status 1."""
    unreachable = f"postgres://portal:db-password-9@127.0.0.1:{free_port()}/portal"
    result = manage(unreachable, "create_api_token", "alice", "--name", "ci", check=False)

    assert result.returncode == 3  # as nsml_sync's: the database could not be reached
    assert result.stdout == ""  # nothing a provisioning script could take for a secret
    assert "The database could not be reached (OperationalError): no token was created." in result.stderr
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert "db-password-9" not in result.stderr
