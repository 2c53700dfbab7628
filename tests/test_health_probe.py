"""The Dockerfile's HEALTHCHECK, `python -m portal.probe`: 0 when a production-configured portal answers, 1 when not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.probe import _address
from tests.helpers import PRODUCTION_REQUIRED, free_port
from tests.live_portal import BASE_DIR, Gunicorn, portal_database, portal_env, static_root_env


def probe(port: int, path: str, allowed_hosts: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PORT": str(port), "DJANGO_ALLOWED_HOSTS": allowed_hosts}
    return subprocess.run(
        [sys.executable, "-m", "portal.probe", path], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=30
    )


def test_it_passes_through_the_host_check_and_the_https_redirect_of_production_settings(
    tmp_path: Path, collected_static: Path
):
    hosts = "keys.example.internal,127.0.0.1"
    with portal_database(tmp_path) as database_url:
        env = portal_env(
            database_url,
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY="probe-test-" + "x" * 50,
            DJANGO_ALLOWED_HOSTS=hosts,
            CACHE_URL=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/0"),
            **PRODUCTION_REQUIRED,
            **static_root_env(collected_static),  # as after collectstatic: without it, not ready
        )
        portal = Gunicorn(env, tmp_path / "gunicorn.log", workers=1, threads=2)
        try:
            results = {path: probe(portal.port, path, hosts) for path in ("/healthz", "/readyz", "/keys/")}
        finally:
            portal.stop()

    assert results["/healthz"].returncode == 0, results["/healthz"].stderr
    assert results["/readyz"].returncode == 0, results["/readyz"].stderr  # a fresh install, before its first pass
    # A page that is not a probe answers with a redirect to log in: not 200, so the probe fails.
    assert results["/keys/"].returncode == 1
    assert "302" in results["/keys/"].stderr


def test_it_fails_when_nothing_answers():
    result = probe(free_port(), "/healthz", "keys.example.internal")

    assert result.returncode == 1
    assert "/healthz" in result.stderr


def probe_gunicorn_on(tmp_path: Path, host: str) -> subprocess.CompletedProcess:
    """`python -m portal.probe` run as the image's HEALTHCHECK runs it, against a gunicorn bound to `host`."""
    with portal_database(tmp_path) as database_url:
        env = portal_env(database_url, DJANGO_ALLOWED_HOSTS=host)
        portal = Gunicorn(env, tmp_path / "gunicorn.log", workers=1, threads=2, host=host)
        try:
            env = {"PATH": "/usr/bin:/bin", "GUNICORN_BIND": f"{host}:{portal.port}", "DJANGO_ALLOWED_HOSTS": host}
            return subprocess.run(
                [sys.executable, "-m", "portal.probe"],
                cwd=BASE_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
        finally:
            portal.stop()


def test_it_probes_the_port_gunicorn_binds(tmp_path: Path):
    """Found by moving the port with GUNICORN_BIND (gunicorn.conf.py): the probe kept asking 8000."""
    result = probe_gunicorn_on(tmp_path, "127.0.0.1")
    assert result.returncode == 0, result.stderr


def test_it_probes_the_address_gunicorn_binds(tmp_path: Path):
    """Found by binding gunicorn to one address (GUNICORN_BIND=<that address>:8000, not every interface): the
    probe kept asking 127.0.0.1, where nothing listened, so a healthy container was marked unhealthy."""
    result = probe_gunicorn_on(tmp_path, "127.0.0.2")
    assert result.returncode == 0, result.stderr


def test_a_port_that_is_not_one_is_named():
    env = {"PATH": "/usr/bin:/bin", "PORT": "abc"}
    result = subprocess.run(
        [sys.executable, "-m", "portal.probe"], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )

    assert result.returncode == 1
    assert "no port to probe: 'abc'" in result.stderr


@pytest.mark.parametrize(
    ("bind", "address"),
    [("127.0.0.2", ("127.0.0.2", "8000")), ("[::1]", ("[::1]", "8000")), ("0.0.0.0", ("127.0.0.1", "8000"))],
)
def test_a_bind_without_a_port_is_probed_on_gunicorns_port_8000(monkeypatch, bind, address):
    """Found walking the README's GUNICORN_BIND row ("the same address when GUNICORN_BIND names one"): gunicorn
    serves a host alone on port 8000, but the probe read the host as the port, "no port to probe: '127.0.0.2'"
    (or "'1]'" for [::1]), and marked a healthy container unhealthy."""
    monkeypatch.setenv("GUNICORN_BIND", bind)

    assert _address() == address
