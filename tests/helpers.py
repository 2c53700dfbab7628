"""Plain helpers the tests import (fixtures live in tests/conftest.py): keys, free ports, NSML calls seen."""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization

from nsml.simulator import Faults
from tests import keygen

if TYPE_CHECKING:
    from nsml.simulator import NsmlSimulator

_PRIVATE_FORMATS = {
    "openssh": serialization.PrivateFormat.OpenSSH,
    "pem": serialization.PrivateFormat.TraditionalOpenSSL,
    "pkcs8": serialization.PrivateFormat.PKCS8,
}


# What production (DJANGO_DEBUG=false) needs besides a secret key, refused when missing (portal/settings.py):
# credentials other than the development ones, and an email backend chosen on purpose.
PRODUCTION_REQUIRED = {
    "NCP_ACCESS_KEY": "test-access-key",
    "NCP_SECRET_KEY": "test-secret-key",
    "NSML_API_KEY": "test-api-gateway-key",
    "EMAIL_URL": "dummymail://",
}


def delete_answered_then_refused() -> Faults:
    """NSML deletes the key but its answer is lost (the connection closes after), and both retries of the DELETE
    are refused with 429; the list that follows is answered. Seeded: the same every run."""
    return Faults(
        fail_status=429,
        fail_methods=frozenset({"DELETE"}),
        fail_rate=0.5,
        fault_rate=0.5,
        fault_kinds=("drop-after",),
        seed=69,
    )


def on_postgresql() -> bool:
    """The suite runs on PostgreSQL (CI's second run), not the development SQLite."""
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def postgresql_only(reason: str) -> pytest.MarkDecorator:
    """Skip on SQLite, saying why the test needs PostgreSQL (CI runs it there)."""
    return pytest.mark.skipif(not on_postgresql(), reason=f"{reason} (CI runs this on PostgreSQL)")


def generate_private_key(kind: str = "ed25519"):
    """A new private key: "ed25519", "rsa2048", "ecdsa384", ... (the names in tests/keygen.py KINDS)."""
    return keygen.generate(kind)


def public_line(private_key, comment: str = "") -> str:
    """The private key's OpenSSH public key line, with the comment when there is one."""
    line = private_key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{line.decode()} {comment}".strip()


def private_text(private_key, fmt: str = "openssh") -> str:
    """The private key as a member might paste it by mistake: "openssh", "pem" or "pkcs8"."""
    return private_key.private_bytes(
        serialization.Encoding.PEM, _PRIVATE_FORMATS[fmt], serialization.NoEncryption()
    ).decode()


def posts_seen(simulator: NsmlSimulator) -> list[str]:
    """The paths of every POST the simulator has answered, in order."""
    return [path for method, path in simulator.requests_seen if method == "POST"]


def free_port() -> int:
    """A loopback port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def private_redis(*options: str) -> Iterator[int]:
    """A Redis of its own on a free port (redis-server's `options` added), for the length of the block: its port.
    Skips the test where redis-server is not installed."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *options],
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
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def nsml_sync(*args: str) -> tuple[int, str]:
    """Run `manage.py nsml_sync` in this process: (exit status, what it printed)."""
    from django.core.management import CommandError, call_command

    out = io.StringIO()
    try:
        call_command("nsml_sync", *args, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


def shell_in_fresh_process(script: str, **environment: str) -> str:
    """What `manage.py shell -c script` prints in a new process: the tests' environment without the
    DJANGO_* and CACHE_URL settings, then `environment` (e.g. DATABASE_URL)."""
    from django.conf import settings

    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CACHE_URL"))}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=settings.BASE_DIR,
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def with_a_rate_window_ahead(member_pk: object, margin_s: float = 15.0) -> None:
    """Wait, when need be, until the member's KEYS_SUBMIT_RATE window has `margin_s` or more ahead, so a
    test's submissions all count in one window: django-ratelimit's windows are fixed, each member's begins
    at a second of its own, and one that ended mid-test would start the count again."""
    from django.conf import settings
    from django_ratelimit.core import _get_window, _split_rate

    _limit, period = _split_rate(settings.KEYS_SUBMIT_RATE)
    ends = _get_window(str(member_pk), period)
    if ends - time.time() < margin_s:
        # The window is still this one through its last whole second (`ends` itself, which may be now).
        time.sleep(max(ends - time.time(), 0.0) + 1.1)


def at_the_start_of_a_second() -> None:
    """Wait until a second has just begun: a rate per second (`1/s`) counts submissions in that second alone."""
    time.sleep(1.02 - time.time() % 1)


def migrate_to(targets: list[tuple[str, str]]):
    """The database migrated (forwards or back) to `targets`; the apps registry of that state, for a migration
    test to make rows with the models as they were then."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest_migrations() -> list[tuple[str, str]]:
    """Every app's last migration: a migration test ends there, leaving the database as the suite found it."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def command_help(command: str) -> str:
    """`manage.py COMMAND --help` as an operator runs it, its words on one line (argparse wraps them)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "manage.py", command, "--help"], cwd=root, capture_output=True, text=True, check=True
    )
    return " ".join(result.stdout.split())


def readme_command_row(command: str) -> str:
    """The row of README's Operating table for `python manage.py COMMAND`, without its backticks."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "README.md"), encoding="utf-8") as readme:
        rows = [line for line in readme if line.startswith(f"| `python manage.py {command}")]
    assert len(rows) == 1, rows
    return rows[0].replace("`", "")


def bench_run_module():
    """bench/run.py as a module (bench/ is no package): what `make bench` reads, such as the image's settings."""
    from django.conf import settings

    spec = importlib.util.spec_from_file_location("bench_run", settings.BASE_DIR / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
