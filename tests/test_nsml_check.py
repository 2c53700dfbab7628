from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command

from keys.management.commands.nsml_check import EXIT_STATUS
from nsml.simulator import Faults, NsmlSimulator
from tests.helpers import command_help, free_port, readme_command_row
from tests.live_portal import BASE_DIR


def check() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("nsml_check", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def failing_check() -> str:
    with pytest.raises(CommandError) as caught:
        check()
    return str(caught.value)


def test_it_reports_ok_with_the_number_of_keys(nsml, new_public_key):
    nsml.add_key("laptop", new_public_key())
    nsml.add_key("desktop", new_public_key())

    out, _ = check()

    assert "OK" in out
    assert "holds 2 key(s)" in out


def test_it_names_missing_settings(settings):
    settings.NCP_SECRET_KEY = ""
    settings.NSML_API_KEY = " "

    assert "Settings missing: NCP_SECRET_KEY, NSML_API_KEY" in failing_check()


def test_it_says_when_the_host_is_unreachable(settings):
    settings.NSML_API_URL = f"http://127.0.0.1:{free_port()}/nsml/v1"

    assert "Host unreachable" in failing_check()


@pytest.mark.parametrize("url", ["notaurl", "127.0.0.1:8001/nsml/v1", "ftp://nsml.example/nsml/v1", "http:///nsml/v1"])
def test_it_says_when_the_address_is_not_one(settings, url):
    """Found running it: NSML_API_URL=notaurl was diagnosed as "No answer within NSML_TIMEOUT: the host
    accepted the connection but did not answer" (requests' MissingSchema), though nothing was sent."""
    settings.NSML_API_URL = url

    message = failing_check()

    assert "NSML_API_URL must be an http:// or https:// address with a host" in message
    assert "No answer within NSML_TIMEOUT" not in message


@pytest.mark.parametrize(("name", "value"), [("NSML_TIMEOUT", 0.0), ("NSML_CONNECT_TIMEOUT", -1.0)])
def test_it_names_a_timeout_it_cannot_use(settings, name, value):
    """Found by running it with NSML_TIMEOUT=0, as an operator checking a setting might: the command skips
    the system checks, and the answer was requests' traceback ("Invalid timeout (3.05, 0.0)")."""
    setattr(settings, name, value)

    assert failing_check() == f"{name} must be at least 0.1, not {value}."


def test_it_says_when_credentials_are_refused(nsml, settings):
    settings.NCP_SECRET_KEY = "rotated-secret-value"

    message = failing_check()

    assert "Credentials refused" in message
    assert "HTTP 401, gateway code 200" in message
    assert "rotated-secret-value" not in message


def test_it_says_when_the_subscription_is_missing(nsml):
    nsml.set_faults(Faults(fail_status=401, fail_code="210"))

    assert "Subscription missing" in failing_check()


def test_it_diagnoses_clock_skew(settings, tmp_path):
    skewed = NsmlSimulator(
        access_key=settings.NCP_ACCESS_KEY,
        secret_key=settings.NCP_SECRET_KEY,
        api_key=settings.NSML_API_KEY,
        clock=lambda: time.time() + 600,
        quiet=True,
    )
    with skewed:
        settings.NSML_API_URL = skewed.base_url
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(CommandError) as caught:
            call_command("nsml_check", stdout=out, stderr=err)

    assert "Clock skew" in str(caught.value)
    assert "-600 s" in err.getvalue() or "-599 s" in err.getvalue()


def test_its_help_lists_the_exit_statuses_as_the_readme_does():
    """Found running it: `nsml_check --help` did not say what its exit status means to a script."""
    shown = command_help("nsml_check")

    assert "Exit status: 0 when NSML answered" in shown
    assert "1 when it did not, or a setting is missing or unusable" in shown
    assert EXIT_STATUS.rstrip(".") in readme_command_row("nsml_check")


def test_a_dropped_connection_is_called_dropped_not_a_timeout(settings):
    """Found running it: against `nsml_simulator --drop`, nsml_check said "No answer within NSML_TIMEOUT",
    though the connection closed at once; the operator went looking at timeouts."""
    port = free_port()
    simulator = subprocess.Popen(
        [sys.executable, "manage.py", "nsml_simulator", "--port", str(port), "--drop"],
        cwd=BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nsml_simulator did not start"
                time.sleep(0.05)
        env = {**os.environ, "NSML_API_URL": f"http://127.0.0.1:{port}/nsml/v1"}
        result = subprocess.run(
            [sys.executable, "manage.py", "nsml_check"], cwd=BASE_DIR, env=env, capture_output=True, text=True
        )
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)

    assert result.returncode == 1
    assert "Connection dropped: the host accepted the request, then closed the connection" in result.stderr
    assert "NSML_TIMEOUT" not in result.stderr


@pytest.mark.parametrize(
    ("faults", "says"),
    [
        (Faults(drop=True), "Connection dropped"),
        (Faults(fault_rate=1.0, fault_kinds=("drop-before",)), "Connection dropped"),
        (Faults(latency=3), "Timed out: the host accepted the request but did not answer within NSML_TIMEOUT (0.5s)"),
        (Faults(fault_rate=1.0, fault_kinds=("late",), late_seconds=3), "Timed out"),
        (Faults(fail_status=503), "NSML is unavailable"),
        (Faults(fault_rate=1.0, fault_kinds=("html-error",)), "NSML is unavailable"),
    ],
)
def test_it_says_what_happened_for_each_fault(nsml, settings, faults, says):
    settings.NSML_TIMEOUT = 0.5
    nsml.set_faults(faults)

    message = failing_check()

    assert message.startswith(says), message
    others = {"Connection dropped", "Timed out", "Host unreachable", "NSML is unavailable"} - {says.split(":")[0]}
    assert not [other for other in others if other in message]


def test_a_refused_connection_says_so(settings):
    settings.NSML_API_URL = f"http://127.0.0.1:{free_port()}/nsml/v1"

    message = failing_check()

    assert message.startswith("Host unreachable: the connection was refused"), message
    assert "(no HTTP answer: connection to NSML refused)" in message


def test_with_json_logs_every_line_it_writes_is_a_json_line(settings, new_public_key):
    """Found running it in a container beside the portal with LOG_FORMAT=json: "Checking ..." and "OK: NSML answered
    ..." came as plain lines into a log collector that reads JSON."""
    simulator = NsmlSimulator(
        access_key=settings.NCP_ACCESS_KEY,
        secret_key=settings.NCP_SECRET_KEY,
        api_key=settings.NSML_API_KEY,
        quiet=True,
    )
    with simulator:
        simulator.add_key("laptop", new_public_key())
        env = {**os.environ, "NSML_API_URL": simulator.base_url, "LOG_FORMAT": "json"}
        result = subprocess.run(
            [sys.executable, "manage.py", "nsml_check"], cwd=BASE_DIR, env=env, capture_output=True, text=True
        )

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (result.stdout + result.stderr).splitlines()]
    assert [(line["level"], line["logger"]) for line in lines] == [("INFO", "keys.commands.nsml_check")] * 2
    assert lines[0]["message"].startswith(f"Checking {simulator.base_url}")
    assert lines[1]["message"].startswith("OK: NSML answered in ") and "holds 1 key(s)" in lines[1]["message"]
