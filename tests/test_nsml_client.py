"""The NSML client against the simulator over real HTTP: signing, retries, and naming failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nsml.client import Failure, NsmlClient, NsmlConfig, NsmlError, _environment
from nsml.simulator import Faults
from tests.helpers import free_port, posts_seen


def client_for(nsml, **overrides) -> NsmlClient:
    fields = {
        "base_url": nsml.base_url,
        "access_key": "dev-access-key",
        "secret_key": "dev-secret-key",
        "api_key": "dev-api-gateway-key",
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
    }
    return NsmlClient(NsmlConfig(**{**fields, **overrides}))


def failure_of(call) -> NsmlError:
    with pytest.raises(NsmlError) as caught:
        call()
    return caught.value


def test_it_creates_lists_and_deletes(nsml, new_public_key):
    client = client_for(nsml)
    line = new_public_key()

    created = client.create_key("laptop", line)
    keys, listed = client.list_keys()
    deleted = client.delete_key("laptop", keys[0].name)

    assert created.status == 201
    assert created.trace_id
    assert [key.title for key in keys] == ["laptop"]
    assert listed.status == 200
    assert deleted.status == 200
    assert nsml.held_keys() == []


def test_a_key_list_shorter_than_its_total_count_is_not_read_as_the_whole(nsml, new_public_key):
    for title in ("first", "second"):
        nsml.add_key(title, new_public_key())
    nsml.set_faults(Faults(short_list=1))

    error = failure_of(client_for(nsml).list_keys)

    assert error.failure is Failure.BAD_RESPONSE
    assert error.reply.detail == "the key list holds 1 keys but its totalCount says 2"


def test_a_get_is_retried_after_a_503(nsml):
    nsml.set_faults(Faults(fail_status=503, fail_count=1, fail_methods=frozenset({"GET"})))

    keys, reply = client_for(nsml).list_keys()

    assert reply.status == 200
    assert [method for method, _ in nsml.requests_seen] == ["GET", "GET"]


def test_a_get_honours_retry_after(nsml):
    nsml.set_faults(Faults(fail_status=429, fail_count=1, retry_after=1, fail_methods=frozenset({"GET"})))

    started = time.monotonic()
    client_for(nsml, read_timeout=3.0).list_keys()

    assert time.monotonic() - started >= 1.0
    assert len(nsml.requests_seen) == 2


def test_a_retry_after_longer_than_the_client_waits_ends_the_call_with_nsmls_answer(nsml):
    nsml.set_faults(Faults(fail_status=503, retry_after=120, fail_methods=frozenset({"GET"})))

    started = time.monotonic()
    error = failure_of(client_for(nsml, read_timeout=30.0).list_keys)  # the reconciler's timeout: time to spare

    assert time.monotonic() - started < 2
    assert (error.failure, error.reply.retry_after) == (Failure.UNAVAILABLE, 120)
    assert len(nsml.requests_seen) == 1


def test_a_wait_that_ends_past_the_deadline_gives_nsmls_answer_not_a_crash(nsml, monkeypatch):
    """A loaded host wakes a sleeping thread late: the retry the wait was for has no time left, and the
    answer that asked for the wait is the outcome (before, requests refused the negative timeout: a 500)."""
    nsml.set_faults(Faults(fail_status=429, retry_after=1, fail_methods=frozenset({"GET"})))
    sleep, caller = time.sleep, threading.current_thread()
    # Late for the client's caller only: the simulator's thread keeps its own timing.
    monkeypatch.setattr(time, "sleep", lambda s: sleep(s + 1.5 if threading.current_thread() is caller else s))

    error = failure_of(client_for(nsml).list_keys)  # 2 s in all: the 1 s wait fits, the late wake-up does not

    assert error.failure is Failure.THROTTLED
    assert error.reply.retry_after == 1
    assert len(nsml.requests_seen) == 1


def test_a_delete_is_retried_after_a_dropped_connection(nsml, new_public_key):
    line = new_public_key()
    held = nsml.add_key("laptop", line)
    nsml.set_faults(Faults(drop=True, fail_count=1, fail_methods=frozenset({"DELETE"})))

    reply = client_for(nsml).delete_key("laptop", held["name"])

    assert reply.status == 200
    assert nsml.held_keys() == []


def test_retries_stop_after_three_attempts(nsml):
    nsml.set_faults(Faults(fail_status=503, fail_methods=frozenset({"GET"})))

    error = failure_of(client_for(nsml, read_timeout=3.0).list_keys)

    assert error.failure is Failure.UNAVAILABLE
    assert len(nsml.requests_seen) == 3


def test_a_post_is_never_retried(nsml, new_public_key):
    nsml.set_faults(Faults(fail_status=503, fail_count=1))

    error = failure_of(lambda: client_for(nsml).create_key("laptop", new_public_key()))

    assert error.failure is Failure.UNAVAILABLE
    assert len(posts_seen(nsml)) == 1
    assert nsml.held_keys() == []


@pytest.mark.parametrize(
    ("status", "code", "failure"),
    [
        (400, "100", Failure.REJECTED),
        (401, "200", Failure.CREDENTIALS),
        (401, "210", Failure.PERMISSION),
        (403, "230", Failure.PERMISSION),
        (404, "300", Failure.NOT_FOUND),
        (406, "100", Failure.REJECTED),
        (413, "430", Failure.REJECTED),
        (429, "410", Failure.THROTTLED),
        (500, "900", Failure.UNAVAILABLE),
        (502, "500", Failure.UNAVAILABLE),
        (503, "500", Failure.UNAVAILABLE),
        (504, "510", Failure.UNAVAILABLE),
    ],
)
def test_it_names_each_gateway_answer(nsml, new_public_key, status, code, failure):
    nsml.set_faults(Faults(fail_status=status, fail_code=code))

    error = failure_of(lambda: client_for(nsml).create_key("laptop", new_public_key()))

    assert error.failure is failure
    assert error.reply.status == status
    assert error.reply.error_code == code
    assert error.reply.trace_id


@pytest.mark.parametrize(
    ("body", "expected_code", "detail"),
    [
        ("gateway", "900", "Unexpected Error"),
        ("gateway-numeric", "900", "Unexpected Error"),
        ("text-plain", "900", "Unexpected Error"),
        ("html", "", "not JSON"),
        ("garbage", "", "not JSON"),
        ("empty", "", "empty body"),
    ],
)
def test_it_reads_every_kind_of_error_body(nsml, new_public_key, body, expected_code, detail):
    nsml.set_faults(Faults(fail_status=500, fail_body=body))

    error = failure_of(lambda: client_for(nsml).create_key("laptop", new_public_key()))

    assert error.failure is Failure.UNAVAILABLE
    assert error.reply.error_code == expected_code
    assert detail in error.reply.detail


def test_wrong_credentials_are_named(nsml):
    error = failure_of(lambda: client_for(nsml, secret_key="wrong").list_keys())

    assert error.failure is Failure.CREDENTIALS
    assert error.reply.status == 401
    assert "signature" in error.reply.detail.lower()
    assert "wrong" not in error.reply.detail


def test_a_refused_connection_is_unreachable(settings):
    client = NsmlClient(NsmlConfig(f"http://127.0.0.1:{free_port()}/nsml/v1", "a", "s", "k", 1.0, 1.0))

    error = failure_of(lambda: client.create_key("laptop", "ssh-ed25519 AAAA"))

    assert error.failure is Failure.UNREACHABLE
    assert "refused" in error.reply.detail


def test_a_dns_failure_is_unreachable():
    client = NsmlClient(NsmlConfig("http://nsml.invalid/nsml/v1", "a", "s", "k", 1.0, 1.0))

    error = failure_of(lambda: client.list_keys(retry=False))

    assert error.failure is Failure.UNREACHABLE
    assert "resolved" in error.reply.detail


def test_a_tls_failure_is_unreachable(nsml):
    client = client_for(nsml, base_url=nsml.base_url.replace("http://", "https://"))

    error = failure_of(lambda: client.create_key("laptop", "ssh-ed25519 AAAA"))

    assert error.failure is Failure.UNREACHABLE
    assert "TLS" in error.reply.detail


def test_a_read_timeout_is_no_answer(nsml, new_public_key):
    nsml.set_faults(Faults(latency=1.5))

    error = failure_of(lambda: client_for(nsml, read_timeout=0.5).create_key("laptop", new_public_key()))

    assert error.failure is Failure.NO_ANSWER
    assert len(posts_seen(nsml)) == 1


def test_a_dropped_post_is_no_answer(nsml, new_public_key):
    nsml.set_faults(Faults(drop=True))

    error = failure_of(lambda: client_for(nsml).create_key("laptop", new_public_key()))

    assert error.failure is Failure.NO_ANSWER
    assert len(posts_seen(nsml)) == 1


def test_credentials_never_appear_in_failures(nsml):
    error = failure_of(lambda: client_for(nsml, api_key="wrong-api-key-value").list_keys())

    for secret in ("dev-secret-key", "wrong-api-key-value"):
        assert secret not in str(error)
        assert secret not in repr(error.reply)


@pytest.fixture
def environment_read_again():
    """The client reads proxies from the environment once per NSML URL; these tests change it."""
    _environment.cache_clear()
    yield
    _environment.cache_clear()


def test_the_environments_proxy_is_used(nsml, monkeypatch, environment_read_again):
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens there

    error = failure_of(lambda: client_for(nsml).list_keys(retry=False))

    assert error.failure is Failure.UNREACHABLE  # the request went no further than the proxy: NSML never saw it
    assert "proxy" in error.reply.detail
    assert nsml.requests_seen == []


def test_no_proxy_sends_nsml_calls_direct(nsml, monkeypatch, environment_read_again):
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    keys, reply = client_for(nsml).list_keys(retry=False)

    assert reply.status == 200
    assert [method for method, _ in nsml.requests_seen] == ["GET"]


def test_a_slow_nsml_costs_one_timeout_and_the_connect_time_not_one_per_attempt(nsml):
    """Found revoking a key against a 15 s NSML: a retried call waited its full read timeout again, so a
    revoke (a DELETE and the list that confirms it) held the member for 40 s, not about twice 13."""
    nsml.set_faults(Faults(latency=5.0))
    client = client_for(nsml, read_timeout=2.0, connect_timeout=0.5)

    started = time.monotonic()
    error = failure_of(client.list_keys)
    elapsed = time.monotonic() - started

    assert error.failure is Failure.NO_ANSWER
    assert len(nsml.requests_seen) >= 2  # it did retry, within the time left
    assert elapsed < 2.5 + 0.4  # the deadline: read timeout + connect timeout, and a little (4.25 s before)


def test_a_list_given_less_time_ends_by_it(nsml):
    """The lookup after a create that used up a member's wait gets a short grace, not a timeout of its own."""
    nsml.set_faults(Faults(latency=3.0))
    client = client_for(nsml, read_timeout=2.0, connect_timeout=0.5)

    started = time.monotonic()
    error = failure_of(lambda: client.list_keys(within=0.3))
    elapsed = time.monotonic() - started

    assert error.failure is Failure.NO_ANSWER
    assert elapsed < 0.3 + 0.3  # not the 2.5 s its own deadline allows


class TricklingGateway(BaseHTTPRequestHandler):
    """Answers at once, then sends its body one byte every 0.2 s: each byte well within any read timeout."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100")
        self.end_headers()
        try:
            for _ in range(100):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass  # the client hung up

    do_GET = do_POST

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def trickling_gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TricklingGateway)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/nsml/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("call", ["create", "list"])
def test_an_answer_that_trickles_in_ends_by_the_deadline(trickling_gateway, call):
    """Found with a gateway that sent its 100-byte answer a byte at a time: each byte came within the read
    timeout, so a create kept the member waiting 20 s (200 s with a slower gateway), not one timeout."""
    client = NsmlClient(NsmlConfig(trickling_gateway, "access", "secret", "api", connect_timeout=0.5, read_timeout=1.0))

    started = time.monotonic()
    calls = {"create": lambda: client.create_key("laptop", "ssh-ed25519 AAAA"), "list": client.list_keys}
    error = failure_of(calls[call])
    elapsed = time.monotonic() - started

    assert error.failure is Failure.NO_ANSWER  # the outcome is unknown: the caller looks it up
    assert error.reply.detail == "NSML did not answer within the read timeout"
    assert elapsed < 1.5 + 0.5  # the deadline: read timeout + connect timeout, and a little


class RecordingGateway(BaseHTTPRequestHandler):
    """Answers every create as NSML does, with a cookie as a load balancer might set; keeps each request's headers."""

    seen: list[dict[str, str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        RecordingGateway.seen.append(dict(self.headers.items()))
        body = b'{"title": "laptop"}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "route=abc; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_each_call_carries_the_portals_headers_and_no_cookie_from_an_earlier_answer():
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingGateway)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    RecordingGateway.seen = []
    try:
        client = NsmlClient(NsmlConfig(f"http://127.0.0.1:{server.server_port}/nsml/v1", "access", "secret", "api"))
        client.create_key("laptop", "ssh-ed25519 AAAA")
        client.create_key("desktop", "ssh-ed25519 BBBB")
    finally:
        server.shutdown()
        server.server_close()

    first, second = RecordingGateway.seen
    for headers in (first, second):
        assert headers["User-Agent"] == "nsml-key-portal/1"
        assert headers["Content-Type"] == "application/json"
        assert headers["x-ncp-iam-access-key"] == "access"
        assert headers["x-ncp-apigw-api-key"] == "api"
        assert headers["x-ncp-apigw-signature-v2"]
    assert "Cookie" not in second  # a gateway's cookie is not NSML's business, nor sent back to it
