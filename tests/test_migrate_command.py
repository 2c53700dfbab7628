"""`manage.py migrate`, the first step of every deployment, when the database is not there yet."""

from __future__ import annotations

from tests.helpers import free_port
from tests.live_portal import manage


def test_a_database_it_cannot_reach_is_one_line_and_status_3_not_a_traceback():
    """Found deploying before the database was up: 89 lines of psycopg's traceback, exit status 1."""
    unreachable = f"postgres://portal:db-password-9@127.0.0.1:{free_port()}/portal"
    result = manage(unreachable, "migrate", "--noinput", check=False)

    assert result.returncode == 3  # as nsml_sync's, ensure_admin's and create_api_token's
    assert "The database could not be reached (OperationalError): no migration was applied." in result.stderr
    assert "Traceback" not in result.stderr
    assert "db-password-9" not in result.stderr
