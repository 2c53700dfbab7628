"""The reconciler (`nsml_sync`) and `nsml_check` are processes of their own: run with the gunicorn's
PROMETHEUS_MULTIPROC_DIR, their NSML calls and passes are in its /metrics, one-shot runs from cron do not
fill the directory, a running reconciler's figures survive the portal's restart, and a killed one stops
counting as running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.live_portal import BASE_DIR, Gunicorn, live_simulator, manage, portal_database, portal_env
from tests.test_metrics import METRICS, TOKEN, samples

LISTED = ("portal_nsml_requests_total", ("operation", "list"), ("outcome", "success"))
LIST_TIMED = ("portal_nsml_request_duration_seconds_count", ("operation", "list"))
IN_SYNC = ("portal_reconcile_passes_total", ("outcome", "in_sync"))
LOOPS = ("portal_reconciler_loops",)


def counting_env(database_url: str, simulator, metrics_dir: Path) -> dict[str, str]:
    """A portal's and its commands' environment: metrics on, in `metrics_dir`, against `simulator`."""
    return portal_env(
        database_url, METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), NSML_API_URL=simulator.base_url
    )


def scrape(portal: Gunicorn) -> dict[tuple, float]:
    response = requests.get(
        f"{portal.url}{METRICS}", headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"}, timeout=10
    )
    assert response.status_code == 200
    return samples(response.text)


def wait_for(portal: Gunicorn, check, timeout: float = 30.0) -> dict[tuple, float]:
    deadline = time.monotonic() + timeout
    while True:
        found = scrape(portal)
        if check(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in /metrics in {timeout} s: {sorted(found.items())}")
        time.sleep(0.3)


def test_one_shot_runs_count_in_the_portals_scrape_and_reuse_one_set_of_files(tmp_path: Path):
    metrics_dir = tmp_path / "metrics"
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        env = counting_env(database_url, simulator, metrics_dir)
        # One worker, which has written its files by now (it answered Gunicorn()'s /healthz): any file that
        # comes later is a command's.
        portal = Gunicorn(env, tmp_path / "gunicorn.log", workers=1, threads=4)
        try:
            assert scrape(portal).get(LISTED, 0) == 0
            manage(database_url, "nsml_sync", "--apply", env=env)
            files_after_one_run = sorted(path.name for path in metrics_dir.glob("*.db"))
            for _ in range(2):  # what cron does once a minute
                manage(database_url, "nsml_sync", "--apply", env=env)
            manage(database_url, "nsml_check", env=env)

            found = scrape(portal)
        finally:
            portal.stop()

    assert found[LISTED] == 4  # each pass lists NSML once, and so does the check
    assert found[LIST_TIMED] == 4
    assert found[IN_SYNC] == 3
    # The runs share one set of files (the first command slot's), not a set per process: the directory does
    # not grow with each run.
    assert sorted(path.name for path in metrics_dir.glob("*.db")) == files_after_one_run
    assert {"counter_command-0.db", "histogram_command-0.db"} <= set(files_after_one_run)


def test_a_reconciler_loop_counts_across_the_portals_restart_and_not_once_killed(tmp_path: Path):
    metrics_dir = tmp_path / "metrics"
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        env = counting_env(database_url, simulator, metrics_dir)
        portal = Gunicorn(env, tmp_path / "gunicorn.log", workers=1, threads=4)
        loop = subprocess.Popen(
            [sys.executable, "manage.py", "nsml_sync", "--apply", "--every", "5"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            running = wait_for(portal, lambda found: found.get(LISTED, 0) >= 1)
            assert running[LOOPS] == 1

            portal.stop()  # a new release of the web process; the reconciler keeps running
            portal = Gunicorn(env, tmp_path / "gunicorn-2.log", workers=1, threads=4)
            # Its files were kept, so the calls it made before, and those it makes after, are counted.
            after_restart = wait_for(portal, lambda found: found.get(LISTED, 0) >= running[LISTED] + 1)
            assert after_restart[LOOPS] == 1

            os.kill(loop.pid, signal.SIGKILL)  # no exit hook runs
            loop.wait(timeout=10)
            killed = scrape(portal)
        finally:
            if loop.poll() is None:
                loop.kill()
                loop.wait()
            portal.stop()

    assert killed.get(LOOPS, 0) == 0  # not running any more, though it never said so
    assert killed[LISTED] >= after_restart[LISTED]  # what it did stays counted


def test_a_metrics_directory_it_cannot_write_does_not_stop_the_reconciler(tmp_path: Path):
    not_a_directory = tmp_path / "metrics"
    not_a_directory.write_text("")
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        env = portal_env(
            database_url,
            PROMETHEUS_MULTIPROC_DIR=str(not_a_directory / "portal"),
            NSML_API_URL=simulator.base_url,
        )
        result = manage(database_url, "nsml_sync", "--apply", env=env, check=False)

    assert result.returncode == 0, result.stderr
    assert "In sync" in result.stdout
    assert "cannot be written" in result.stdout  # the log, on standard output
