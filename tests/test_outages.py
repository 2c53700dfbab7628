"""When Redis or the database cannot be reached, members and API clients get a 503 that says the portal
is briefly unavailable, with Retry-After, in their language: not the 500 of a bug. Redis and the
database here are real addresses where nothing listens."""

from __future__ import annotations

import json
import socket
import time
from unittest.mock import patch

import psycopg
import pytest
from django.db import InternalError, OperationalError
from django.test import Client, RequestFactory, override_settings

from portal.outages import server_error
from tests.helpers import free_port, generate_private_key, private_redis, public_line, shell_in_fresh_process

pytestmark = pytest.mark.django_db

UNAVAILABLE = "The portal is briefly unavailable"


def redis_away():
    """The shared cache is a Redis that is not there (the port refuses connections), sessions cached in it."""
    caches = {"default": {"BACKEND": "portal.cache.RedisCache", "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}}
    return override_settings(CACHES=caches, SESSION_ENGINE="django.contrib.sessions.backends.cached_db")


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never answers (a hung server, a dropped route)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # connections complete in the kernel's backlog; nobody reads them
        yield listener.getsockname()[1]


def answer(client: Client, *args, method: str = "get", **kwargs):
    client.raise_request_exception = False
    return getattr(client, method)(*args, **kwargs)


def api_submission(secret: str, **headers):
    """A script's key submission through the API, with its token."""
    body = json.dumps({"title": "alice-laptop", "key": public_line(generate_private_key())})
    return answer(
        Client(),
        "/api/v1/keys",
        body,
        method="post",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        **headers,
    )


def assert_unavailable_page(response, text: str = UNAVAILABLE, wait: str = "try again in 30 seconds") -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert text in page
    assert wait in page  # the words name the wait Retry-After gives, not "in a minute"
    assert 'href="/keys/"' in page


def test_a_signed_in_member_sees_briefly_unavailable_while_redis_is_away(member_client):
    with redis_away():
        assert_unavailable_page(answer(member_client, "/keys/"))


def test_the_page_is_in_the_members_language(member_client):
    member_client.cookies["django_language"] = "ko"

    with redis_away():
        response = answer(member_client, "/keys/")

    assert_unavailable_page(response, "포털을 잠시 사용할 수 없습니다", wait="30초 후에 다시 시도하세요")
    assert '<html lang="ko">' in response.content.decode()


def test_logging_in_while_redis_is_away_is_briefly_unavailable(member):
    with redis_away():
        response = answer(
            Client(), "/accounts/login/", {"username": "alice", "password": "alice-password-1"}, method="post"
        )

    assert_unavailable_page(response)


def test_an_api_client_gets_the_apis_json_error(member, token_for):
    with redis_away():
        response = api_submission(token_for(member))

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["error"]["code"] == "unavailable"
    assert response.json()["error"]["message"] == "The portal is briefly unavailable. Try again in 30 seconds."


@pytest.fixture
def redis_without_the_database():
    """CACHE_URL names database 5 of a Redis that has only one (16 by default: /99 is the same mistake)."""
    with private_redis("--databases", "1") as port:
        caches = {"default": {"BACKEND": "portal.cache.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/5"}}
        with override_settings(CACHES=caches, SESSION_ENGINE="django.contrib.sessions.backends.cached_db"):
            yield


def test_a_cache_url_naming_a_database_redis_lacks_is_an_outage_at_log_in(member, redis_without_the_database, caplog):
    """Found with CACHE_URL=redis://127.0.0.1:6379/99: Redis answers SELECT with "DB index is out of range", a
    ResponseError, not a ConnectionError, and the log-in was Django's 500 page."""
    response = answer(
        Client(), "/accounts/login/", {"username": "alice", "password": "alice-password-1"}, method="post"
    )

    assert_unavailable_page(response)
    assert "DB index is out of range" in caplog.text  # the log says why


def test_an_api_client_gets_the_apis_json_error_when_redis_lacks_the_database(
    member, token_for, redis_without_the_database
):
    response = api_submission(token_for(member))

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["error"]["code"] == "unavailable"


def test_readyz_names_the_cache_when_redis_lacks_the_database(client, redis_without_the_database):
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["cache"]


# The database away: a fresh process whose DATABASE_URL names a port where nothing listens.
DATABASE_AWAY = """
from django.conf import settings
from django.test import Client
settings.DEBUG = False  # the debug page otherwise; production runs with debug off
# As the tests' conftest does: no collected static files (and so no manifest) in a fresh clone.
plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
settings.STORAGES = {**settings.STORAGES, "staticfiles": plain}
client = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1")
client.cookies["sessionid"] = "a" * 32
response = client.get("/keys/")
print("status", response.status_code, "retry", response.get("Retry-After"))
print("briefly" if "briefly unavailable" in response.content.decode() else "other page")
"""


def page_while_the_database_is_at(port: int) -> str:
    """What a fresh process (debug off) answers a member's /keys/ with DATABASE_URL at this port."""
    return shell_in_fresh_process(DATABASE_AWAY, DATABASE_URL=f"postgres://portal@127.0.0.1:{port}/portal")


def test_a_member_sees_briefly_unavailable_while_the_database_is_away():
    answered = page_while_the_database_is_at(free_port())

    assert "status 503 retry 30" in answered
    assert "briefly" in answered


def test_a_database_that_stops_answering_fails_the_request_in_seconds(silent_port):
    started = time.monotonic()
    answered = page_while_the_database_is_at(silent_port)

    assert "status 503 retry 30" in answered
    assert time.monotonic() - started < 30  # libpq's connect_timeout of 5 s, not the system's minutes


def test_any_other_error_keeps_the_500_page():
    request = RequestFactory().get("/keys/")
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(request)

    assert response.status_code == 500
    assert not response.has_header("Retry-After")
    assert "Something went wrong" in response.content.decode()


def test_a_dropped_database_connection_is_an_outage_too():
    request = RequestFactory().get("/keys/")
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        response = server_error(request)

    assert_unavailable_page(response)


def test_a_database_that_refuses_writes_is_an_outage_too(member_client):
    """Found by pointing the portal at a read-only PostgreSQL (a standby; a primary a failover demoted): every
    log-in and submission was Django's 500, as PostgreSQL refused the INSERT with an InternalError."""
    refused = psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction")

    def read_only(**kwargs):
        raise InternalError(str(refused)) from refused

    with patch("keys.services.registration._record_intent", read_only):
        response = answer(
            member_client,
            "/keys/new/",
            {"title": "alice-laptop", "key": public_line(generate_private_key())},
            method="post",
        )

    assert_unavailable_page(response)


def test_another_internal_error_keeps_the_500_page():
    request = RequestFactory().get("/keys/")
    try:
        raise InternalError("a bug") from psycopg.errors.InFailedSqlTransaction("current transaction is aborted")
    except InternalError:
        response = server_error(request)

    assert response.status_code == 500


def test_a_redis_that_stops_answering_fails_the_request_in_seconds(member_client, silent_port):
    options = {"socket_connect_timeout": 2, "socket_timeout": 2}  # what portal/settings.py gives a Redis
    location = f"redis://127.0.0.1:{silent_port}/0"
    caches = {"default": {"BACKEND": "portal.cache.RedisCache", "LOCATION": location, "OPTIONS": options}}
    started = time.monotonic()

    with override_settings(CACHES=caches, SESSION_ENGINE="django.contrib.sessions.backends.cached_db"):
        response = answer(member_client, "/keys/")

    assert_unavailable_page(response)
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("cache_url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", {"socket_connect_timeout": 2, "socket_timeout": 2}),
        ("redis://127.0.0.1:6379/0?socket_timeout=0.5", {"socket_connect_timeout": 2, "socket_timeout": 0.5}),
    ],
)
def test_redis_calls_have_timeouts_unless_the_url_sets_its_own(cache_url, expected):
    script = "import json; from django.conf import settings; print(json.dumps(settings.CACHES['default']['OPTIONS']))"

    answered = shell_in_fresh_process(script, CACHE_URL=cache_url)

    assert json.loads(answered.strip().splitlines()[-1]) == expected


PROBES_WHILE_THE_DATABASE_IS_AWAY = """
from django.conf import settings
from django.test import Client
settings.DEBUG = False
settings.METRICS_TOKEN = "m" * 20
client = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1")
health = client.get("/healthz")
print("healthz", health.status_code, health["Content-Type"], health.json())
scrape = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "m" * 20)
print("metrics", scrape.status_code, scrape["Content-Type"].split(";")[0])
print("up0" if "portal_database_up 0.0" in scrape.content.decode() else "no-up0")
print("counters" if "portal_key_submissions_total" in scrape.content.decode() else "no-counters")
"""


def test_the_probes_and_the_metrics_answer_in_their_own_form_while_the_database_is_away():
    """Found by scraping during an outage: /metrics answered the member's HTML 503 page, so Prometheus lost
    every counter when they mattered most; /healthz answered that page too."""
    answered = shell_in_fresh_process(
        PROBES_WHILE_THE_DATABASE_IS_AWAY, DATABASE_URL=f"postgres://portal@127.0.0.1:{free_port()}/portal"
    )

    assert "healthz 503 application/json {'status': 'fail', 'failed': ['database']}" in answered
    assert "metrics 200 text/plain" in answered
    assert "up0" in answered and "counters" in answered


def test_an_smtp_server_that_never_answers_holds_a_submission_only_email_timeout(
    member_client, member, nsml, new_public_key, silent_port, settings, django_capture_on_commit_callbacks
):
    """Without a timeout (Django's default) a hung SMTP server held the member's request, and a worker's thread, for
    as long as the connection lasted. Notices now go after the response (tests/test_outbox.py); one sent at once, as
    here where the commit's callbacks run after the test client's request, still waits EMAIL_TIMEOUT at most."""
    member.email = "alice@example.com"
    member.save()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", silent_port, 1.0
    default = shell_in_fresh_process("from django.conf import settings; print(settings.EMAIL_TIMEOUT)")
    assert default.strip().endswith("10.0")  # what a portal gets without EMAIL_TIMEOUT

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post("/keys/new/", {"title": "laptop", "key": new_public_key()})
    elapsed = time.monotonic() - started

    assert response.status_code == 302
    assert elapsed < 5
    from keys.models import RegisteredKey

    assert RegisteredKey.objects.get().status == "active"  # the change stays made
