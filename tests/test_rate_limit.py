"""Key submissions that reach NSML, per member: KEYS_SUBMIT_RATE (10/m), counted in the shared cache;
past it, the form stays filled with a 429 and the time to wait. Refusals by the portal cost nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from keys.models import AuditEvent, RegisteredKey
from tests.helpers import posts_seen, private_redis, with_a_rate_window_ahead

pytestmark = pytest.mark.django_db
NEW = reverse("keys:new")


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def submit(nsml, new_public_key, member):
    """submit(client, times) -> status codes of `times` valid submissions, each with a new title and key.
    Set up once alice's window has time ahead (helpers.with_a_rate_window_ahead): everything the test
    submits, before its first submit() too, counts in one window."""
    with_a_rate_window_ahead(member.pk)
    counter = iter(range(1000))

    def go(client, times: int = 1, title: str | None = None) -> list[int]:
        return [
            client.post(NEW, {"title": title or f"key-{next(counter)}", "key": new_public_key()}).status_code
            for _ in range(times)
        ]

    return go


def test_the_eleventh_submission_in_a_minute_keeps_the_form_and_says_how_long_to_wait(member_client, nsml, submit):
    assert submit(member_client, 10) == [302] * 10
    line = "ssh-ed25519 " + "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl" + " me@laptop"

    response = member_client.post(NEW, {"title": "eleventh", "key": line})

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    page = response.content.decode()
    assert f"submit it again in {response['Retry-After']} second" in page
    assert 'value="eleventh"' in page and "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl" in page
    assert len(posts_seen(nsml)) == 10
    assert RegisteredKey.objects.count() == 10


def test_refusals_by_the_portal_are_not_counted(member_client, submit):
    for _ in range(15):
        assert member_client.post(NEW, {"title": "my laptop", "key": "not a key"}).status_code == 200

    assert submit(member_client, 10) == [302] * 10


def test_duplicates_the_database_refuses_are_not_counted(member_client, submit, new_public_key):
    line = new_public_key()
    assert member_client.post(NEW, {"title": "laptop", "key": line}).status_code == 302
    for number in range(15):
        # No query asks first: the INSERT's unique constraints refuse it, and the count is given back.
        refused = member_client.post(NEW, {"title": f"again-{number}", "key": line})
        assert refused.status_code == 200
        assert "already registered" in refused.content.decode()
    for _ in range(15):
        assert member_client.post(NEW, {"title": "laptop", "key": new_public_key()}).status_code == 200

    assert submit(member_client, 9) == [302] * 9
    assert submit(member_client, 1) == [429]


def test_a_submission_the_database_could_not_store_is_not_counted(member_client, settings, submit, monkeypatch):
    """Found by stopping PostgreSQL under a submission: the member read the outage page, nothing reached NSML,
    and yet the submission was counted, so the first ones sent once the database was back met the 429."""
    settings.KEYS_SUBMIT_RATE = "2/m"

    def database_away(**kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    with monkeypatch.context() as patch:
        patch.setattr("keys.services.registration._record_intent", database_away)
        member_client.raise_request_exception = False
        assert submit(member_client, 3) == [503] * 3

    assert submit(member_client, 2) == [302] * 2


def test_looking_at_the_form_is_not_counted(member_client, submit):
    for _ in range(15):
        assert member_client.get(NEW).status_code == 200

    assert submit(member_client, 10) == [302] * 10


def test_each_member_has_their_own_count(member_client, other_member, submit):
    submit(member_client, 10)
    bob = Client()
    bob.force_login(other_member)

    assert submit(bob, 1) == [302]
    assert submit(member_client, 1) == [429]


def test_the_rate_comes_from_settings(member_client, settings, submit, new_public_key):
    settings.KEYS_SUBMIT_RATE = "2/h"

    statuses = submit(member_client, 3)

    assert statuses == [302, 302, 429]
    assert 60 < int(member_client.post(NEW, {"title": "fourth", "key": new_public_key()})["Retry-After"]) <= 3600


def test_one_audit_row_per_window_however_often_the_member_tries(member_client, member, settings, submit, event):
    settings.KEYS_SUBMIT_RATE = "1/m"
    submit(member_client, 6)

    rows = AuditEvent.objects.filter(reason="rate_limited")
    assert rows.count() == 1
    row = event(reason="rate_limited")
    assert (row.action, row.outcome, row.actor) == ("register", "refused", member)


def test_the_count_lives_in_the_configured_cache_not_in_the_view(member_client, settings, submit):
    settings.KEYS_SUBMIT_RATE = "1/m"
    submit(member_client, 2)

    cache.clear()

    assert submit(member_client, 1) == [302]


def test_a_malformed_rate_stops_the_portal_from_starting(monkeypatch):
    monkeypatch.setenv("KEYS_SUBMIT_RATE", "ten per minute")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "KEYS_SUBMIT_RATE must look like 10/m" in result.stderr


@pytest.fixture
def redis_url(settings) -> Iterator[str]:
    """A private Redis on a free port as the portal's cache; gone after the test."""
    with private_redis() as port:
        url = f"redis://127.0.0.1:{port}/0"
        local = settings.CACHES
        settings.CACHES = {"default": {"BACKEND": "portal.cache.RedisCache", "LOCATION": url}}
        yield url
        settings.CACHES = local


# Ten submissions to NSML by one member, counted by another process through the same quota the view uses.
OTHER_PROCESS = """
import sys
import django
django.setup()
from types import SimpleNamespace
from django.http import HttpRequest
from keys.ratelimit import SubmissionQuota

request = HttpRequest()
request.method = "POST"
request.user = SimpleNamespace(pk=int(sys.argv[1]))
quota = SubmissionQuota(request)
for _ in range(10):
    quota.take()
print("spent")
"""


def test_the_limit_holds_across_processes_sharing_redis(member_client, member, settings, redis_url, submit):
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "CACHE_URL": redis_url}
    result = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, str(member.pk)],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "spent"

    assert submit(member_client, 1) == [429]


def test_a_duplicate_gives_its_count_back_in_redis(member_client, member, redis_url, submit, new_public_key):
    line = new_public_key()
    assert member_client.post(NEW, {"title": "laptop", "key": line}).status_code == 302
    for number in range(12):
        assert member_client.post(NEW, {"title": f"again-{number}", "key": line}).status_code == 200

    assert submit(member_client, 9) == [302] * 9
    assert submit(member_client, 1) == [429]


def test_the_threads_of_a_process_share_one_redis_connection(redis_url):
    """Django keeps a cache object per thread; each would open its own pool, and gunicorn runs 40 threads."""
    import threading

    import redis
    from django.core.cache import cache as per_thread_cache

    done, release, threads = threading.Event(), threading.Event(), []
    for number in range(8):
        done.clear()

        def use_the_cache(number=number) -> None:
            per_thread_cache.set(f"thread-{number}", number)
            done.set()
            release.wait(10)  # stays alive, as gunicorn's threads do

        thread = threading.Thread(target=use_the_cache)
        thread.start()
        threads.append(thread)
        assert done.wait(10)
    try:
        watcher = redis.Redis.from_url(redis_url)
        portal_connections = [client for client in watcher.client_list() if client["cmd"] != "client|list"]
        assert len(portal_connections) == 1
        assert [per_thread_cache.get(f"thread-{number}") for number in range(8)] == list(range(8))
    finally:
        release.set()
        for thread in threads:
            thread.join()


def test_an_increment_is_one_atomic_redis_step_that_keeps_the_window(redis_url):
    """Django's own increment asks EXISTS, then INCRBY: a window that ends in between comes back as a counter
    with no expiry, which Redis keeps for ever. The portal's is one script, one round trip."""
    import threading

    import redis
    from django.core.cache import cache

    watcher = redis.Redis.from_url(redis_url)
    with pytest.raises(ValueError, match="not found"):
        cache.incr("window")
    assert cache.get("window") is None
    assert watcher.dbsize() == 0  # nothing left behind, with or without an expiry

    cache.set("window", 0, 60)
    watcher.config_resetstat()

    def count() -> None:
        for _ in range(50):
            cache.incr("window")

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert cache.get("window") == 400
    assert cache.decr("window", 10) == 390
    assert 0 < watcher.ttl(cache.make_and_validate_key("window")) <= 60
    # One request to Redis per increment (Redis counts the script's own EXISTS and INCRBY apart).
    assert watcher.info("commandstats")["cmdstat_evalsha"]["calls"] == 401


def test_a_redis_that_denies_scripts_still_counts(redis_url, settings, caplog):
    """Managed Redis services can deny scripting to the portal's user: increments then take Django's two steps."""
    import redis
    from django.core.cache import caches

    admin = redis.Redis.from_url(redis_url)
    admin.acl_setuser(
        "portal", enabled=True, passwords=["+portal-password"], keys=["*"], commands=["+@all", "-@scripting"]
    )
    limited = redis_url.replace("redis://", "redis://portal:portal-password@")
    settings.CACHES = {"default": {"BACKEND": "portal.cache.RedisCache", "LOCATION": limited}}
    cache = caches["default"]

    cache.set("window", 0, 60)
    with caplog.at_level("WARNING", logger="portal.cache"):
        assert [cache.incr("window") for _ in range(3)] == [1, 2, 3]
    assert cache.decr("window") == 2
    with pytest.raises(ValueError, match="not found"):
        cache.incr("no-such-window")
    assert [record.getMessage() for record in caplog.records] == [
        "Redis denies scripts to the portal's user; increments take two round trips"
    ]
    assert admin.info("commandstats")["cmdstat_evalsha"]["rejected_calls"] == 1  # asked once, then not again


def _quota_for(user):
    from django.http import HttpRequest

    from keys.ratelimit import SubmissionQuota

    request = HttpRequest()
    request.method = "POST"
    request.user = user
    return SubmissionQuota(request)


def test_a_submission_costs_one_redis_request_once_the_window_has_begun(redis_url, settings, member, other_member):
    import redis

    settings.KEYS_SUBMIT_RATE = "1000/h"
    watcher = redis.Redis.from_url(redis_url)
    _quota_for(other_member).take()  # Redis learns the increment script
    watcher.delete(*watcher.keys("*"))
    watcher.config_resetstat()

    for _ in range(5):
        _quota_for(member).take()

    stats = watcher.info("commandstats")
    # The first take finds nothing to increment and adds the window's count; each later one only increments.
    assert stats["cmdstat_evalsha"]["calls"] == 5
    assert stats["cmdstat_set"]["calls"] == 1
    assert watcher.info("keyspace")["db0"]["keys"] == 1
    (window,) = watcher.keys("*")
    assert int(watcher.get(window)) == 5
    assert 0 < watcher.ttl(window) <= 3600 + 5  # it ends with its window


def test_submissions_that_open_a_window_together_are_all_counted(redis_url, settings, member):
    """Eight threads take their first submissions at once: whichever adds the window's count, none is lost."""
    import threading

    settings.KEYS_SUBMIT_RATE = "80/h"
    start = threading.Barrier(8)

    def take_ten() -> None:
        start.wait(10)
        for _ in range(10):
            _quota_for(member).take()

    threads = [threading.Thread(target=take_ten) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    from keys.services import SubmissionLimited

    with pytest.raises(SubmissionLimited):
        _quota_for(member).take()  # the 81st
