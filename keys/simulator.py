"""A local CLOVA NSML auth-keys API behind a stand-in NCP API Gateway (see ../shared/nsml-api.md).

Pure: imports nothing from Django, so tests run it in-process and `manage.py nsml_simulator` serves it
for development. It checks every request the way the gateway does, keeps the keys NSML would hold, and
injects the failures a real network and gateway produce (`Faults`).

Where nsml-api.md is silent, the choices made here:
- a POST whose Content-Type is not application/json gets 400 with errorCode "100";
- 201 (create) and 200 (delete) come with an empty body;
- `fail_status` and `drop` answer before authentication, so they also hit unsigned requests;
- 406 answers errorCode "100" ("Not Acceptable"), 502 answers errorCode "500" ("Endpoint Error").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import random
import re
import socket
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from keys.signing import sign_request, signature_matches
from keys.titles import MAX_TITLE_LENGTH, title_problem

BASE_PATH = "/nsml/v1"
MAX_BODY_BYTES = 64 * 1024
# A larger body is read and thrown away before the 413, so the client sees the answer rather than a reset.
MAX_DRAINED_BYTES = 1024 * 1024
TIMESTAMP_WINDOW_SECONDS = 5 * 60
REQUESTS_KEPT = 10_000
KEY_TYPES = ("ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")
KOREA_TIME = timezone(timedelta(hours=9))
JSON_TYPE = "application/json;charset=UTF-8"

TIMESTAMP_HEADER = "x-ncp-apigw-timestamp"
ACCESS_KEY_HEADER = "x-ncp-iam-access-key"
SIGNATURE_HEADER = "x-ncp-apigw-signature-v2"
API_KEY_HEADER = "x-ncp-apigw-api-key"
AUTH_HEADERS = (TIMESTAMP_HEADER, ACCESS_KEY_HEADER, SIGNATURE_HEADER, API_KEY_HEADER)

# The gateway's error table, (status, errorCode) -> message; a status's first code is its default.
GATEWAY_ERRORS = {
    (400, "100"): "Bad Request Exception",
    (401, "200"): "Authentication Failed",
    (401, "210"): "Permission Denied",
    (403, "230"): "Forbidden",
    (404, "300"): "Not Found Exception",
    (406, "100"): "Not Acceptable",
    (413, "430"): "Request Entity Too Large",
    (429, "400"): "Quota Exceeded",
    (429, "410"): "Throttle Limited",
    (429, "420"): "Rate Limited",
    (500, "900"): "Unexpected Error",
    (502, "500"): "Endpoint Error",
    (503, "500"): "Endpoint Error",
    (504, "510"): "Endpoint Timeout",
}
FAULT_BODIES = ("gateway", "gateway-numeric", "text-plain", "html", "garbage", "empty")
RETRY_AFTER_STATUSES = (429, 503)

TITLE_RULES = {
    "required": "a title is required",
    "too_long": f"a title has at most {MAX_TITLE_LENGTH} characters",
    "characters": "a title holds only English letters, digits and '-'",
    "first_letter": "a title must begin with an English letter",
    "double_hyphen": "'-' may not appear twice in a row in a title",
}

_DELETE_PATH = re.compile(rf"{BASE_PATH}/auth-keys/title/(?P<title>[^/]+)/name/(?P<name>[^/]+)")
_TIMESTAMP = re.compile(r"[0-9]{1,16}")


class KeyRefused(ValueError):
    """NSML would not hold this key; the message says why, in the words of a 400's details."""


@dataclass
class Faults:
    """Failures to inject; all off by default.

    `fail_methods`, `fail_rate` and `fail_count` choose which requests `fail_status` or `drop` hits.
    """

    latency: float = 0.0  # seconds added before every answer
    fail_status: int | None = None  # answer this gateway error instead of serving
    fail_code: str | None = None  # the errorCode, when the status has several (401, 429)
    fail_rate: float = 1.0  # probability that a matching request is hit
    fail_count: int | None = None  # hit only the next N matching requests
    fail_methods: frozenset[str] = frozenset()  # methods that can be hit; empty means all
    fail_body: str = "gateway"  # one of FAULT_BODIES
    retry_after: int | None = None  # Retry-After seconds on 429 and 503
    drop: bool = False  # close the connection without answering
    slow_commit: float = 0.0  # on create: store the key, then wait this long before the 201
    seed: int | None = None  # for fail_rate

    def __post_init__(self) -> None:
        self.fail_methods = frozenset(method.upper() for method in self.fail_methods)
        if self.fail_status is not None:
            codes = [code for status, code in GATEWAY_ERRORS if status == self.fail_status]
            if not codes:
                statuses = ", ".join(sorted({str(status) for status, _ in GATEWAY_ERRORS}))
                raise ValueError(f"fail_status {self.fail_status} is not one the gateway answers ({statuses})")
            if self.fail_code is None:
                self.fail_code = codes[0]
            elif self.fail_code not in codes:
                raise ValueError(f"fail_code for {self.fail_status} is one of {', '.join(codes)}")
        elif self.fail_code is not None:
            raise ValueError("fail_code needs fail_status")
        if self.fail_body not in FAULT_BODIES:
            raise ValueError(f"fail_body is one of {', '.join(FAULT_BODIES)}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate is a probability between 0 and 1")
        if self.fail_count is not None and self.fail_count < 0:
            raise ValueError("fail_count cannot be negative")
        if self.latency < 0 or self.slow_commit < 0:
            raise ValueError("latency and slow_commit cannot be negative")

    def describe(self) -> str:
        """One line for an operator: which faults are on."""
        parts = []
        if self.latency:
            parts.append(f"latency {self.latency:g}s")
        if self.drop or self.fail_status is not None:
            hit = f"answer {self.fail_status}/{self.fail_code} ({self.fail_body} body)"
            if self.drop:
                hit = "drop the connection"
            if self.fail_methods:
                hit += f" on {','.join(sorted(self.fail_methods))}"
            if self.fail_rate < 1:
                hit += f" at rate {self.fail_rate:g}"
            if self.fail_count is not None:
                hit += f" for the next {self.fail_count} matching requests"
            if self.retry_after is not None and self.fail_status in RETRY_AFTER_STATUSES:
                hit += f" with Retry-After {self.retry_after}"
            parts.append(hit)
        if self.slow_commit:
            parts.append(f"slow commit {self.slow_commit:g}s")
        if parts and self.seed is not None:
            parts.append(f"seed {self.seed}")
        return ", ".join(parts) or "none"


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _error_body(error_code: str | int, message: str, details: str) -> bytes:
    return json.dumps({"error": {"errorCode": error_code, "message": message, "details": details}}).encode()


def _gateway_error(status: int, error_code: str, details: str) -> _Reply:
    return _Reply(status, _error_body(error_code, GATEWAY_ERRORS[status, error_code], details), JSON_TYPE)


def _fault_reply(faults: Faults) -> _Reply:
    status, code = faults.fail_status, faults.fail_code
    headers = {}
    if faults.retry_after is not None and status in RETRY_AFTER_STATUSES:
        headers["Retry-After"] = str(faults.retry_after)
    if faults.fail_body == "empty":
        return _Reply(status, headers=headers)
    if faults.fail_body == "garbage":
        return _Reply(status, b"\x89\x00\xffnot json {{", JSON_TYPE, headers)
    if faults.fail_body == "html":
        phrase = f"{status} {HTTPStatus(status).phrase}"
        page = f"<html><head><title>{phrase}</title></head><body><h1>{phrase}</h1></body></html>"
        return _Reply(status, page.encode(), "text/html;charset=UTF-8", headers)
    error_code = int(code) if faults.fail_body == "gateway-numeric" else code
    body = _error_body(error_code, GATEWAY_ERRORS[status, code], "simulated fault")
    content_type = "text/plain;charset=UTF-8" if faults.fail_body == "text-plain" else JSON_TYPE
    return _Reply(status, body, content_type, headers)


def _key_name(key: str) -> str:
    """The MD5 of the key's decoded blob as 32 hex digits, or KeyRefused saying what is wrong."""
    key_type, _, rest = key.partition(" ")
    if key_type not in KEY_TYPES:
        raise KeyRefused(f"key must begin with one of {', '.join(KEY_TYPES)}")
    if "\n" in key or "\r" in key:
        raise KeyRefused("key must be a single line")
    blob_text = rest.split(" ", 1)[0]
    try:
        blob = base64.b64decode(blob_text, validate=True)
    except binascii.Error:
        blob = b""
    if not blob:
        raise KeyRefused("key must have a base64 blob after its type")
    return hashlib.md5(blob, usedforsecurity=False).hexdigest()


class NsmlSimulator:
    """NSML's auth-keys API on a local port, verifying signatures like the NCP API Gateway."""

    def __init__(
        self,
        *,
        access_key: str,
        secret_key: str,
        api_key: str,
        state_path: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.time,
        quiet: bool = False,
    ) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._api_key = api_key
        self._state_path = Path(state_path) if state_path is not None else None
        self._clock = clock
        self._quiet = quiet
        self._lock = threading.Lock()
        self._keys: dict[str, dict] = self._load()  # by title, in the order they were added
        self._requests_seen: deque[tuple[str, str]] = deque(maxlen=REQUESTS_KEPT)
        self.set_faults(faults or Faults())
        self._host = host
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._server.server_address[1]}{BASE_PATH}"

    def start(self) -> None:
        """Serve in a daemon thread; returns at once."""
        # stop() waits up to one poll interval, and tests start and stop a simulator per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="nsml-simulator", daemon=True
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (KeyboardInterrupt propagates), then close."""
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and close every open connection, so no kept-alive client is still answered."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.close_connections()
        self._server.server_close()

    def __enter__(self) -> NsmlSimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def set_faults(self, faults: Faults) -> None:
        """Inject these faults from the next request on; restarts `fail_count` and the seeded RNG."""
        with self._lock:
            self._faults = faults
            self._failures_left = faults.fail_count
            self._rng = random.Random(faults.seed)

    def keys(self) -> list[dict]:
        """What NSML holds now: name, title, fingerprint, createTime and key."""
        with self._lock:
            return [dict(entry) for entry in self._keys.values()]

    def add_key(self, title: str, key: str) -> dict:
        """Hold a key as if it had been added in the NCP console; same rules as the API (KeyRefused)."""
        return dict(self._store(title, key))

    def remove_key(self, title: str, name: str) -> None:
        """Forget a key as if it had been deleted in the NCP console; KeyError when it is not held."""
        if not self._discard(title, name):
            raise KeyError((title, name))

    @property
    def requests_seen(self) -> list[tuple[str, str]]:
        """(method, target with query) of the requests received, dropped and failed ones included (the last 10,000)."""
        with self._lock:
            return list(self._requests_seen)

    # What the gateway and NSML do with one request.

    def _answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        problem = self._auth_problem(method, target, headers)
        if problem:
            return _gateway_error(401, "200", problem)
        path = urlsplit(target).path
        if path == f"{BASE_PATH}/auth-keys" and method == "POST":
            return self._create(headers, body)
        if path == f"{BASE_PATH}/auth-keys" and method == "GET":
            return self._list()
        route = _DELETE_PATH.fullmatch(path)
        if route and method == "DELETE":
            if self._discard(unquote(route["title"]), unquote(route["name"])):
                return _Reply(200)
            return _gateway_error(404, "300", "no key is held with this title and name")
        return _gateway_error(404, "300", f"no API at {method} {path}")

    def _auth_problem(self, method: str, target: str, headers: Mapping[str, str]) -> str | None:
        """Which of the gateway's checks the request fails, or None. Never repeats a credential."""
        for name in AUTH_HEADERS:
            if not headers.get(name):
                return f"missing header {name}"
        if not signature_matches(self._api_key, headers[API_KEY_HEADER]):
            return f"{API_KEY_HEADER} is not a key approved for this API"
        timestamp = headers[TIMESTAMP_HEADER]
        if not _TIMESTAMP.fullmatch(timestamp):
            return f"{TIMESTAMP_HEADER} is not milliseconds since the Unix epoch"
        if abs(int(timestamp) / 1000 - self._clock()) >= TIMESTAMP_WINDOW_SECONDS:
            return f"{TIMESTAMP_HEADER} is 5 minutes or more away from the gateway's clock"
        if not signature_matches(self._access_key, headers[ACCESS_KEY_HEADER]):
            return f"{ACCESS_KEY_HEADER} is not a known access key"
        expected = sign_request(method, target, timestamp, self._access_key, self._secret_key)
        if not signature_matches(expected, headers[SIGNATURE_HEADER]):
            return f"{SIGNATURE_HEADER} does not match the request (sign '{method} {target}')"
        return None

    def _create(self, headers: Mapping[str, str], body: bytes) -> _Reply:
        if headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            return _gateway_error(400, "100", "Content-Type must be application/json")
        try:
            data = json.loads(body)
        except ValueError:
            return _gateway_error(400, "100", "the body is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("title"), str) or not isinstance(data.get("key"), str):
            return _gateway_error(400, "100", 'the body must be {"title": string, "key": string}')
        try:
            self._store(data["title"], data["key"])
        except KeyRefused as refused:
            return _gateway_error(400, "100", str(refused))
        return _Reply(201)

    def _list(self) -> _Reply:
        held = [{name: entry[name] for name in ("name", "title", "fingerprint", "createTime")} for entry in self.keys()]
        return _Reply(200, json.dumps({"keyList": held, "totalCount": len(held)}).encode(), JSON_TYPE)

    # State.

    def _store(self, title: str, key: str) -> dict:
        problem = title_problem(title)
        if problem:
            raise KeyRefused(TITLE_RULES.get(problem, f"the title breaks rule {problem}"))
        name = _key_name(key)
        with self._lock:
            if title in self._keys:
                raise KeyRefused(f"the title {title} is already registered")
            if any(entry["name"] == name for entry in self._keys.values()):
                raise KeyRefused("this key is already registered")
            entry = {
                "name": name,
                "title": title,
                "fingerprint": ":".join(name[i : i + 2] for i in range(0, len(name), 2)),
                "createTime": datetime.fromtimestamp(self._clock(), KOREA_TIME).strftime("%Y-%m-%d %H:%M:%S"),
                "key": key,
            }
            self._keys[title] = entry
            self._save()
            return entry

    def _discard(self, title: str, name: str) -> bool:
        with self._lock:
            entry = self._keys.get(title)
            if entry is None or entry["name"] != name:
                return False
            del self._keys[title]
            self._save()
            return True

    def _load(self) -> dict[str, dict]:
        if self._state_path is None or not self._state_path.exists():
            return {}
        try:
            held = json.loads(self._state_path.read_text(encoding="utf-8"))["keys"]
            return {entry["title"]: entry for entry in held}
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{self._state_path} is not a simulator state file ({error!r})") from error

    def _save(self) -> None:
        """Write the state file whole, through a temporary file, so a crash never leaves half of it."""
        if self._state_path is None:
            return
        handle, temporary = tempfile.mkstemp(dir=self._state_path.parent, prefix=".nsml-simulator-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump({"keys": list(self._keys.values())}, file, indent=2)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self._state_path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    # Faults and the request log.

    def _draw_fault(self, method: str) -> tuple[Faults, bool]:
        """The faults in force and whether `fail_status` or `drop` hits this request."""
        with self._lock:
            faults = self._faults
            if not faults.drop and faults.fail_status is None:
                return faults, False
            if faults.fail_methods and method not in faults.fail_methods:
                return faults, False
            if self._failures_left == 0:
                return faults, False
            if faults.fail_rate < 1 and self._rng.random() >= faults.fail_rate:
                return faults, False
            if self._failures_left is not None:
                self._failures_left -= 1
            return faults, True

    def _record(self, method: str, target: str) -> None:
        with self._lock:
            self._requests_seen.append((method, target))

    def _log(self, line: str) -> None:
        if not self._quiet:
            print(f"[nsml-simulator] {line}", file=sys.stderr, flush=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: NsmlSimulator) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client hung up; nothing to answer
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nsml-simulator"
    timeout = 60  # an idle kept-alive connection gives its thread back
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the simulator's clock, so a clock-skew diagnosis can be tested.
        return super().date_time_string(self.server.simulator._clock() if timestamp is None else timestamp)

    def handle_one_request(self) -> None:
        self.trace_id = uuid.uuid4().hex
        super().handle_one_request()

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)  # adds Date
        self.send_header("x-ncp-trace-id", self.trace_id)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _serve logs one line per request, without headers

    def log_message(self, format: str, *args: object) -> None:
        self.server.simulator._log(format % args)

    def _serve(self) -> None:
        simulator = self.server.simulator
        simulator._record(self.command, self.path)
        faults, hit = simulator._draw_fault(self.command)
        if hit and faults.drop:
            self.close_connection = True
            simulator._log(f"{self.command} {self.path} dropped trace={self.trace_id}")
            return
        time.sleep(faults.latency)
        body, problem = self._read_body()
        if hit:
            reply = _fault_reply(faults)
        elif problem:
            reply = problem
        else:
            try:
                reply = simulator._answer(self.command, self.path, self.headers, body)
            except Exception:
                simulator._log(traceback.format_exc().rstrip())
                reply = _gateway_error(500, "900", "the simulator failed; see its log")
            if reply.status == HTTPStatus.CREATED:
                time.sleep(faults.slow_commit)  # the key is stored; only the answer is late
        self._write(reply)
        simulator._log(f"{self.command} {self.path} {reply.status} trace={self.trace_id}")

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = _serve

    def _read_body(self) -> tuple[bytes, _Reply | None]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return b"", _gateway_error(400, "100", "send the body with a Content-Length, not chunked")
        length_text = self.headers.get("Content-Length", "0").strip()
        if not length_text.isdigit():
            self.close_connection = True
            return b"", _gateway_error(400, "100", "Content-Length is not a number")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            if length <= MAX_DRAINED_BYTES:
                self.rfile.read(length)
            return b"", _gateway_error(413, "430", f"the body is over {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length), None

    def _write(self, reply: _Reply) -> None:
        try:
            self.send_response(reply.status)
            if reply.content_type:
                self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body)
        except ConnectionError:
            self.close_connection = True  # the client hung up first, e.g. timed out during slow_commit
