"""Key submissions per member: KEYS_SUBMIT_RATE (10/m), then a 429 page; counted in the shared cache."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpResponse
from django.test import Client
from django.urls import path, reverse

from keys.models import AuditEvent
from keys.ratelimit import submission_rate_limited
from portal.urls import urlpatterns as portal_urlpatterns
from tests.helpers import free_port


@login_required
@submission_rate_limited
def limited_view(request):
    return HttpResponse("taken")


# The portal's pages (base.html links to them) plus one limited view, so the limiter is tested on
# its own; test_key_new_is_limited checks the real view.
urlpatterns = [*portal_urlpatterns, path("test-limited/", limited_view)]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
LIMITED = "/test-limited/"


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def post_times(client, times: int) -> list[int]:
    return [client.post(LIMITED, {"title": "x"}).status_code for _ in range(times)]


def test_the_eleventh_submission_in_a_minute_gets_a_clear_429_page(member_client):
    assert post_times(member_client, 10) == [200] * 10

    response = member_client.post(LIMITED, {"title": "x"})

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    page = response.content.decode()
    assert "Too many submissions" in page
    assert "Nothing was sent to NSML" in page
    assert f"try again in {response['Retry-After']} second" in page


def test_looking_at_the_form_is_not_counted(member_client):
    for _ in range(15):
        assert member_client.get(LIMITED).status_code == 200

    assert post_times(member_client, 10) == [200] * 10


def test_each_member_has_their_own_count(member_client, other_member):
    post_times(member_client, 11)
    bob = Client()
    bob.force_login(other_member)

    assert post_times(bob, 1) == [200]
    assert post_times(member_client, 1) == [429]


def test_the_rate_comes_from_settings(member_client, settings):
    settings.KEYS_SUBMIT_RATE = "2/h"

    statuses = post_times(member_client, 3)

    assert statuses == [200, 200, 429]
    assert int(member_client.post(LIMITED)["Retry-After"]) <= 3600


def test_one_audit_row_per_window_however_often_the_member_tries(member_client, member, event):
    post_times(member_client, 15)

    assert AuditEvent.objects.exclude(action="user_create").count() == 1
    row = event()
    assert (row.action, row.outcome, row.reason, row.actor) == ("register", "refused", "rate_limited", member)


def test_the_count_lives_in_the_configured_cache_not_in_the_view(member_client):
    post_times(member_client, 11)

    cache.clear()

    assert post_times(member_client, 1) == [200]


def test_anonymous_visitors_are_sent_to_log_in_and_not_counted(client):
    response = client.post(LIMITED)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


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
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        url = f"redis://127.0.0.1:{port}/0"
        local = settings.CACHES
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
        yield url
        settings.CACHES = local
    finally:
        process.terminate()
        process.wait(timeout=10)


# Ten submissions by one member, counted by another process through the same code the view uses.
OTHER_PROCESS = """
import sys
import django
django.setup()
from types import SimpleNamespace
from django.http import HttpRequest
from keys.ratelimit import count_submission

request = HttpRequest()
request.method = "POST"
request.user = SimpleNamespace(pk=int(sys.argv[1]))
for _ in range(10):
    usage = count_submission(request)
print(usage["count"])
"""


def test_the_limit_holds_across_processes_sharing_redis(member_client, member, settings, redis_url):
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
    assert result.stdout.strip() == "10"

    assert post_times(member_client, 1) == [429]


@pytest.mark.urls("portal.urls")
def test_key_new_is_limited(member_client):
    # Empty forms: refused by the form, never sent to NSML, and still counted.
    statuses = [member_client.post(reverse("keys:new"), {}).status_code for _ in range(11)]

    assert statuses == [200] * 10 + [429]
