"""Bulk-load years of history into the bench database with PostgreSQL COPY.

    python bench/load_data.py --dsn postgresql://postgres@127.0.0.1:5432/bench --members 10000 \
        --keys 100000 --audit-rows 1000000 [--audit-offset 0]

Users, keys and audit rows are made up but shaped like the real thing: one member (member00001)
holds 50 keys, the others share the rest; a fifth of the keys are revoked; the audit log spans three
years, mostly log-ins, with registrations, revocations and failures in plausible proportions.
`--audit-offset` appends a further slice, so the benchmark can count queries at two sizes.

Every member's password is `bench.PASSWORD` (hashed once: the hash is what costs, not the copy).
Run by bench/run.py; it needs the bench environment (DJANGO_* and DATABASE_URL) to hash passwords.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = "bench-member-password-1"
ADMIN_USERNAME = "bench-admin"
HEAVY_MEMBER = "member00001"
HEAVY_KEYS = 50
HISTORY_DAYS = 3 * 365
NOW = datetime(2026, 11, 1, tzinfo=UTC)
SEED = 20261101
CHUNK_ROWS = 20_000

AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "manage.py nsml_sync",
)
# (action, weight, outcomes with weights): shaped like a team's log, log-ins first.
ACTIONS = (
    ("login", 45, (("success", 1),)),
    ("logout", 24, (("success", 1),)),
    ("login_failed", 7, (("failed", 1),)),
    ("register", 15, (("success", 80), ("refused", 10), ("rejected", 4), ("failed", 5), ("unknown", 1))),
    ("revoke", 7, (("success", 95), ("failed", 5))),
    ("drift", 1, (("success", 1),)),
    ("assign", 1, (("success", 1),)),
)
REASONS = {"refused": "too_weak", "rejected": "rejected", "failed": "unavailable", "unknown": "unsettled"}


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")


def fingerprint_of(index: int) -> tuple[str, str, str]:
    """(sha256 fingerprint, md5 fingerprint, nsml name) of made-up key number `index`, in the forms the portal
    stores them (keys/sshkeys.py): `SHA256:` and unpadded base64, as ssh-keygen -l prints it; colon hex."""
    blob = hashlib.sha256(f"bench-key-{index}".encode()).digest()
    md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    sha = "SHA256:" + base64.b64encode(blob).decode().rstrip("=")
    return sha, ":".join(md5[i : i + 2] for i in range(0, 32, 2)), md5


def key_owner(index: int, members: int) -> int:
    """User id owning key `index` (0-based): the heavy member gets the first 50, the rest go round."""
    if index < HEAVY_KEYS:
        return 2
    return 3 + (index - HEAVY_KEYS) % (members - 1)


def copy_lines(cursor, table: str, columns: str, lines) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        batch = []
        for line in lines:
            batch.append(line)
            if len(batch) == CHUNK_ROWS:
                copy.write("".join(batch))
                count += len(batch)
                batch.clear()
        if batch:
            copy.write("".join(batch))
            count += len(batch)
    return count


def user_lines(members: int, password_hash: str):
    joined = timestamp(NOW - timedelta(days=HISTORY_DAYS + 30))
    yield f"1\t{password_hash}\t\\N\tt\t{ADMIN_USERNAME}\t\t\t\tt\tt\t{joined}\n"
    for number in range(1, members + 1):
        yield f"{number + 1}\t{password_hash}\t\\N\tf\tmember{number:05d}\tMember\t{number}\t\tf\tt\t{joined}\n"


def key_lines(keys: int, members: int, rng: random.Random):
    start = NOW - timedelta(days=HISTORY_DAYS)
    step = HISTORY_DAYS * 86400 / keys
    for index in range(keys):
        sha, md5, name = fingerprint_of(index)
        created = start + timedelta(seconds=index * step)
        revoked = index >= HEAVY_KEYS and rng.random() < 0.2
        status, revoked_at = ("revoked", timestamp(created + timedelta(days=30))) if revoked else ("active", "\\N")
        key_bytes = sha.removeprefix("SHA256:").encode()[:32]
        blob = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00 " + key_bytes).decode()
        yield (
            f"{index + 1}\t{key_owner(index, members)}\tk{index + 1}\tssh-ed25519\t256\tssh-ed25519 {blob}\t"
            f"laptop-{index % 97}\t{sha}\t{md5}\t{name}\t{status}\t{timestamp(created)}\t{revoked_at}\t\t"
            f"portal\t{revoked_at if revoked else timestamp(created)}\t0\t\t\t\t\n"
        )


def audit_lines(rows: int, offset: int, total: int, keys: int, members: int, rng: random.Random):
    actions = [action for action, weight, _ in ACTIONS for _ in range(weight)]
    outcomes = {
        action: [outcome for outcome, weight in choices for _ in range(weight)] for action, _, choices in ACTIONS
    }
    start = NOW - timedelta(days=HISTORY_DAYS)
    step = HISTORY_DAYS * 86400 / total
    for row in range(offset, offset + rows):
        action = rng.choice(actions)
        outcome = rng.choice(outcomes[action])
        created = timestamp(start + timedelta(seconds=row * step + rng.random() * step))
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        agent = AGENTS[rng.randrange(3)]
        title = fingerprint = trace = code = reason = ""
        status = duration = key_id = "\\N"
        if action in ("register", "revoke"):
            index = rng.randrange(keys)
            user = key_owner(index, members)
            title, fingerprint = f"k{index + 1}", fingerprint_of(index)[0]
            if outcome == "success":
                key_id = str(index + 1)
            if outcome != "refused":
                trace = f"{rng.getrandbits(128):032x}"
                status = {"success": "201", "rejected": "400", "failed": "503", "unknown": "\\N"}[outcome]
                code = {"rejected": "100", "failed": "500"}.get(outcome, "")
                duration = str(rng.randrange(40, 900))
            reason = REASONS.get(outcome, "")
        else:
            user = rng.randrange(2, members + 2)
            if action == "login_failed":
                reason = "bad_password"
            elif action in ("drift", "assign"):
                agent, ip = AGENTS[3], "\\N"
        # What the request id middleware writes; the reconciler's rows (drift, assign) have none.
        request_id = "" if action in ("drift", "assign") else f"{rng.getrandbits(64):016x}"
        actor = "\\N" if action == "drift" else str(user)
        actor_name = "manage.py nsml_sync" if action == "drift" else f"member{user - 1:05d}"
        yield (
            f"{row + 1}\t{created}\t{actor}\t{actor_name}\t{user}\t{action}\t{outcome}\t{key_id}\t{title}\t"
            f"{fingerprint}\t{reason}\t\t{ip}\t{agent}\t{status}\t{code}\t{trace}\t{duration}\t{request_id}\n"
        )


AUDIT_COLUMNS = (
    "id, created_at, actor_id, actor_username, subject_id, action, outcome, registered_key_id, title, "
    "fingerprint, reason, detail, client_ip, user_agent, upstream_status, upstream_error_code, trace_id, duration_ms, "
    "request_id"
)
KEY_COLUMNS = (
    "id, owner_id, title, key_type, bits, public_key, comment, fingerprint_sha256, fingerprint_md5, nsml_name, "
    "status, created_at, revoked_at, revoked_note, source, status_changed_at, revoke_attempts, revoke_reason, "
    "failure, revoke_requested_agent, submitted_agent"
)
USER_COLUMNS = (
    "id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined"
)


def hash_password() -> str:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password

    return make_password(PASSWORD)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--audit-rows", type=int, default=1_000_000, help="rows to add in this run")
    parser.add_argument("--audit-offset", type=int, default=0, help="rows already loaded by an earlier run")
    parser.add_argument("--audit-total", type=int, default=1_000_000, help="rows the history will hold in the end")
    args = parser.parse_args()

    rng = random.Random(SEED + args.audit_offset)
    started = time.monotonic()
    counts = {}
    with psycopg.connect(args.dsn, autocommit=False) as connection:
        with connection.cursor() as cursor:
            # The rows are consistent by construction; skipping the per-row FK triggers makes COPY several
            # times faster. Only for this throwaway database (the setting needs a superuser).
            cursor.execute("SET session_replication_role = replica")
            if args.audit_offset == 0:
                counts["users"] = copy_lines(
                    cursor, "auth_user", USER_COLUMNS, user_lines(args.members, hash_password())
                )
                counts["keys"] = copy_lines(
                    cursor, "keys_registeredkey", KEY_COLUMNS, key_lines(args.keys, args.members, rng)
                )
            lines = audit_lines(args.audit_rows, args.audit_offset, args.audit_total, args.keys, args.members, rng)
            counts["audit rows"] = copy_lines(cursor, "keys_auditevent", AUDIT_COLUMNS, lines)
            for table in ("auth_user", "keys_registeredkey", "keys_auditevent"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        connection.commit()
    with psycopg.connect(args.dsn, autocommit=True) as connection:
        # Fresh statistics and a visibility map, as autovacuum would leave them on a live database.
        connection.execute("VACUUM ANALYZE")
    loaded = ", ".join(f"{count:,} {name}" for name, count in counts.items())
    print(f"loaded {loaded} in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
