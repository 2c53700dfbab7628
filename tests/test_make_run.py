"""`make run` on another address: the portal, the reconciler and the links in their emails agree on it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def make_run_commands(*variables: str) -> list[str]:
    """The commands `make run` would run (make -n), without starting any."""
    env = {name: value for name, value in os.environ.items() if name not in ("PORTAL_URL", "NSML_API_URL")}
    result = subprocess.run(
        ["make", "-n", "run", *variables], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_reminders_the_reconciler_sends_link_to_the_address_make_run_serves():
    # The expiry reminders' rotate links pointed at the default 127.0.0.1:8000 whatever PORTAL_ADDR said.
    lines = make_run_commands("PORTAL_ADDR=127.0.0.1:18499", "SIMULATOR_PORT=18498")

    reconciler = next(line for line in lines if "nsml_sync --apply" in line)
    portal = next(line for line in lines if "runserver 127.0.0.1:18499" in line)
    assert "PORTAL_URL=http://127.0.0.1:18499 " in reconciler
    assert "PORTAL_URL=http://127.0.0.1:18499 " in portal
