"""Several instances are one portal: two gunicorns on different ports, one PostgreSQL, one Redis.

A session made on one works on the other, a lock-out earned on one holds on the other, the submission
limit counts across both, the same key submitted at the same moment on both ends as one key and no
5xx, and two reconciler loops never run a pass at the same time.

PostgreSQL only (CI runs the suite again with DATABASE_URL set): SQLite is one file on one host, not a
database several instances share. Redis on 127.0.0.1:6379, database TWO_INSTANCES_REDIS_DB (7), flushed first.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from nsml.simulator import Faults, NsmlSimulator
from tests.helpers import generate_private_key, postgresql_only, public_line
from tests.live_portal import (
    BASE_DIR,
    Gunicorn,
    Member,
    create_members,
    live_simulator,
    portal_database,
    portal_env,
    read_rows,
)

REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('TWO_INSTANCES_REDIS_DB', '7')}"
SUBMIT_RATE = 4
LOCKOUT_AFTER = 3

pytestmark = postgresql_only("several instances share one PostgreSQL; on SQLite there is nothing to share")


@dataclass
class Portal:
    a: Gunicorn
    b: Gunicorn
    env: dict[str, str]
    database_url: str
    simulator: NsmlSimulator
    tmp_path: Path


def flushed_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()
    except redis.RedisError as error:
        pytest.skip(f"needs Redis at {REDIS_URL}: {error}")


@pytest.fixture(scope="module")
def portal(tmp_path_factory) -> Iterator[Portal]:
    flushed_redis()
    tmp_path = tmp_path_factory.mktemp("two_instances")
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        create_members(database_url, ["ann", "ben", "cat", "dan", "eve", *[f"r{n}" for n in range(10)]])
        env = portal_env(
            database_url,
            CACHE_URL=REDIS_URL,
            NSML_API_URL=simulator.base_url,
            KEYS_SUBMIT_RATE=f"{SUBMIT_RATE}/h",
            LOGIN_FAILURE_LIMIT=str(LOCKOUT_AFTER),
            # The guesses come "from" another address, so the lock-out by address spares the other tests.
            DJANGO_PROXY_HOPS="1",
            DATABASE_URL=database_url + "?conn_max_age=60",
        )
        a = Gunicorn(env, tmp_path / "a.log", workers=2, threads=8)
        b = Gunicorn(env, tmp_path / "b.log", workers=2, threads=8)
        try:
            yield Portal(a, b, env, database_url, simulator, tmp_path)
        finally:
            a.stop()
            b.stop()


def new_key() -> str:
    return public_line(generate_private_key("ed25519"))


def on(instance: Gunicorn, member: Member) -> Member:
    """The same browser (cookies) talking to another instance."""
    moved = Member(instance.url, member.username)
    moved.session.cookies.update(member.session.cookies)
    return moved


def test_a_session_made_on_one_works_on_the_other(portal):
    ann = Member(portal.a.url, "ann")
    ann.log_in()

    page = on(portal.b, ann).get("/keys/")

    assert page.status_code == 200
    assert "ann" in page.text
    # And a log-out on one ends it on both.
    on(portal.b, ann).post("/accounts/logout/", {})
    assert ann.get("/keys/").status_code == 302


def test_a_lock_out_earned_on_one_holds_on_the_other(portal):
    for attempt in range(LOCKOUT_AFTER):
        instance = portal.a if attempt % 2 == 0 else portal.b
        guesser = Member(instance.url, "ben")
        guesser.session.headers["X-Forwarded-For"] = "10.9.9.9"
        guesser.session.get(f"{instance.url}/accounts/login/", timeout=30)
        guesser.post("/accounts/login/", {"username": "ben", "password": f"guess-{attempt}"})

    ben = Member(portal.b.url, "ben")  # from the member's own address: the lock is on the account
    ben.session.get(f"{portal.b.url}/accounts/login/", timeout=30)
    refused = ben.post("/accounts/login/", {"username": "ben", "password": "live-portal-password-1"})

    assert refused.status_code == 429
    assert "Log-in paused" in refused.text


def test_the_submission_limit_counts_across_both(portal):
    cat = Member(portal.a.url, "cat")
    cat.log_in()
    instances = [cat, on(portal.b, cat)]

    statuses = [
        instances[number % 2].post("/keys/new/", {"title": f"cat-{number}", "key": new_key()}).status_code
        for number in range(SUBMIT_RATE + 2)
    ]

    assert statuses == [302] * SUBMIT_RATE + [429, 429]


def test_the_same_key_at_the_same_moment_on_both_ends_as_one_key(portal):
    outcomes, keys = [], []
    for pair in range(5):  # five pairs of members, one key each, both on the same moment
        first, second = Member(portal.a.url, f"r{2 * pair}"), Member(portal.b.url, f"r{2 * pair + 1}")
        first.log_in()
        second.log_in()
        key = new_key()
        keys.append(key)
        start = threading.Barrier(2)
        answers = {}

        def submit(member: Member, key=key, start=start, answers=answers) -> None:
            start.wait()
            answers[member.username] = member.post("/keys/new/", {"title": f"{member.username}-laptop", "key": key})

        threads = [threading.Thread(target=submit, args=(member,)) for member in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        outcomes.append(sorted(response.status_code for response in answers.values()))
        refused = [response for response in answers.values() if response.status_code == 200]
        assert len(refused) == 1 and "already registered, or being registered, by another member" in refused[0].text

    assert outcomes == [[200, 302]] * 5
    rows = read_rows(
        portal.database_url,
        "from keys.models import RegisteredKey\n"
        "rows = list(RegisteredKey.objects.filter(owner__username__startswith='r')"
        ".values_list('nsml_name', 'status'))\n",
    )
    assert sorted(status for _name, status in rows) == ["active"] * 5
    assert len({name for name, _status in rows}) == 5
    held = [item for item in portal.simulator.held_keys() if item["title"].startswith("r")]
    assert len(held) == 5


def test_both_probed_for_readiness_at_the_same_moment_stay_ready(portal):
    """Found probing the /readyz of instances on one Redis at once, as load balancers do: each probe wrote its value
    under one key in the shared Redis, so one could read another's and answer 503, "cache: did not keep what it was
    given" (935 of 3,000 probes over three instances), taking a healthy instance out of rotation."""
    urls = [f"{instance.url}/readyz" for instance in (portal.a, portal.b)] * 300
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda url: requests.get(url, timeout=30), urls))

    assert {(answer.status_code, answer.json()["checks"]["cache"]) for answer in answers} == {(200, "ok")}


def test_two_reconciler_loops_never_run_a_pass_at_the_same_time(portal):
    # Each pass waits 1.5 s for NSML's list, so passes every 2 s from two loops would overlap without the lock.
    portal.simulator.set_faults(Faults(latency=1.5))
    loops = [
        subprocess.Popen(
            [sys.executable, "manage.py", "nsml_sync", "--apply", "--every", "5"],
            cwd=BASE_DIR,
            env={**portal.env, "NSML_SYNC_TIMEOUT": "10"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        time.sleep(16)
    finally:
        for loop in loops:
            loop.send_signal(signal.SIGTERM)
        outputs = [loop.communicate(timeout=60)[0] for loop in loops]
        portal.simulator.set_faults(Faults())

    rows = read_rows(
        portal.database_url,
        "from keys.models import ReconcilePass\n"
        "rows = [[p.started_at.timestamp(), p.finished_at.timestamp(), p.succeeded]"
        " for p in ReconcilePass.objects.order_by('started_at')]\n",
    )
    assert len(rows) >= 3, outputs
    assert all(succeeded for _start, _end, succeeded in rows), outputs
    for (_start, end), (next_start, _next_end) in zip(
        [row[:2] for row in rows], [row[:2] for row in rows[1:]], strict=False
    ):
        assert end <= next_start, f"passes overlap: {rows}"
    skipped = sum(len(re.findall("Another reconcile pass is running", output)) for output in outputs)
    assert skipped >= 1, outputs  # the loops did meet, and one stood aside
