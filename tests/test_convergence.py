"""Portal and NSML always agree: members work the live portal (gunicorn, its own database) while the
simulator fails a share of requests in every way it knows; then, faults off and one reconcile pass
later, the portal's list is exactly what NSML holds, and no member ever saw a 5xx."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter

import pytest
from django.conf import settings

from nsml.simulator import Faults, NsmlSimulator
from tests.helpers import generate_private_key, public_line
from tests.live_portal import Gunicorn, Member, create_members, manage, portal_database, portal_env, read_rows

MEMBERS = 20
LOAD_SECONDS = 30
GRACE_SECONDS = 3
FAULT_RATE = 0.2
NSML_TIMEOUT = 1.0

_ROW = re.compile(r'<a href="/keys/(?P<id>\d+)/">(?P<title>[^<]+)</a>.*?<span class="status (?P<status>\w+)">', re.S)


@pytest.fixture
def simulator(tmp_path):
    simulator = NsmlSimulator(
        access_key=settings.NCP_ACCESS_KEY,
        secret_key=settings.NCP_SECRET_KEY,
        api_key=settings.NSML_API_KEY,
        faults=Faults(fault_rate=FAULT_RATE, seed=20261128, late_seconds=NSML_TIMEOUT + 0.5),
        quiet=True,
    )
    simulator.start()
    yield simulator
    simulator.stop()


class Load:
    """What one member does for a while: add keys, submit one from two tabs at once, revoke, look."""

    def __init__(self, member: Member, seed: int, deadline: float):
        self.member = member
        self.random = random.Random(seed)
        self.deadline = deadline
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self.submitted = 0

    def run(self) -> None:
        try:
            self.member.log_in()
            while time.monotonic() < self.deadline:
                roll = self.random.random()
                if roll < 0.4:
                    self.submit()
                elif roll < 0.55:
                    self.submit_from_two_tabs()
                elif roll < 0.65:
                    self.submit_again()
                elif roll < 0.85:
                    self.revoke_one()
                else:
                    self.look()
        except Exception as error:  # a dropped connection to the portal is a failure to report, not a crash
            self.errors.append(f"{self.member.username}: {error!r}")

    def new_key(self) -> tuple[str, str]:
        self.submitted += 1
        self.last = (f"{self.member.username}-k{self.submitted}", public_line(generate_private_key("ed25519")))
        return self.last

    def submit(self) -> None:
        title, key = self.new_key()
        self.record(self.member.post("/keys/new/", {"title": title, "key": key}))

    def submit_again(self) -> None:
        """The member's last key once more, as someone would after a failure or a slow page."""
        if self.submitted:
            title, key = self.last
            self.record(self.member.post("/keys/new/", {"title": title, "key": key}))

    def submit_from_two_tabs(self) -> None:
        title, key = self.new_key()
        tabs = [self.member.tab(), self.member.tab()]
        barrier = threading.Barrier(2)
        results = []

        def send(tab) -> None:
            barrier.wait()
            results.append(self.member.post("/keys/new/", {"title": title, "key": key}, tab=tab))

        threads = [threading.Thread(target=send, args=(tab,)) for tab in tabs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for response in results:
            self.record(response)

    def revoke_one(self) -> None:
        page = self.look()
        active = [match["id"] for match in _ROW.finditer(page) if match["status"] == "active"]
        if active:
            self.record(self.member.post(f"/keys/{self.random.choice(active)}/revoke/", {}))

    def look(self) -> str:
        response = self.member.get("/keys/")
        self.record(response)
        return response.text

    def record(self, response) -> None:
        self.statuses[response.status_code] += 1


def test_the_portal_and_nsml_agree_after_load_with_faults(tmp_path, simulator):
    usernames = [f"m{number:02d}" for number in range(MEMBERS)]
    with portal_database(tmp_path) as database_url:
        env = portal_env(
            database_url,
            NSML_API_URL=simulator.base_url,
            NSML_TIMEOUT=str(NSML_TIMEOUT),
            NSML_CONNECT_TIMEOUT=str(NSML_TIMEOUT),
            NSML_SYNC_TIMEOUT="5",
            NSML_PENDING_GRACE_SECONDS=str(GRACE_SECONDS),
            KEYS_SUBMIT_RATE="100000/m",
            LOGIN_FAILURE_LIMIT="1000",
        )
        create_members(database_url, usernames)
        portal = Gunicorn(env, tmp_path / "gunicorn.log", workers=2, threads=16)
        try:
            deadline = time.monotonic() + LOAD_SECONDS
            loads = [Load(Member(portal.url, name), seed, deadline) for seed, name in enumerate(usernames)]
            threads = [threading.Thread(target=load.run) for load in loads]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=LOAD_SECONDS + 120)
        finally:
            portal.stop()

        statuses = sum((load.statuses for load in loads), Counter())
        errors = [error for load in loads for error in load.errors]
        faults_hit = simulator.requests_seen
        simulator.set_faults(Faults())
        time.sleep(GRACE_SECONDS + 1)
        sync = manage(database_url, "nsml_sync", "--apply", env=env, check=False)

        rows = read_rows(
            database_url,
            "from keys.models import RegisteredKey, UnmanagedKey\n"
            "rows = list(RegisteredKey.objects.values('title', 'nsml_name', 'fingerprint_sha256', 'status',"
            " 'owner__username'))\n"
            "rows += [{'unmanaged': u.title} for u in UnmanagedKey.objects.filter(status='open')]\n",
        )

    log = (tmp_path / "gunicorn.log").read_text()
    assert not errors, errors
    assert sum(count for status, count in statuses.items() if status >= 500) == 0, (statuses, log[-3000:])
    assert statuses[302] > MEMBERS, statuses  # the load did happen: registrations, revocations
    assert len(faults_hit) > 100
    assert sync.returncode in (0, 1), sync.stdout + sync.stderr

    keys = [row for row in rows if "unmanaged" not in row]
    assert [row for row in rows if "unmanaged" in row] == []
    assert [row for row in keys if row["status"] in ("pending", "revoking")] == []
    held = {(item["title"], item["name"]) for item in simulator.held_keys()}
    active = [row for row in keys if row["status"] == "active"]
    active_pairs = Counter((row["title"], row["nsml_name"]) for row in active)
    # Every key NSML holds is exactly one active row of the member who submitted it, and nothing more.
    assert set(active_pairs) == held
    assert all(count == 1 for count in active_pairs.values())
    assert all(row["title"].startswith(row["owner__username"] + "-") for row in active)
    # No title or key twice among the keys NSML holds.
    assert len({row["title"] for row in active}) == len(active)
    assert len({row["fingerprint_sha256"] for row in active}) == len(active)
    assert {row["status"] for row in keys} >= {"active", "revoked", "failed"}
