"""How the portal's commands end when they fail, as an operator's log collector reads them: with LOG_FORMAT=json one
JSON line (on stderr, stdout left to what a script captures), plain text otherwise, the exit status unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.live_portal import manage, portal_database, portal_env

pytestmark = pytest.mark.django_db


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]  # raises on a line that is not JSON


def unreachable_database() -> str:
    return f"postgres://portal:db-password-9@127.0.0.1:{free_port()}/portal"


@pytest.mark.parametrize(
    ("args", "consequence"),
    [
        (("migrate", "--noinput"), "no migration was applied."),
        (("ensure_admin",), "no administrator was created."),
        (("create_api_token", "alice", "--name", "ci"), "no token was created."),
    ],
)
def test_a_database_it_cannot_reach_is_one_json_line_with_log_format_json(args, consequence):
    """Found running the deployment's first steps with LOG_FORMAT=json before the database was up: the line saying
    why they stopped was Django's plain "CommandError: ..." among the JSON lines."""
    url = unreachable_database()
    result = manage(url, *args, env=portal_env(url, LOG_FORMAT="json"), check=False)

    assert result.returncode == 3
    assert result.stdout == ""
    [line] = json_lines(result.stderr)
    assert (line["level"], line["logger"]) == ("ERROR", f"keys.commands.{args[0]}")
    assert line["message"].startswith("The database could not be reached (OperationalError): " + consequence)
    assert "db-password-9" not in result.stderr


def test_create_api_token_refusing_bad_input_is_a_json_line_and_no_secret(tmp_path: Path):
    with portal_database(tmp_path) as database_url:
        env = portal_env(database_url, LOG_FORMAT="json")
        unknown = manage(database_url, "create_api_token", "nobody", "--name", "ci", env=env, check=False)
        bad_days = manage(
            database_url, "create_api_token", "nobody", "--name", "ci", "--days", "x", env=env, check=False
        )

    assert (unknown.returncode, unknown.stdout) == (1, "")
    [line] = json_lines(unknown.stderr)
    assert (line["level"], line["logger"], line["message"]) == (
        "ERROR",
        "keys.commands.create_api_token",
        "There is no user 'nobody'.",
    )
    # a usage error: argparse's status, one line naming what was wrong
    assert (bad_days.returncode, bad_days.stdout) == (2, "")
    [line] = json_lines(bad_days.stderr)
    assert line["level"] == "ERROR"
    assert "argument --days: invalid int value: 'x'" in line["message"]


def test_ensure_admin_refusing_a_weak_password_is_a_json_line_without_the_password(tmp_path: Path):
    with portal_database(tmp_path) as database_url:
        env = portal_env(
            database_url, LOG_FORMAT="json", DJANGO_SUPERUSER_USERNAME="root-admin", DJANGO_SUPERUSER_PASSWORD="hunter2"
        )
        result = manage(database_url, "ensure_admin", env=env, check=False)

    assert result.returncode == 1
    [line] = json_lines(result.stderr)
    assert (line["level"], line["logger"]) == ("ERROR", "keys.commands.ensure_admin")
    assert line["message"].startswith("DJANGO_SUPERUSER_PASSWORD is refused by the password rules: ")
    assert "hunter2" not in result.stderr + result.stdout


def test_migrate_refusing_its_arguments_is_a_json_line(tmp_path: Path):
    with portal_database(tmp_path) as database_url:
        env = portal_env(database_url, LOG_FORMAT="json")
        no_migration = manage(database_url, "migrate", "keys", "9999_no_such_migration", env=env, check=False)
        no_app = manage(database_url, "migrate", "no_such_app", "--noinput", env=env, check=False)

    for result, named in ((no_migration, "9999_no_such_migration"), (no_app, "no_such_app")):
        assert result.returncode == 1
        [line] = json_lines(result.stderr)
        assert (line["level"], line["logger"]) == ("ERROR", "keys.commands.migrate")
        assert named in line["message"]


def test_a_migration_that_fails_is_one_json_line_with_its_traceback(tmp_path: Path):
    """An error during a migration (here a table in the way) is Django's traceback, dozens of lines: with
    LOG_FORMAT=json, one line with the traceback in `exception`, status 1 as before."""
    with portal_database(tmp_path, migrated=False) as database_url:
        env = portal_env(database_url, LOG_FORMAT="json")
        script = (
            "from django.db import connection; connection.cursor().execute('CREATE TABLE keys_auditevent (id int)')"
        )
        manage(database_url, "shell", "-c", script, env=env)
        result = manage(database_url, "migrate", "--noinput", "-v", "0", env=env, check=False)

    assert result.returncode == 1
    [line] = json_lines(result.stderr)
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "keys.commands.migrate", "migrate failed")
    assert "Traceback" in line["exception"] and "keys_auditevent" in line["exception"]


def test_plain_logs_keep_djangos_plain_failure_line(tmp_path: Path):
    with portal_database(tmp_path) as database_url:
        env = portal_env(database_url, LOG_FORMAT="plain")
        unknown = manage(database_url, "create_api_token", "nobody", "--name", "ci", env=env, check=False)
        bad_days = manage(
            database_url, "create_api_token", "nobody", "--name", "ci", "--days", "x", env=env, check=False
        )

    assert (unknown.returncode, unknown.stderr) == (1, "CommandError: There is no user 'nobody'.\n")
    assert bad_days.returncode == 2
    assert bad_days.stderr.startswith("usage: manage.py create_api_token")
    assert "error: argument --days: invalid int value: 'x'" in bad_days.stderr
