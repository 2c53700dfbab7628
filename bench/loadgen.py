"""One load scenario against a running portal, with locust as a library; bench/run.py calls it.

    python bench/loadgen.py --host http://127.0.0.1:8100 --sessions bench/out/sessions.json \
        --mix submit=32,keys=8 --warmup 3 --duration 20 --out bench/out/slow.json

Users run closed-loop (no think time): each sends its next request as soon as the last answered,
so N users keep N requests in flight. Every answer is recorded raw (start, latency, status and the
Server-Timing figures); bench/run.py computes percentiles from those, not from locust's buckets.
Only requests that start inside the measured window count; the warm-up is thrown away.

Kinds of user: `healthz` and `login` need no account; `keys` (GET /keys/), `browse` (the same,
about four times a second) and `submit` (POST a fresh ed25519 key to /keys/new/) each take their
own member session from --sessions, made by bench/run.py through the log-in form, one member per user.
"""

from __future__ import annotations

import argparse
import json
import re
import time
import uuid

import gevent
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from locust import FastHttpUser, between, constant, events, task
from locust.env import Environment

SERVER_TIMING = re.compile(r"total;dur=([0-9.]+), nsml;dur=([0-9.]+)")
KEYS_PER_BATCH = 200
# Keys made before the run starts, shared by the submitting users, so that making them (about 0.1-0.25 ms
# each, on this side's CPU) is not counted in the portal's submissions per second. Past them, each user
# makes its own in batches, as before.
PREMADE_KEYS_PER_SECOND, PREMADE_KEYS_CAP = 400, 12_000
PREMADE: list[str] = []
SAMPLES: list[tuple] = []
WINDOW = {"start": 0.0, "end": 0.0}
POOLS: dict[str, list[dict]] = {}


def fresh_keys(count: int) -> list[str]:
    lines = []
    for _ in range(count):
        public = ed25519.Ed25519PrivateKey.generate().public_key()
        lines.append(public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode())
    return lines


@events.request.add_listener
def record(request_type, name, response_time, response_length, response, exception, start_time=None, **kwargs):
    started = start_time or time.time()
    if not WINDOW["start"] <= started < WINDOW["end"]:
        return
    status = getattr(response, "status_code", 0) or 0
    timing = SERVER_TIMING.search((response.headers.get("Server-Timing") or "") if response is not None else "")
    total, nsml = (float(timing[1]), float(timing[2])) if timing else (None, None)
    error = str(exception)[:200] if exception else ""
    SAMPLES.append((name, round(started, 4), round(response_time, 3), status, error, total, nsml))


class Member(FastHttpUser):
    """A logged-in member: the session cookie comes from the pool, never from a log-in here."""

    abstract = True
    pool = ""
    wait_time = constant(0)

    def on_start(self) -> None:
        session = POOLS[self.pool].pop()
        self.cookie = f"sessionid={session['sessionid']}; csrftoken={session['csrftoken']}"
        self.csrf = session["csrftoken"]


class HealthUser(FastHttpUser):
    abstract = True
    wait_time = constant(0)

    @task
    def healthz(self) -> None:
        self.client.get("/healthz", name="healthz")


class LoginPageUser(FastHttpUser):
    abstract = True
    wait_time = constant(0)

    @task
    def login_page(self) -> None:
        self.client.get("/accounts/login/", name="login")


class KeyListUser(Member):
    abstract = True
    pool = "browsers"

    @task
    def key_list(self) -> None:
        with self.client.get("/keys/", name="keys", headers={"Cookie": self.cookie}, catch_response=True) as answer:
            if answer.status_code != 200:
                answer.failure(f"GET /keys/ answered {answer.status_code}")


class PacedKeyListUser(KeyListUser):
    """A member at a (brisk) human pace: /keys/ again 0.15-0.35 s after each answer, about four a second.

    The random pause keeps members from arriving in lockstep, which would measure a burst instead.
    """

    abstract = True
    wait_time = between(0.15, 0.35)


class SubmitUser(Member):
    abstract = True
    pool = "submitters"

    def on_start(self) -> None:
        super().on_start()
        self.keys: list[str] = []

    @task
    def submit(self) -> None:
        if not self.keys and not PREMADE:
            self.keys = fresh_keys(KEYS_PER_BATCH)
        key = self.keys.pop() if self.keys else PREMADE.pop()
        form = {"csrfmiddlewaretoken": self.csrf, "title": f"b-{uuid.uuid4().hex[:12]}", "key": key}
        # The explicit Cookie header keeps the jar's `messages` cookie (from the redirect) from piling up.
        with self.client.post(
            "/keys/new/",
            data=form,
            name="submit",
            headers={"Cookie": self.cookie},
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            if answer.status_code != 302:
                answer.failure(f"POST /keys/new/ answered {answer.status_code}, not the redirect of a registration")


KINDS = {
    "healthz": HealthUser,
    "login": LoginPageUser,
    "keys": KeyListUser,
    "browse": PacedKeyListUser,
    "submit": SubmitUser,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--mix", required=True, help="kind=users,... e.g. submit=32,keys=8")
    parser.add_argument("--sessions", help="JSON from bench/run.py: {pool: [{sessionid, csrftoken}, ...]}")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    if args.sessions:
        with open(args.sessions) as file:
            POOLS.update(json.load(file))
    mix = {kind: int(users) for kind, users in (part.split("=") for part in args.mix.split(","))}
    classes = [
        type(f"{KINDS[kind].__name__}x{users}", (KINDS[kind],), {"abstract": False, "fixed_count": users})
        for kind, users in mix.items()
    ]
    total_users = sum(mix.values())
    if "submit" in mix:
        PREMADE.extend(fresh_keys(min(PREMADE_KEYS_CAP, int(PREMADE_KEYS_PER_SECOND * (args.warmup + args.duration)))))
    env = Environment(user_classes=classes, host=args.host, events=events)
    runner = env.create_local_runner()
    began = time.time()
    WINDOW["start"], WINDOW["end"] = began + args.warmup, began + args.warmup + args.duration
    runner.start(total_users, spawn_rate=total_users)
    gevent.sleep(args.warmup + args.duration)
    runner.quit()
    result = {
        "mix": mix,
        "window_s": args.duration,
        "columns": ["name", "start", "latency_ms", "status", "error", "total_ms", "nsml_ms"],
        "samples": SAMPLES,
    }
    with open(args.out, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main()
