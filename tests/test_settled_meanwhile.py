"""A reconcile pass lists NSML while NSML is still answering a member's create, finds the key there and makes it
active: the member's own request must then report the key as registered, as it is, not as "Checking with
NSML". Found running the portal with a reconciler every 5 s and the simulator's --slow-commit: the API
answered 202 `pending` (and /metrics counted a `pending` submission) for a key already active."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import requests

from nsml.simulator import Faults
from tests.helpers import generate_private_key, public_line
from tests.live_portal import (
    Gunicorn,
    Member,
    create_members,
    live_simulator,
    manage,
    portal_database,
    portal_env,
    read_rows,
)
from tests.test_metrics import METRICS, TOKEN, samples

SUBMITTED = ("portal_key_submissions_total", ("outcome", "registered"))
PENDING = ("portal_key_submissions_total", ("outcome", "pending"))


def test_a_key_a_pass_settles_while_nsml_answers_is_reported_registered(tmp_path: Path):
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        env = portal_env(
            database_url,
            METRICS_TOKEN=TOKEN,
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
            NSML_API_URL=simulator.base_url,
        )
        create_members(database_url, ["alice"])
        secret = manage(database_url, "create_api_token", "alice", "--name", "laptop", env=env).stdout.strip()
        # NSML stores the key at once and answers 201 six seconds later, within the portal's 10 s timeout.
        simulator.set_faults(Faults(slow_commit=6.0))
        portal = Gunicorn(env, tmp_path / "gunicorn.log", workers=1, threads=4)
        answers: list[requests.Response] = []
        try:
            submission = threading.Thread(
                target=lambda: answers.append(
                    requests.post(
                        f"{portal.url}/api/v1/keys",
                        json={"title": "alice-laptop", "key": public_line(generate_private_key("ed25519"))},
                        headers={"Authorization": f"Bearer {secret}"},
                        timeout=60,
                    )
                )
            )
            submission.start()
            deadline = time.monotonic() + 5
            while not any(held["title"] == "alice-laptop" for held in simulator.held_keys()):
                assert time.monotonic() < deadline, "NSML never received the key"
                time.sleep(0.05)
            pass_run = manage(database_url, "nsml_sync", "--apply", env=env, check=False)  # as the loop does
            submission.join(timeout=60)
            found = samples(
                requests.get(f"{portal.url}{METRICS}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
            )
        finally:
            portal.stop()
        rows = read_rows(
            database_url,
            "from keys.models import AuditEvent, RegisteredKey\n"
            "rows = [list(RegisteredKey.objects.values_list('status', flat=True)),\n"
            "        list(AuditEvent.objects.filter(action='register').values_list('outcome', 'reason')),\n"
            "        list(AuditEvent.objects.filter(action='register').values_list('actor_username', 'detail'))]\n",
        )

    assert "now active: alice-laptop" in pass_run.stdout  # the pass settled it first
    assert rows[0] == ["active"]
    assert answers[0].status_code == 201
    assert answers[0].json()["status"] == "active"
    assert found.get(SUBMITTED) == 1
    assert found.get(PENDING, 0) == 0
    # The pass recorded the activation; the request, which moved nothing, added no row of its own.
    assert rows[1] == [["success", "found_upstream"]]
    # That row is the only one of the submission: it names the member, and where they submitted it from (it named
    # the reconciler, and nothing recorded the member's address or token).
    assert rows[2] == [["alice", "found in NSML by a reconcile pass; submitted from 127.0.0.1"]]


def test_a_key_an_admin_revokes_while_nsml_answers_is_reported_revoked_not_unconfirmed(tmp_path: Path):
    """Seen once under load: a pass made the key active while NSML still answered the member's create, an
    administrator revoked it at once, and the member read that NSML had not confirmed the key yet."""
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        env = portal_env(database_url, NSML_API_URL=simulator.base_url)
        create_members(database_url, ["alice", "root"])
        # NSML stores the key at once and answers 201 eight seconds later, within the portal's 10 s timeout.
        simulator.set_faults(Faults(slow_commit=8.0))
        portal = Gunicorn(env, tmp_path / "gunicorn.log", workers=1, threads=4)
        alice = Member(portal.url, "alice")
        answers: list[requests.Response] = []
        try:
            alice.log_in()
            key = public_line(generate_private_key("ed25519"))
            submission = threading.Thread(
                target=lambda: answers.append(alice.post("/keys/new/", {"title": "alice-laptop", "key": key}))
            )
            submission.start()
            deadline = time.monotonic() + 7
            while not any(held["title"] == "alice-laptop" for held in simulator.held_keys()):
                assert time.monotonic() < deadline, "NSML never received the key"
                time.sleep(0.05)
            manage(database_url, "nsml_sync", "--apply", env=env, check=False)  # the pass makes it active
            revoked = read_rows(
                database_url,
                "from django.contrib.auth.models import User\n"
                "from keys import services\n"
                "from keys.audit import Origin\n"
                "from keys.models import RegisteredKey\n"
                "key = RegisteredKey.objects.get(title='alice-laptop')\n"
                "root = User.objects.get(username='root')\n"
                "reason = 'left the project'\n"
                "services.revoke_key(key=key, actor=root, origin=Origin.command('admin'), given_reason=reason)\n"
                "rows = [key.status]\n",
                env=env,
            )
            submission.join(timeout=60)
            page = alice.get(answers[0].headers["Location"])
        finally:
            portal.stop()

    assert revoked == ["revoked"]
    assert answers[0].status_code == 302
    assert "but it was revoked while NSML answered" in page.text
    assert "has not confirmed your key" not in page.text
    assert "root" in page.text and "left the project" in page.text  # the page says who revoked it, and why
