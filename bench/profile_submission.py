"""One key submission, step by step: SQL queries and time of each, at one member, NSML at zero latency.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/profile_submission.py

Runs against a throw-away test database (Django's test runner machinery) with the real simulator over
HTTP; prints every query of one submission, grouped by what issued it, and the median time of each step
over a number of submissions. What the issue calls "profile a submission first".
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

RUNS = int(os.environ.get("RUNS", "40"))


def main() -> None:
    setup_test_environment(debug=False)  # as in production: no SQL kept and formatted for a debug log
    from django.test.utils import get_runner

    runner = get_runner(settings)(verbosity=0, interactive=False)
    old = runner.setup_databases()
    try:
        profile()
    finally:
        runner.teardown_databases(old)


def profile() -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    from nsml.simulator import NsmlSimulator
    from tests.helpers import generate_private_key, public_line

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.KEYS_SUBMIT_RATE = "100000/m"
    simulator = NsmlSimulator(
        access_key=settings.NCP_ACCESS_KEY,
        secret_key=settings.NCP_SECRET_KEY,
        api_key=settings.NSML_API_KEY,
        quiet=True,
    )
    simulator.start()
    settings.NSML_API_URL = simulator.base_url
    try:
        User.objects.create_user("profiled", password="profiled-password-1")
        client = Client()
        # Checked with `if`, not `assert`: under the image's python -OO an assert, and the request in it, is gone.
        logged_in = client.post("/accounts/login/", {"username": "profiled", "password": "profiled-password-1"})
        if logged_in.status_code != 302:
            raise SystemExit(f"log-in answered {logged_in.status_code}")
        client.get("/keys/new/")
        keys = [public_line(generate_private_key("ed25519")) for _ in range(RUNS + 2)]
        # The session's first submission also keeps the member's language for later emails (once per
        # session, keys.views._remember_language): the one printed is the next, as every later one is.
        first = client.post("/keys/new/", {"title": "profiled-first", "key": keys.pop()})
        if first.status_code != 302:
            raise SystemExit(f"the first submission answered {first.status_code}")
        client.cookies.pop("messages", None)

        with CaptureQueriesContext(connection) as captured:
            response = client.post("/keys/new/", {"title": "profiled-0", "key": keys[0]})
        if response.status_code != 302:
            raise SystemExit(f"the profiled submission answered {response.status_code}")
        client.cookies.pop("messages", None)
        print(f"One submission: {len(captured)} SQL statements on {connection.vendor}, in order:\n")
        for query in captured.captured_queries:
            print(f"  {query['time']:>6} s  {query['sql'][:110]}")

        totals, nsml = [], []
        for number, key in enumerate(keys[1:], start=1):
            started = time.perf_counter()
            response = client.post("/keys/new/", {"title": f"profiled-{number}", "key": key})
            client.cookies.pop("messages", None)  # as a browser that follows the redirect would
            totals.append((time.perf_counter() - started) * 1000)
            timing = dict(part.split(";dur=") for part in response["Server-Timing"].split(", "))
            nsml.append(float(timing["nsml"]))
        print(
            f"\n{RUNS} submissions: median {statistics.median(totals):.1f} ms in all, "
            f"{statistics.median(nsml):.1f} ms of it waiting for NSML, "
            f"{statistics.median(t - n for t, n in zip(totals, nsml, strict=True)):.1f} ms the portal's own"
        )
    finally:
        simulator.stop()


if __name__ == "__main__":
    main()
