"""gunicorn.conf.py, as gunicorn reads it: the worker hooks do what they say."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import free_port

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"

# A worker runs post_worker_init once the portal is loaded; what was loaded by then is frozen.
FROZEN_AFTER_LOAD = f"""
import gc, runpy
conf = runpy.run_path({str(CONF)!r})
before = gc.get_freeze_count()
conf["post_worker_init"](None)
print(before, gc.get_freeze_count() > len(gc.get_objects()))
"""


def test_a_loaded_worker_keeps_its_modules_out_of_full_garbage_collections():
    result = subprocess.run(
        [sys.executable, "-c", FROZEN_AFTER_LOAD], capture_output=True, text=True, timeout=60, check=True
    )

    before, frozen_more_than_left = result.stdout.split()
    assert before == "0"
    assert frozen_more_than_left == "True"  # what was loaded is frozen; little is left for a full pass


def test_two_instances_on_one_host_each_have_their_own_control_socket(tmp_path):
    """Found starting two instances on one host: both logged "Control socket listening at
    ~/.gunicorn/gunicorn.ctl", one path per user, so the second took over the first's."""
    import runpy

    conf = runpy.run_path(str(CONF))

    first = conf["control_socket_for"](["127.0.0.1:8100"])
    second = conf["control_socket_for"](["127.0.0.1:8102"])

    assert first != second
    assert first.endswith("gunicorn-127.0.0.1-8100.ctl")
    assert Path(first).parent == Path(conf["_default_control_socket"]()).parent


def test_a_start_empties_the_metrics_directory_but_for_a_command_still_running(tmp_path):
    import fcntl

    from portal.metrics_files import clear_for_start

    names = ["counter_4242.db", "histogram_4242.db", "counter_command-0.db", "counter_command-1.db"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    with open(tmp_path / "command-1.lock", "a") as running:  # a reconciler's loop holds slot 1
        fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)

        clear_for_start(tmp_path)

    # A previous run's workers and a command that has ended start again at zero; the running one keeps counting.
    assert sorted(path.name for path in tmp_path.glob("*.db")) == ["counter_command-1.db"]


def start_with_metrics_in(directory: Path, **environment: str) -> subprocess.CompletedProcess:
    """gunicorn started with gunicorn.conf.py, as far as it gets: these tests expect it to stop at start."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "GUNICORN_BIND": "127.0.0.1:0", **environment}
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "--config", str(CONF)],
        cwd=CONF.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("name", "value"), [("GUNICORN_THREADS", "forty"), ("GUNICORN_WORKERS", "0")])
def test_a_worker_or_thread_count_that_is_not_one_stops_gunicorn_in_one_line(tmp_path, name, value):
    """Found starting it with GUNICORN_THREADS=x: a traceback from the config file, ending in int()'s words."""
    result = start_with_metrics_in(tmp_path, **{name: value})

    assert result.returncode != 0
    assert f"{name} must be a whole number of at least 1, not {value!r}." in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("environment", "says"),
    [
        ({"GUNICORN_BIND": "127.0.0.1:99999"}, "GUNICORN_BIND names port '99999'"),
        ({"GUNICORN_BIND": "", "PORT": "70000"}, "PORT names port '70000'"),
    ],
)
def test_a_port_past_65535_stops_gunicorn_in_one_line(tmp_path, environment, says):
    """Found following the README's settings table with a mistyped port: GUNICORN_BIND=127.0.0.1:99999 (or PORT)
    stopped gunicorn with a traceback from its socket code, ending in 'OverflowError: bind(): port must be
    0-65535', and the name of no setting."""
    result = start_with_metrics_in(tmp_path, **environment)

    assert result.returncode != 0
    assert f"{says}; a port is a number from 0 to 65535." in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("environment", "says"),
    [
        ({"GUNICORN_BIND": "127.0.0.1:80OO"}, "GUNICORN_BIND names port '80OO'"),
        ({"GUNICORN_BIND": "[::1]:http"}, "GUNICORN_BIND names port 'http'"),
        ({"GUNICORN_BIND": "", "PORT": "8000a"}, "PORT names port '8000a'"),
    ],
)
def test_a_port_that_is_not_a_number_stops_gunicorn_with_a_line_naming_the_variable(tmp_path, environment, says):
    """Found walking the README's settings table: it says a port that is not a number stops gunicorn with a line
    naming the variable, but gunicorn's own refusal was "Error: '80OO' is not a valid port number.", naming none."""
    result = start_with_metrics_in(tmp_path, **environment)

    assert result.returncode != 0
    assert f"{says}; a port is a number from 0 to 65535." in result.stderr + result.stdout


def test_a_metrics_directory_that_cannot_be_made_stops_gunicorn_in_one_line(tmp_path):
    """Found starting gunicorn with PROMETHEUS_MULTIPROC_DIR where no directory can be: a traceback from
    on_starting's mkdir."""
    (tmp_path / "a-file").write_text("")

    result = start_with_metrics_in(tmp_path / "a-file" / "metrics")

    assert result.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR cannot be written (Not a directory" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes a directory whatever its mode")
def test_a_metrics_directory_it_may_not_write_stops_gunicorn_rather_than_fail_every_request(tmp_path):
    """Found with the directory on a read-only mount (as a volume owned by another user is for the image's
    portal user): gunicorn started, and every request, /healthz included, was a 500 from the metrics."""
    tmp_path.chmod(0o555)
    try:
        result = start_with_metrics_in(tmp_path)
    finally:
        tmp_path.chmod(0o755)

    assert result.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR cannot be written (Permission denied" in result.stderr


@contextlib.contextmanager
def serving(env: dict[str, str], port: int, project: Path = CONF.parent) -> Iterator[subprocess.Popen]:
    """gunicorn with `project`'s configuration and `env`, once it answers /healthz on `port`; stopped after."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "--config", str(project / CONF.name), "--workers", "1"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"http://127.0.0.1:{port}/healthz"):
            assert time.monotonic() < deadline and server.poll() is None, f"gunicorn did not answer on {port}"
            time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_metrics_directory_it_made_itself_goes_when_it_stops(tmp_path):
    """Found in QA: without PROMETHEUS_MULTIPROC_DIR every start left a portal-metrics-* directory in /tmp."""
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    port = free_port()
    with serving({**env, "TMPDIR": str(tmp_path), "GUNICORN_BIND": f"127.0.0.1:{port}"}, port):
        made = list(tmp_path.glob("portal-metrics-*"))
        counted = [path.name for directory in made for path in directory.glob("*.db")]

    assert len(made) == 1 and counted  # the workers' directory: /healthz was counted there
    assert not made[0].exists()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def test_without_gunicorn_bind_it_listens_on_the_platforms_port_where_the_probe_asks(tmp_path):
    """Found in QA: with PORT set (as platforms do) and no GUNICORN_BIND, gunicorn still listened on 8000 while
    the container's health probe asked $PORT, so a healthy container was reported unhealthy."""
    env = {key: value for key, value in os.environ.items() if key != "GUNICORN_BIND"}
    port = free_port()
    with serving({**env, "PORT": str(port)}, port):
        probe = [sys.executable, "-m", "portal.probe"]
        probed = subprocess.run(probe, cwd=CONF.parent, env={**env, "PORT": str(port)}, capture_output=True, timeout=30)

    assert probed.returncode == 0, probed.stderr


def test_a_reload_after_a_change_to_the_key_parser_boots_workers_that_use_the_new_code(tmp_path):
    """Found in QA: gunicorn's master loads the access-log class, which imported keys.sshkeys; every worker forked
    after a `kill -HUP` then had the parser of the master's start. A change that another module imports from it
    made each new worker fail with ImportError, and the master shut the portal down."""
    project = tmp_path / "portal-copy"
    root = CONF.parent
    for name in ("keys", "portal", "nsml", "templates", "static", "locale", "locale_overrides"):
        if (root / name).exists():
            shutil.copytree(root / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONF, project / CONF.name)
    port = free_port()
    env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{port}", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    (tmp_path / "metrics").mkdir()
    with serving(env, port, project) as server:
        # A deploy: the parser gains a name, and a module the workers load imports it.
        with (project / "keys" / "sshkeys.py").open("a") as parser:
            parser.write("\nADDED_BY_THE_DEPLOY = 'new'\n")
        with (project / "keys" / "forms.py").open("a") as forms:
            forms.write("\nfrom keys.sshkeys import ADDED_BY_THE_DEPLOY  # noqa: E402, F401\n")
        server.send_signal(signal.SIGHUP)

        time.sleep(8)  # the new worker boots (or fails to), the old one goes

        assert server.poll() is None, "gunicorn shut down after the reload"
        assert _answers(f"http://127.0.0.1:{port}/healthz")


def test_a_start_lowers_no_sum_a_running_reconciler_shares(tmp_path):
    """Found in QA: restarting gunicorn beside a running reconciler removed the workers' counts and kept the
    reconciler's, so `portal_nsml_requests_total{operation="list"}` went from 7 to 5: Prometheus reads a counter
    that goes down as one that started again at zero, and rate() counted the reconciler's 5 as new."""
    import fcntl

    from prometheus_client import CollectorRegistry
    from prometheus_client.mmap_dict import MmapedDict, mmap_key
    from prometheus_client.multiprocess import MultiProcessCollector

    from portal.metrics_files import clear_for_start

    def write(kind: str, writer: str, samples: dict[str, float]) -> None:
        counts = MmapedDict(str(tmp_path / f"{kind}_{writer}.db"))
        for sample, value in samples.items():
            name, _, le = sample.partition(":")
            labels = {"operation": "list", **({"le": le} if le else {})}
            counts.write_value(mmap_key(f"portal_{kind}", name, list(labels), list(labels.values()), ""), value, 0.0)
        counts.close()

    def summed() -> dict[str, float]:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(tmp_path))
        return {f"{s.name}{s.labels.get('le', '')}": s.value for m in registry.collect() for s in m.samples}

    write("counter", "4242", {"portal_counter_total": 2})  # a worker of the previous run
    write("counter", "command-0", {"portal_counter_total": 1})  # a one-shot run that has ended
    write("histogram", "4242", {"portal_histogram_bucket:1.0": 2, "portal_histogram_sum": 0.5})
    write("counter", "command-1", {"portal_counter_total": 5})  # the reconciler's loop, still running
    before = summed()
    write("gauge_livesum", "4242", {"portal_gauge_livesum": 1})  # a worker's live gauge: goes with it
    with open(tmp_path / "command-1.lock", "a") as running:
        fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)

        clear_for_start(tmp_path)
        after_one_start = summed()
        clear_for_start(tmp_path)  # and again: what was kept is not counted twice

    assert before["portal_counter_total"] == 8
    assert summed() == after_one_start == before
    assert sorted(path.name for path in tmp_path.glob("*.db")) == [
        "counter_command-1.db",
        "counter_kept.db",
        "histogram_kept.db",
    ]
