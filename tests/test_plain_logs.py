"""The plain log format (the default): each line's time carries its UTC offset."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.live_portal import manage, portal_env

PLAIN_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ([+-]\d{4}) WARNING keys a line from the portal$")


@pytest.mark.parametrize(("zone", "offset"), [("Asia/Seoul", "+0900"), ("UTC", "+0000")])
def test_a_plain_line_says_which_zone_its_time_is_in(tmp_path: Path, zone, offset):
    """Found reading a plain gunicorn log: the master's lines were in UTC (with +0000), the workers' in the
    portal's zone (Django sets it as the process's zone) with no offset, so the same moment read nine hours
    apart and nothing said which was which."""
    database_url = f"sqlite:///{tmp_path / 'unused.sqlite3'}"
    script = "import logging; logging.getLogger('keys').warning('a line from the portal')"
    env = portal_env(database_url, LOG_FORMAT="plain", TIME_ZONE=zone)

    result = manage(database_url, "shell", "-v", "0", "-c", script, env=env)

    [line] = [line for line in result.stdout.splitlines() if "a line from the portal" in line]
    match = PLAIN_LINE.match(line)
    assert match is not None, line
    assert match[2] == offset
