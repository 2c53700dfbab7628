"""/readyz: ready when the database answers, the shared cache keeps what it is given and a reconcile pass
succeeded lately; otherwise 503, naming each part that failed. /healthz stays the liveness check."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from keys.models import ReconcilePass
from tests.helpers import PRODUCTION_REQUIRED, free_port, postgresql_only
from tests.live_portal import BASE_DIR, Gunicorn, collect_static, portal_database, portal_env, static_root_env

pytestmark = pytest.mark.django_db


def passed(minutes_ago: float, *, succeeded: bool = True) -> ReconcilePass:
    finished = timezone.now() - timedelta(minutes=minutes_ago)
    return ReconcilePass.objects.create(
        started_at=finished - timedelta(seconds=1), finished_at=finished, succeeded=succeeded
    )


def test_it_is_ready_with_a_recent_pass(client, settings):
    settings.READYZ_MAX_RECONCILE_AGE_SECONDS = 600
    passed(minutes_ago=2)

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "failed": [],
        "checks": {"database": "ok", "cache": "ok", "reconcile": "ok", "static": "ok"},
    }
    assert "no-cache" in response["Cache-Control"]


def test_it_fails_when_the_last_successful_pass_is_too_old(client, settings):
    settings.READYZ_MAX_RECONCILE_AGE_SECONDS = 600
    passed(minutes_ago=15)
    passed(minutes_ago=1, succeeded=False)  # a failed pass since does not count

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["reconcile"]
    assert body["checks"]["reconcile"].startswith("reconcile: last successful pass 9")


def installed(minutes_ago: float) -> None:
    applied = timezone.now() - timedelta(minutes=minutes_ago)
    MigrationRecorder.Migration.objects.filter(app="keys").update(applied=applied)


def test_a_fresh_install_is_ready_before_its_first_pass(client, settings):
    settings.READYZ_MAX_RECONCILE_AGE_SECONDS = 600
    installed(minutes_ago=2)

    assert client.get("/readyz").status_code == 200


def test_an_install_older_than_the_limit_without_any_pass_is_not_ready(client, settings):
    settings.READYZ_MAX_RECONCILE_AGE_SECONDS = 600
    installed(minutes_ago=11)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["reconcile"]
    assert "no successful pass yet" in response.json()["checks"]["reconcile"]


def test_zero_turns_the_reconcile_check_off(client, settings):
    settings.READYZ_MAX_RECONCILE_AGE_SECONDS = 0
    passed(minutes_ago=60 * 24)

    assert client.get("/readyz").status_code == 200


def test_it_fails_when_the_cache_is_unreachable(client, settings):
    passed(minutes_ago=1)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["cache"]
    assert response.json()["checks"]["cache"] == "cache: ConnectionError"


def test_the_log_says_why_a_part_failed_where_the_answer_names_only_its_kind(client, settings, caplog):
    """Found by stopping Redis under gunicorn with JSON logs: the log said only "cache: ConnectionError", and the
    operator had to guess which address the portal tried and what it was told. The public answer stays short: a
    probe's address is often reachable from outside, and the host and port are the portal's own business."""
    passed(minutes_ago=1)
    port = free_port()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://portal:cache-password-1234@127.0.0.1:{port}/0",
        }
    }

    with caplog.at_level("WARNING"):
        response = client.get("/readyz")

    assert response.json()["checks"]["cache"] == "cache: ConnectionError"
    assert f"127.0.0.1:{port}" not in response.content.decode()
    [line] = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert line.startswith("readyz: not ready: cache: ConnectionError (")
    assert f"127.0.0.1:{port}" in line and "refused" in line.lower()
    assert "\n" not in line and "cache-password-1234" not in line


def test_the_logged_cause_has_no_password_from_an_address():
    from keys.readiness import what_it_said

    said = what_it_said(OSError("cannot reach redis://portal:s3cret-pw@cache.internal:6379/0\n\ttry again"))

    assert said == "cannot reach redis://portal:********@cache.internal:6379/0 try again"


def readyz_in_a_portal_process(database_url: str) -> tuple[int, dict]:
    """/readyz's status and body in a new portal process on `database_url` (the tests' settings left out)."""
    script = (
        "import django, json, os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'portal.settings')\n"
        "django.setup()\n"
        "from django.test import Client\n"
        "response = Client().get('/readyz')\n"
        "print(json.dumps([response.status_code, response.json()]))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": database_url,
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "LOG_LEVEL": "CRITICAL",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    status, body = json.loads(result.stdout.strip().splitlines()[-1])
    return status, body


def test_it_fails_when_the_database_is_unreachable():
    # A portal process whose PostgreSQL is not there (nothing listens on the port).
    status, body = readyz_in_a_portal_process(f"postgres://portal@127.0.0.1:{free_port()}/portal?connect_timeout=2")

    assert status == 503
    assert "database" in body["failed"]
    assert body["checks"]["database"] == "database: OperationalError"
    assert "cache" not in body["failed"]


@postgresql_only("a read-only database is PostgreSQL's (a standby)")
def test_it_fails_when_the_database_is_read_only(tmp_path):
    """Found by pointing the portal at a read-only PostgreSQL: /readyz said the database was fine while every
    log-in and submission failed, so a load balancer kept sending members to it."""
    import psycopg

    with portal_database(tmp_path) as url:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(url, autocommit=True) as database:  # outside the test's transaction: the process sees it
            database.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')

        status, body = readyz_in_a_portal_process(url)

    assert status == 503
    assert body["checks"]["database"] == "database: read-only (a standby?); DATABASE_URL must name the primary"
    assert not body["checks"]["reconcile"].startswith("reconcile: not checked")  # it answers reads


def test_a_database_that_does_not_answer_holds_it_for_one_connect_timeout_not_two():
    """Found by making PostgreSQL hang (a port that accepts connections and says nothing) under gunicorn:
    /readyz took 10 s, the database check's 5 s connect timeout and then the reconcile check's, again."""
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel's backlog), never answers
    script = (
        "import django, json, os, time\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'portal.settings')\n"
        "django.setup()\n"
        "from django.test import Client\n"
        "started = time.monotonic()\n"
        "response = Client().get('/readyz')\n"
        "print(json.dumps([response.status_code, response.json(), time.monotonic() - started]))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"postgres://portal@127.0.0.1:{silent.getsockname()[1]}/portal?connect_timeout=2",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "LOG_LEVEL": "CRITICAL",
    }
    with silent:
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
        )

    status, body, seconds = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == 503
    assert body["failed"] == ["database", "reconcile"]
    assert body["checks"]["reconcile"] == "reconcile: not checked, the database did not answer"
    assert 2 <= seconds < 3.5


def test_healthz_stays_the_liveness_check(client, settings):
    settings.READYZ_MAX_RECONCILE_AGE_SECONDS = 600
    passed(minutes_ago=20)  # not ready

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503


def test_a_failing_readyz_says_in_the_log_which_part_failed(client, settings, caplog):
    """Found by watching the JSON logs while the reconciler was stopped: each probe logged only Django's
    "Service Unavailable: /readyz", so the log said the instance was not ready but never why."""
    passed(minutes_ago=30)
    settings.READYZ_MAX_RECONCILE_AGE_SECONDS = 600

    with caplog.at_level("WARNING"):
        response = client.get("/readyz")

    assert response.status_code == 503
    said = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert any("readyz" in line and "reconcile: last successful pass" in line for line in said), said
    # Once: not also Django's ERROR "Service Unavailable: /readyz" at every probe.
    assert [record.getMessage() for record in caplog.records if record.levelname == "ERROR"] == []


@pytest.mark.django_db(transaction=True)
def test_a_database_not_migrated_for_this_code_is_not_ready(client, settings):
    """Found in QA: on a database without the portal's tables (or before `migrate` of a new release) the
    database check passed, its SELECT 1 answered, while every page was a 500."""
    settings.READYZ_MAX_RECONCILE_AGE_SECONDS = 0
    assert client.get("/readyz").status_code == 200
    latest = MigrationRecorder.Migration.objects.filter(app="keys").order_by("-id").first()
    latest.delete()  # as if this release's migration had not run yet
    try:
        response = client.get("/readyz")
        body = response.json()
        assert response.status_code == 503 and body["failed"] == ["database"]
        assert body["checks"]["database"] == (
            f"database: migrations not applied (keys.{latest.name}); run manage.py migrate"
        )
    finally:
        MigrationRecorder.Migration.objects.create(app=latest.app, name=latest.name, applied=latest.applied)
    assert client.get("/readyz").status_code == 200


def test_an_empty_database_is_not_ready(tmp_path):
    status, body = readyz_in_a_portal_process(f"sqlite:///{tmp_path / 'empty.sqlite3'}")

    assert status == 503 and body["failed"] == ["database", "reconcile"]
    assert body["checks"]["database"].startswith("database: migrations not applied (admin.0001_initial, ")
    assert body["checks"]["database"].endswith(" more); run manage.py migrate")
    assert body["checks"]["reconcile"] == "reconcile: not checked, the database is not migrated"


# A portal process whose PostgreSQL stops answering on the connection it keeps (conn_max_age, as the README's
# production address has it): a proxy in the process forwards to the suite's PostgreSQL until told to stop, then
# holds every connection open, saying nothing, as a hung server or a lost network does.
HUNG_DATABASE = """
import json, os, socket, threading, time
from concurrent.futures import ThreadPoolExecutor
import django

frozen = threading.Event()

def forward(source, target):
    try:
        while data := source.recv(65536):
            while frozen.is_set():
                time.sleep(60)
            target.sendall(data)
    except OSError:
        pass

listener = socket.create_server(("127.0.0.1", 0))

def serve():
    while True:
        client, _ = listener.accept()
        server = socket.create_connection((os.environ["PG_HOST"], int(os.environ["PG_PORT"])))
        for pair in ((client, server), (server, client)):
            threading.Thread(target=forward, args=pair, daemon=True).start()

threading.Thread(target=serve, daemon=True).start()
os.environ["DATABASE_URL"] = os.environ["DATABASE_URL"].replace("PROXY_PORT", str(listener.getsockname()[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()
from django.test import Client
answers = {}

def ask(path):
    started = time.monotonic()
    response = Client().get(path, headers={"Authorization": f"Bearer {os.environ.get('METRICS_TOKEN')}"})
    body = response.json() if response["Content-Type"] == "application/json" else response.content.decode()
    answers[path] = [response.status_code, body, time.monotonic() - started]

# One thread asks, as one of gunicorn's does: Django's connection is the thread's own.
gunicorn_thread = ThreadPoolExecutor(1)
for path in os.environ["ASK"].split():
    gunicorn_thread.submit(ask, path).result()  # the connection is made and kept
frozen.set()
for path in os.environ["ASK"].split():
    try:
        gunicorn_thread.submit(ask, path).result(timeout=20)
    except TimeoutError:
        answers[path] = "no answer in 20 s"
    print(json.dumps([path, answers[path]]), flush=True)
os._exit(0)  # the thread still waiting, if any, would hold the process
"""


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a connection kept open is PostgreSQL's")
def test_a_database_that_stops_answering_on_a_kept_connection_fails_the_probes_in_seconds():
    """Found in QA: with DATABASE_URL's conn_max_age (the README's production address), PostgreSQL hung behind a
    proxy that stopped forwarding left /healthz and /readyz without an answer past 30 s (curl gave up): the probe
    waited on a socket the operating system would keep for minutes, holding one of gunicorn's threads."""
    answers = asked_while_the_database_hangs("/healthz", "/readyz")

    healthz, readyz = answers["/healthz"], answers["/readyz"]
    assert healthz[:2] == [503, {"status": "fail", "failed": ["database"]}]
    assert readyz[0] == 503 and readyz[1]["failed"] == ["database"]
    assert readyz[1]["checks"]["database"] == "database: OperationalError"
    # The deadline, then at most a new connection's connect_timeout (Django's health check drops the hung one).
    assert healthz[2] < 5 and readyz[2] < 5


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a connection kept open is PostgreSQL's")
def test_a_scrape_while_the_database_hangs_answers_with_the_counters():
    """Found in QA: the same hung PostgreSQL held a Prometheus scrape past its timeout; the keys by status, read
    from the database at scrape time, waited on the kept connection. The counters matter most in an outage."""
    answers = asked_while_the_database_hangs("/metrics")

    assert answers["/metrics"] != "no answer in 20 s"
    status, page, seconds = answers["/metrics"]
    assert status == 200
    assert "portal_database_up 0.0" in page and "portal_http_requests_total" in page
    assert seconds < 5


def asked_while_the_database_hangs(*paths: str) -> dict[str, list]:
    """What each path answered (status, body, seconds) in a portal process once its database stopped answering."""
    database = connection.settings_dict
    env = {
        "ASK": " ".join(paths),
        "METRICS_TOKEN": "Scrape-Token-4f1c9a7e2b",
        "PATH": "/usr/bin:/bin",
        "PG_HOST": database["HOST"] or "127.0.0.1",
        "PG_PORT": str(database["PORT"] or 5432),
        "DATABASE_URL": f"postgres://{database['USER']}@127.0.0.1:PROXY_PORT/{database['NAME']}"
        "?conn_max_age=600&conn_health_checks=true&connect_timeout=2",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "READYZ_MAX_RECONCILE_AGE_SECONDS": "0",
        "LOG_LEVEL": "CRITICAL",
    }
    result = subprocess.run(
        [sys.executable, "-c", HUNG_DATABASE], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=90
    )

    return dict(json.loads(line) for line in result.stdout.strip().splitlines()[-len(paths) :])


def production_env(database_url: str, static_root) -> dict[str, str]:
    """A portal process as production runs it (DJANGO_DEBUG=false), its static files in `static_root`."""
    return portal_env(
        database_url,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_HTTPS="false",
        CACHE_URL=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/0"),
        READYZ_MAX_RECONCILE_AGE_SECONDS="0",
        **PRODUCTION_REQUIRED,
        **static_root_env(static_root),
    )


def test_an_instance_started_before_collectstatic_is_not_ready_until_restarted_after_it(tmp_path):
    """Found starting gunicorn with DJANGO_DEBUG=false before `collectstatic`: every page answered 500 (the static
    files' storage had no manifest) while /readyz answered 200, so a load balancer sent members to it. Running
    collectstatic under it does not mend it: the storage and WhiteNoise read STATIC_ROOT once, at start-up."""
    root = tmp_path / "static"
    with portal_database(tmp_path) as database_url:
        env = production_env(database_url, root)
        portal = Gunicorn(env, tmp_path / "before.log", workers=1, threads=2)
        try:
            before = [requests.get(f"{portal.url}/readyz", timeout=10) for _ in range(3)]
            page_before = requests.get(f"{portal.url}/accounts/login/", timeout=10)
            collect_static(root)
            collected = requests.get(f"{portal.url}/readyz", timeout=10)
            page_collected = requests.get(f"{portal.url}/accounts/login/", timeout=10)
        finally:
            portal.stop()
        portal = Gunicorn(env, tmp_path / "after.log", workers=1, threads=2)
        try:
            restarted = requests.get(f"{portal.url}/readyz", timeout=10)
            page_restarted = requests.get(f"{portal.url}/accounts/login/", timeout=10)
        finally:
            portal.stop()

    assert (page_before.status_code, page_collected.status_code, page_restarted.status_code) == (500, 500, 200)
    for answer in before:
        assert answer.status_code == 503
        assert answer.json()["failed"] == ["static"]
        assert answer.json()["checks"]["static"] == "static: no manifest; run manage.py collectstatic, then restart"
    assert (collected.status_code, collected.json()["failed"]) == (503, ["static"])
    assert collected.json()["checks"]["static"] == "static: collected after this process started; restart it"
    assert restarted.status_code == 200
    assert restarted.json()["checks"] == {"database": "ok", "cache": "ok", "reconcile": "ok", "static": "ok"}
    # What to do, in one line, once: not at each of the four failing probes.
    told = [line for line in (tmp_path / "before.log").read_text().splitlines() if "static files:" in line]
    assert len(told) == 1, told
    assert f"no readable manifest (staticfiles.json) in {root}" in told[0]
    assert "run `python manage.py collectstatic --noinput`, then restart the portal" in told[0]
    assert "static files:" not in (tmp_path / "after.log").read_text()


def manifest_storage(settings, root) -> None:
    settings.STATIC_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }


def test_an_unreadable_manifest_is_named_and_its_error_logged(client, settings, tmp_path, caplog):
    (tmp_path / "staticfiles.json").write_text('{"paths": {"portal/portal.css": ')  # a copy cut short
    manifest_storage(settings, tmp_path)

    with caplog.at_level("WARNING"):
        response = client.get("/readyz")

    assert response.status_code == 503 and response.json()["failed"] == ["static"]
    assert response.json()["checks"]["static"] == (
        "static: manifest unreadable (ValueError); run manage.py collectstatic, then restart"
    )
    said = [record.getMessage() for record in caplog.records if record.name == "keys.views"]
    assert any("Couldn't load manifest 'staticfiles.json'" in line for line in said), said


def test_development_serves_static_files_without_a_manifest(client, settings, tmp_path):
    """`make run` (DJANGO_DEBUG on) serves the apps' static files by their own names: no manifest is needed."""
    manifest_storage(settings, tmp_path)  # empty: collectstatic never ran
    settings.DEBUG = True
    settings.READYZ_MAX_RECONCILE_AGE_SECONDS = 0

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["static"] == "ok"
