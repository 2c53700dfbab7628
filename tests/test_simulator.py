"""The local NSML simulator over real HTTP: what it verifies, what it holds, and the faults it injects."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings

from nsml.signing import sign_request, timestamp_ms
from nsml.simulator import Faults, KeyRejected, NsmlSimulator
from tests.helpers import free_port

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"
API_KEY = "test-api-gateway-key"
PREFIX = "/nsml/v1"
REPO = Path(__file__).resolve().parent.parent

ALICE_BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIJmamhArTDmgMidQiYbY+t09pHW5oF0ZpekAWJ9QdzQt"
ALICE_KEY = f"ssh-ed25519 {ALICE_BLOB} alice@example"
# `ssh-keygen -l -E md5` of ALICE_KEY
ALICE_FINGERPRINT = "0a:c6:69:2e:6e:51:14:a3:a6:c1:7c:3a:13:6c:50:57"
BOB_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILBUlYB8/c5e/TM739FURwdxqlz+vOgskkTRG5hU1OZU bob@example"


@pytest.fixture
def simulator(tmp_path) -> Iterator[NsmlSimulator]:
    simulator = NsmlSimulator(
        access_key=ACCESS_KEY, secret_key=SECRET_KEY, api_key=API_KEY, state_path=tmp_path / "nsml.json", quiet=True
    )
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


def signed_headers(
    method: str,
    target: str,
    *,
    timestamp: str | None = None,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    api_key: str = API_KEY,
) -> dict[str, str]:
    timestamp = timestamp or timestamp_ms()
    return {
        "x-ncp-apigw-timestamp": timestamp,
        "x-ncp-iam-access-key": access_key,
        "x-ncp-apigw-signature-v2": sign_request(method, target, timestamp, access_key, secret_key),
        "x-ncp-apigw-api-key": api_key,
        "Content-Type": "application/json",
    }


def call(
    simulator: NsmlSimulator,
    method: str,
    path: str,
    *,
    body: object = None,
    headers: dict[str, str] | None = None,
    timeout: float | tuple[float, float] = 5.0,
) -> requests.Response:
    """Send `method path` (after /nsml/v1), signed over the exact target unless `headers` are given."""
    return requests.request(
        method,
        simulator.base_url + path,
        headers=headers if headers is not None else signed_headers(method, PREFIX + path),
        data=json.dumps(body) if body is not None else None,
        timeout=timeout,
    )


def create(simulator: NsmlSimulator, title: str, key: str, **kwargs) -> requests.Response:
    return call(simulator, "POST", "/auth-keys", body={"title": title, "key": key}, **kwargs)


def gateway_error(response: requests.Response, status: int, code: str) -> str:
    """Assert the gateway's error shape and return its details."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["errorCode"] == code
    assert error["message"]
    return error["details"]


def test_it_creates_lists_and_deletes_a_key(simulator):
    created = create(simulator, "alice-laptop", ALICE_KEY)
    assert created.status_code == 201
    assert created.content == b""

    listed = call(simulator, "GET", "/auth-keys")
    assert listed.status_code == 200
    assert listed.json() == {
        "keyList": [
            {
                "name": ALICE_FINGERPRINT.replace(":", ""),
                "title": "alice-laptop",
                "fingerprint": ALICE_FINGERPRINT,
                "createTime": listed.json()["keyList"][0]["createTime"],
            }
        ],
        "totalCount": 1,
    }
    assert [(key["title"], key["key"]) for key in simulator.held_keys()] == [("alice-laptop", ALICE_KEY)]

    deleted = call(simulator, "DELETE", f"/auth-keys/title/alice-laptop/name/{ALICE_FINGERPRINT.replace(':', '')}")
    assert deleted.status_code == 200
    assert simulator.held_keys() == []
    assert call(simulator, "GET", "/auth-keys").json() == {"keyList": [], "totalCount": 0}


def test_it_names_a_key_by_the_md5_of_its_decoded_blob(simulator):
    digest = hashlib.md5(base64.b64decode(ALICE_BLOB)).hexdigest()

    create(simulator, "alice-laptop", ALICE_KEY)

    [held] = simulator.held_keys()
    assert held["name"] == digest
    assert held["fingerprint"] == ":".join(digest[i : i + 2] for i in range(0, 32, 2)) == ALICE_FINGERPRINT


def test_it_stamps_create_time_in_korea_time(tmp_path):
    # 2023-02-08 10:38:02 UTC, the createTime of nsml-api.md's example read as UTC+9
    with NsmlSimulator(
        access_key=ACCESS_KEY, secret_key=SECRET_KEY, api_key=API_KEY, clock=lambda: 1675852682.0, quiet=True
    ) as simulator:
        headers = signed_headers("POST", f"{PREFIX}/auth-keys", timestamp=timestamp_ms(1675852682.0))
        assert create(simulator, "alice-laptop", ALICE_KEY, headers=headers).status_code == 201

    assert simulator.held_keys()[0]["createTime"] == "2023-02-08 19:38:02"


@pytest.mark.parametrize(
    "header",
    ["x-ncp-apigw-timestamp", "x-ncp-iam-access-key", "x-ncp-apigw-signature-v2", "x-ncp-apigw-api-key"],
)
def test_it_requires_every_gateway_header(simulator, header):
    headers = signed_headers("GET", f"{PREFIX}/auth-keys")
    del headers[header]

    details = gateway_error(call(simulator, "GET", "/auth-keys", headers=headers), 401, "200")

    assert header in details


@pytest.mark.parametrize(
    ("target", "changes", "check"),
    [
        (f"{PREFIX}/auth-keys", {"api_key": "other-api-key"}, "x-ncp-apigw-api-key"),
        (f"{PREFIX}/auth-keys", {"access_key": "other-access-key"}, "x-ncp-iam-access-key"),
        (f"{PREFIX}/auth-keys", {"secret_key": "other-secret-key"}, "signature"),
        ("/auth-keys", {}, "signature"),
        (f"{PREFIX}/auth-keys", {"timestamp": "yesterday"}, "x-ncp-apigw-timestamp"),
    ],
    ids=["wrong-api-key", "wrong-access-key", "wrong-secret-key", "target-without-prefix", "timestamp-not-a-number"],
)
def test_it_refuses_a_request_the_gateway_would_refuse(simulator, target, changes, check):
    response = call(simulator, "GET", "/auth-keys", headers=signed_headers("GET", target, **changes))

    details = gateway_error(response, 401, "200")
    assert check in details
    assert SECRET_KEY not in response.text


def test_it_refuses_a_query_that_was_not_signed(simulator):
    unsigned = call(simulator, "GET", "/auth-keys?page=2", headers=signed_headers("GET", f"{PREFIX}/auth-keys"))
    signed = call(simulator, "GET", "/auth-keys?page=2")

    assert "signature" in gateway_error(unsigned, 401, "200")
    assert signed.status_code == 200


@pytest.mark.parametrize(("offset", "status"), [(300, 401), (-300, 401), (299.5, 200), (-299.5, 200)])
def test_it_refuses_a_timestamp_5_minutes_or_more_off(offset, status):
    now = 1_700_000_000.0
    with NsmlSimulator(
        access_key=ACCESS_KEY, secret_key=SECRET_KEY, api_key=API_KEY, clock=lambda: now, quiet=True
    ) as simulator:
        headers = signed_headers("GET", f"{PREFIX}/auth-keys", timestamp=timestamp_ms(now + offset))
        response = call(simulator, "GET", "/auth-keys", headers=headers)

    assert response.status_code == status
    if status == 401:
        assert "x-ncp-apigw-timestamp" in gateway_error(response, 401, "200")


def test_it_stores_nothing_for_an_unauthenticated_create(simulator):
    headers = signed_headers("POST", f"{PREFIX}/auth-keys", secret_key="other-secret-key")

    gateway_error(create(simulator, "alice-laptop", ALICE_KEY, headers=headers), 401, "200")

    assert simulator.held_keys() == []


@pytest.mark.parametrize("title", ["", "1laptop", "-laptop", "alice--laptop", "alice_laptop", "앨리스", "a" * 65])
def test_it_refuses_a_title_nsml_refuses(simulator, title):
    assert gateway_error(create(simulator, title, ALICE_KEY), 400, "100")
    assert simulator.held_keys() == []


@pytest.mark.parametrize(
    "key",
    [
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
        f"ecdsa-sha-nistp256 {ALICE_BLOB}",
        f" ssh-ed25519 {ALICE_BLOB}",
        "ssh-ed25519",
        "ssh-ed25519 not*base64",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJmamhArTDmgMidQiYbY+t09pHW5oF0ZpekAWJ9QdzQ",
        f"ssh-ed25519 {ALICE_BLOB}\nssh-ed25519 {ALICE_BLOB}",
    ],
    ids=["dss", "typo-type", "leading-space", "no-blob", "not-base64", "bad-padding", "two-lines"],
)
def test_it_refuses_a_key_nsml_refuses(simulator, key):
    assert "key" in gateway_error(create(simulator, "alice-laptop", key), 400, "100")
    assert simulator.held_keys() == []


def test_it_refuses_a_duplicate_title(simulator):
    create(simulator, "laptop", ALICE_KEY)

    assert "title" in gateway_error(create(simulator, "laptop", BOB_KEY), 400, "100")
    assert [key["key"] for key in simulator.held_keys()] == [ALICE_KEY]


def test_it_refuses_a_duplicate_key_under_another_title(simulator):
    create(simulator, "alice-laptop", ALICE_KEY)

    assert "key" in gateway_error(create(simulator, "alice-desktop", ALICE_KEY.replace("alice@", "al@")), 400, "100")
    assert [key["title"] for key in simulator.held_keys()] == ["alice-laptop"]


def test_a_deleted_key_may_be_registered_again_under_another_title(simulator):
    create(simulator, "alice-laptop", ALICE_KEY)
    name = simulator.held_keys()[0]["name"]
    assert call(simulator, "DELETE", f"/auth-keys/title/alice-laptop/name/{name}").status_code == 200

    assert create(simulator, "alice-desktop", ALICE_KEY).status_code == 201
    assert [key["title"] for key in simulator.held_keys()] == ["alice-desktop"]


def test_a_restarted_simulator_still_refuses_a_key_it_holds(simulator, tmp_path):
    create(simulator, "alice-laptop", ALICE_KEY)
    simulator.stop()

    restarted = NsmlSimulator(
        access_key=ACCESS_KEY, secret_key=SECRET_KEY, api_key=API_KEY, state_path=tmp_path / "nsml.json", quiet=True
    )
    with restarted:
        assert "key" in gateway_error(create(restarted, "alice-desktop", ALICE_KEY), 400, "100")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("not json", "application/json"), ('["alice-laptop"]', "application/json"), ("{}", "text/plain")],
    ids=["not-json", "not-an-object", "not-labelled-json"],
)
def test_it_refuses_a_malformed_create(simulator, body, content_type):
    headers = {**signed_headers("POST", f"{PREFIX}/auth-keys"), "Content-Type": content_type}

    response = requests.post(f"{simulator.base_url}/auth-keys", data=body, headers=headers, timeout=5)

    gateway_error(response, 400, "100")


def test_it_refuses_a_body_over_64_kib(simulator):
    gateway_error(create(simulator, "alice-laptop", ALICE_KEY + " " + "x" * 65536), 413, "430")


def test_it_answers_404_for_a_pair_it_does_not_hold(simulator):
    create(simulator, "alice-laptop", ALICE_KEY)
    bob_name = "0" * 32

    gateway_error(call(simulator, "DELETE", f"/auth-keys/title/alice-laptop/name/{bob_name}"), 404, "300")
    gateway_error(call(simulator, "DELETE", "/auth-keys/title/nobody/name/" + bob_name), 404, "300")
    assert len(simulator.held_keys()) == 1


@pytest.mark.parametrize(("method", "path"), [("GET", "/clusters"), ("PUT", "/auth-keys"), ("GET", "/auth-keys/")])
def test_it_answers_404_for_any_other_api(simulator, method, path):
    gateway_error(call(simulator, method, path), 404, "300")


def test_it_keeps_its_keys_across_a_restart(simulator, tmp_path):
    create(simulator, "alice-laptop", ALICE_KEY)
    simulator.stop()

    restarted = NsmlSimulator(
        access_key=ACCESS_KEY, secret_key=SECRET_KEY, api_key=API_KEY, state_path=tmp_path / "nsml.json", quiet=True
    )
    with restarted:
        listed = call(restarted, "GET", "/auth-keys").json()

    assert [key["title"] for key in listed["keyList"]] == ["alice-laptop"]
    assert restarted.held_keys() == simulator.held_keys()


def test_console_changes_show_through_the_api(simulator):
    added = simulator.add_key("from-console", BOB_KEY)
    assert [key["title"] for key in call(simulator, "GET", "/auth-keys").json()["keyList"]] == ["from-console"]

    simulator.remove_key("from-console", added["name"])
    response = call(simulator, "DELETE", f"/auth-keys/title/from-console/name/{added['name']}")

    gateway_error(response, 404, "300")
    with pytest.raises(KeyRejected):
        simulator.add_key("bad--title", BOB_KEY)
    with pytest.raises(KeyError):
        simulator.remove_key("from-console", added["name"])


def test_it_records_every_request_it_receives(simulator):
    create(simulator, "alice-laptop", ALICE_KEY)
    call(simulator, "GET", "/auth-keys?page=1")
    simulator.set_faults(Faults(drop=True))
    with pytest.raises(requests.ConnectionError):
        call(simulator, "GET", "/auth-keys")

    assert simulator.requests_seen == [
        ("POST", f"{PREFIX}/auth-keys"),
        ("GET", f"{PREFIX}/auth-keys?page=1"),
        ("GET", f"{PREFIX}/auth-keys"),
    ]


def test_every_answer_carries_a_trace_id_and_a_date(simulator):
    responses = [
        create(simulator, "alice-laptop", ALICE_KEY),
        call(simulator, "GET", "/auth-keys"),
        call(simulator, "GET", "/auth-keys", headers={}),
        call(simulator, "GET", "/clusters"),
        create(simulator, "alice-laptop", ALICE_KEY),
    ]
    simulator.set_faults(Faults(fail_status=503, fail_body="empty"))
    responses.append(call(simulator, "GET", "/auth-keys"))

    trace_ids = [response.headers.get("x-ncp-trace-id") for response in responses]
    assert [response.status_code for response in responses] == [201, 200, 401, 404, 400, 503]
    assert all(trace_ids) and len(set(trace_ids)) == len(trace_ids)
    assert all(response.headers.get("Date") for response in responses)


def test_latency_delays_every_answer(simulator):
    simulator.set_faults(Faults(latency=0.3))

    started = time.monotonic()
    response = call(simulator, "GET", "/auth-keys")

    assert response.status_code == 200
    assert 0.3 <= time.monotonic() - started < 2.0


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("fail_body", "content_type", "check"),
    [
        ("gateway", "application/json", lambda r: r.json()["error"]["errorCode"] == "500"),
        ("gateway-numeric", "application/json", lambda r: r.json()["error"]["errorCode"] == 500),
        ("text-plain", "text/plain", lambda r: json.loads(r.text)["error"]["message"] == "Endpoint Error"),
        ("html", "text/html", lambda r: "<html>" in r.text and "503" in r.text),
        ("garbage", "application/json", lambda r: r.content and not _is_json(r.text)),
        ("empty", "none", lambda r: r.content == b""),
    ],
)
def test_fail_status_answers_with_each_kind_of_body(simulator, fail_body, content_type, check):
    simulator.set_faults(Faults(fail_status=503, fail_body=fail_body))

    response = create(simulator, "alice-laptop", ALICE_KEY)

    assert response.status_code == 503
    assert response.headers.get("Content-Type", "none").startswith(content_type)
    assert check(response)
    assert simulator.held_keys() == []


def test_fail_count_fails_the_next_requests_then_serves(simulator):
    simulator.set_faults(Faults(fail_status=500, fail_count=2))

    statuses = [call(simulator, "GET", "/auth-keys").status_code for _ in range(3)]

    assert statuses == [500, 500, 200]


def test_fail_rate_is_repeatable_with_a_seed(simulator):
    def statuses() -> list[int]:
        simulator.set_faults(Faults(fail_status=500, fail_rate=0.5, seed=7))
        return [call(simulator, "GET", "/auth-keys").status_code for _ in range(12)]

    first = statuses()

    assert first == statuses()
    assert set(first) == {200, 500}


def test_fail_methods_limits_failures_to_those_methods(simulator):
    simulator.set_faults(Faults(fail_status=504, fail_methods=frozenset({"post"})))

    assert call(simulator, "GET", "/auth-keys").status_code == 200
    gateway_error(create(simulator, "alice-laptop", ALICE_KEY), 504, "510")
    assert simulator.held_keys() == []


def test_fail_code_picks_among_a_status_codes_and_retry_after_is_sent(simulator):
    simulator.set_faults(Faults(fail_status=429, fail_code="410", retry_after=7))

    response = call(simulator, "GET", "/auth-keys")

    gateway_error(response, 429, "410")
    assert response.json()["error"]["message"] == "Throttle Limited"
    assert response.headers["Retry-After"] == "7"


def test_retry_after_is_sent_only_with_429_and_503(simulator):
    simulator.set_faults(Faults(fail_status=500, retry_after=7))

    assert "Retry-After" not in call(simulator, "GET", "/auth-keys").headers


@pytest.mark.parametrize(
    "faults",
    [
        {"fail_status": 418},
        {"fail_status": 401, "fail_code": "300"},
        {"fail_code": "200"},
        {"fail_body": "xml"},
        {"fail_rate": 1.5},
    ],
)
def test_faults_refuse_what_the_gateway_never_answers(faults):
    with pytest.raises(ValueError):
        Faults(**faults)


def test_drop_closes_the_connection_without_an_answer(simulator):
    simulator.set_faults(Faults(drop=True, fail_methods=frozenset({"POST"}), fail_count=1))

    with pytest.raises(requests.ConnectionError):
        create(simulator, "alice-laptop", ALICE_KEY)

    assert simulator.held_keys() == []
    assert call(simulator, "GET", "/auth-keys").status_code == 200
    assert create(simulator, "alice-laptop", ALICE_KEY).status_code == 201


def test_slow_commit_stores_the_key_though_the_client_times_out(simulator):
    simulator.set_faults(Faults(slow_commit=1.0))

    with pytest.raises(requests.ReadTimeout):
        create(simulator, "alice-laptop", ALICE_KEY, timeout=(2.0, 0.3))

    assert [key["title"] for key in call(simulator, "GET", "/auth-keys").json()["keyList"]] == ["alice-laptop"]


def _wait_until_listening(port: int, process: subprocess.Popen, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nsml_simulator exited early: {process.communicate()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nsml_simulator did not listen on {port} within {seconds}s")


def test_the_command_serves_signed_requests_until_terminated(tmp_path):
    port = free_port()
    state_file = tmp_path / "var" / "nsml.json"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "nsml_simulator", "--port", str(port), "--state-file", str(state_file)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_listening(port, process)
        headers = signed_headers(
            "GET",
            f"{PREFIX}/auth-keys",
            access_key=settings.NCP_ACCESS_KEY,
            secret_key=settings.NCP_SECRET_KEY,
            api_key=settings.NSML_API_KEY,
        )
        response = requests.get(f"http://127.0.0.1:{port}{PREFIX}/auth-keys", headers=headers, timeout=5)
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)

    assert response.json() == {"keyList": [], "totalCount": 0}
    assert process.returncode == 0, err
    assert f"listening on http://127.0.0.1:{port}{PREFIX}" in out
    assert "faults: none" in out
    assert re.search(rf"GET {PREFIX}/auth-keys 200 trace=[0-9a-f]{{32}}", err)
    for secret in (settings.NCP_SECRET_KEY, settings.NSML_API_KEY, headers["x-ncp-apigw-signature-v2"]):
        assert secret not in out + err
    assert state_file.parent.is_dir()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "99999"], "argument --port: '99999' is not a TCP port (0 to 65535)"),
        (["--port", "eighty"], "argument --port: 'eighty' is not a TCP port (0 to 65535)"),
        (
            ["--state-file", "/proc/no-such-folder/nsml.json"],
            "Cannot keep the state file /proc/no-such-folder/nsml.json",
        ),
    ],
)
def test_the_command_refuses_a_port_or_state_folder_it_cannot_use_in_one_line(args, says):
    """Found trying them: an out-of-range port and a state folder it cannot make ended in tracebacks."""
    result = subprocess.run(
        [sys.executable, "manage.py", "nsml_simulator", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert says in result.stderr
    assert "Traceback" not in result.stderr
