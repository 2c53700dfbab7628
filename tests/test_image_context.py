"""What `docker build .` sends into the image: never the operator's settings. COPY . . takes the whole
directory but for what .dockerignore names, and the README keeps settings in a `.env` beside manage.py or
in `portal.env` for `docker run --env-file`. No daemon is needed: the patterns are read as Docker reads a
top-level name (Go's filepath.Match, which fnmatch follows for these)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def ignored(name: str, ignore_file: str) -> bool:
    patterns = [line.strip() for line in (ROOT / ignore_file).read_text().splitlines()]
    return any(
        fnmatch.fnmatchcase(name, pattern.strip("/")) for pattern in patterns if pattern and not pattern.startswith("#")
    )


@pytest.mark.parametrize("name", [".env", "portal.env"])
def test_the_settings_files_the_readme_names_stay_out_of_the_image_and_the_repository(name):
    """Found reading the Dockerfile beside the README: a `.env` (read by settings.py) or the `portal.env`
    given to `docker run --env-file`, kept in the checkout, was copied into the image with the NCP keys and
    the secret key in it, and the baked `.env` was read at run time for whatever the container left unset."""
    assert ignored(name, ".dockerignore")
    assert ignored(name, ".gitignore")


def test_the_portals_own_files_still_go_in():
    assert not any(ignored(name, ".dockerignore") for name in ("manage.py", "gunicorn.conf.py", "portal", "keys"))


@pytest.mark.parametrize("name", ["db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm"])
def test_the_development_database_stays_out_of_the_image_and_the_repository(name):
    """Found running `make run` as the README's Quick start says, then `git status`: SQLite's write-ahead log
    (`db.sqlite3-wal`, `-shm`, there while the portal runs) was neither ignored by git nor kept out of the
    image, so `docker build .` beside a running `make run` copied the development database's latest writes
    (users, password hashes, sessions) into the image, and SQLite replays a WAL it finds beside a database."""
    assert ignored(name, ".dockerignore")
    assert ignored(name, ".gitignore")


def test_the_image_user_has_a_home_it_owns_for_gunicorns_control_socket():
    """Found reading the Dockerfile beside the README's Several instances (each gunicorn's control socket,
    `~/.gunicorn/gunicorn-<address>.ctl`): `useradd --system` names /home/portal as the home and makes no such
    directory, so gunicorn, run as that user with that HOME, logged `[ERROR] Control server error: [Errno 13]
    Permission denied: '/home/portal'` at every start and `gunicornc` had nothing to talk to."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    home = re.search(r"useradd [^\n]*--home-dir (\S+) portal", dockerfile)

    assert home, "the portal user is given a home"
    made = re.search(r"install -d -o portal ([^\n]*)", dockerfile)
    assert made and home.group(1) in made.group(1).split()
