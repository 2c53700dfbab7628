"""The portal as it runs in production, for tests that need real processes: its own database (a file
on SQLite, a fresh database on the PostgreSQL server the suite uses), gunicorn instances, and
`manage.py` commands run against them.

The suite's own test database cannot serve here: SQLite's is in memory, and gunicorn runs elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from nsml.simulator import NsmlSimulator
from tests.helpers import free_port, on_postgresql

BASE_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "live-portal-password-1"


@contextmanager
def portal_database(tmp_path: Path, *, migrated: bool = True) -> Iterator[str]:
    """A migrated database of its own (with `migrated=False`, an empty one): the DATABASE_URL to give the
    processes."""
    suite_url = os.environ.get("DATABASE_URL", "")
    if on_postgresql():
        import psycopg

        name = f"live_{uuid.uuid4().hex[:12]}"
        parts = urlsplit(suite_url)
        with psycopg.connect(suite_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(parts._replace(path=f"/{name}"))
        try:
            if migrated:
                manage(url, "migrate", "--noinput")
            yield url
        finally:
            with psycopg.connect(suite_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
        if migrated:
            manage(url, "migrate", "--noinput")
        yield url


def live_simulator() -> NsmlSimulator:
    """The NSML simulator for the processes these tests start, with the portal's credentials: `with
    live_simulator() as simulator:` starts it and stops it; NSML_API_URL=simulator.base_url points at it."""
    from django.conf import settings

    return NsmlSimulator(
        access_key=settings.NCP_ACCESS_KEY,
        secret_key=settings.NCP_SECRET_KEY,
        api_key=settings.NSML_API_KEY,
        quiet=True,
    )


def portal_env(database_url: str, **overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "true",
        "EMAIL_URL": "dummymail://",
        "LOG_LEVEL": "WARNING",
        **overrides,
    }
    return env


def manage(database_url: str, *args: str, env: dict[str, str] | None = None, check: bool = True):
    """Run a manage.py command against the portal's database; the CompletedProcess."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env or portal_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def static_root_env(root: Path) -> dict[str, str]:
    """What makes a portal process serve its static files from `root` (tests/static_root_settings.py)."""
    return {"DJANGO_SETTINGS_MODULE": "tests.static_root_settings", "PORTAL_TEST_STATIC_ROOT": str(root)}


def collect_static(root: Path) -> None:
    """`manage.py collectstatic` into `root`, as an operator runs it before starting the portal."""
    unused = f"sqlite:///{root.parent / 'collectstatic-needs-no-database.sqlite3'}"
    manage(unused, "collectstatic", "--noinput", "-v", "0", env=portal_env(unused, **static_root_env(root)))


def create_members(database_url: str, usernames: list[str]) -> None:
    """Members with PASSWORD, hashed once (PBKDF2 is slow on purpose)."""
    script = (
        "import json, sys\n"
        "from django.contrib.auth.hashers import make_password\n"
        "from django.contrib.auth.models import User\n"
        "hashed = make_password(sys.argv[1])\n"
        "User.objects.bulk_create([User(username=name, password=hashed) for name in json.loads(sys.argv[2])])\n"
    )
    subprocess.run(
        [sys.executable, "-c", _django(script), PASSWORD, json.dumps(usernames)],
        cwd=BASE_DIR,
        env=portal_env(database_url),
        check=True,
        timeout=120,
    )


def read_rows(database_url: str, script: str, env: dict[str, str] | None = None) -> list[dict]:
    """Run `script` (which sets `rows`, a JSON-able list) against the portal's database; `env` as for `manage`."""
    result = subprocess.run(
        [sys.executable, "-c", _django(script + "\nprint(json.dumps(rows, default=str))\n")],
        cwd=BASE_DIR,
        env=env or portal_env(database_url),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _django(script: str) -> str:
    return (
        "import json, os, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'portal.settings')\n"
        "django.setup()\n" + script
    )


class Gunicorn:
    """One portal instance under gunicorn (gthread workers), as production runs it."""

    def __init__(
        self, env: dict[str, str], log_path: Path, workers: int = 2, threads: int = 8, host: str = "127.0.0.1"
    ):
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "portal.wsgi",
                "--config",
                "gunicorn.conf.py",
                "--bind",
                f"{host}:{self.port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--worker-class",
                "gthread",
                "--timeout",
                "60",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError("gunicorn did not answer /healthz in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


class Member:
    """A member's browser: one cookie jar, any number of tabs (sessions sharing it)."""

    def __init__(self, base_url: str, username: str):
        self.base_url = base_url
        self.username = username
        self.session = self._new_session()

    @staticmethod
    def _new_session() -> requests.Session:
        # A new connection per request: gunicorn closes an idle kept-alive connection after 2 s, and a POST
        # sent on it at that moment is reset (a browser retries it; requests, rightly, does not retry a POST).
        session = requests.Session()
        session.headers["Connection"] = "close"
        return session

    def log_in(self) -> None:
        self.session.get(f"{self.base_url}/accounts/login/", timeout=30)
        response = self.post("/accounts/login/", {"username": self.username, "password": PASSWORD})
        if response.status_code != 302:
            raise AssertionError(f"log-in of {self.username} answered {response.status_code}")

    def tab(self) -> requests.Session:
        """Another tab of the same browser: the same cookies."""
        tab = self._new_session()
        tab.cookies.update(self.session.cookies)
        return tab

    def post(self, path: str, data: dict, tab: requests.Session | None = None) -> requests.Response:
        session = tab or self.session
        token = session.cookies.get("csrftoken", "")
        return session.post(
            f"{self.base_url}{path}",
            data={**data, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.base_url}{path}"},
            allow_redirects=False,
            timeout=60,
        )

    def get(self, path: str) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}", allow_redirects=False, timeout=60)
