"""The simulator on a port: `NsmlSimulator` serves `SimulatedNsml` over real HTTP and injects `Faults`.

`fail_status` and `drop` answer before authentication, so they also hit unsigned requests.
"""

from __future__ import annotations

import random
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from nsml.simulator.faults import (
    Faults,
    SimulatedResponse,
    cut_short,
    fault_response,
    gateway_error,
    html_page,
    random_fault_response,
)
from nsml.simulator.service import BASE_PATH, SimulatedNsml

MAX_BODY_BYTES = 64 * 1024
# A larger body is read and thrown away before the 413, so the client sees the answer rather than a reset.
MAX_DRAINED_BYTES = 1024 * 1024
REQUESTS_KEPT = 10_000


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
        self.service = SimulatedNsml(
            access_key=access_key, secret_key=secret_key, api_key=api_key, state_path=state_path, clock=clock
        )
        self._quiet = quiet
        self._lock = threading.Lock()
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

    def held_keys(self) -> list[dict]:
        """What NSML holds now: name, title, fingerprint, createTime and key."""
        return self.service.held_keys()

    def add_key(self, title: str, key: str) -> dict:
        """Hold a key as if it had been added in the NCP console; same rules as the API (KeyRejected)."""
        return self.service.add_key(title, key)

    def remove_key(self, title: str, name: str) -> None:
        """Forget a key as if it had been deleted in the NCP console; KeyError when it is not held."""
        self.service.remove_key(title, name)

    @property
    def requests_seen(self) -> list[tuple[str, str]]:
        """(method, target with query) of the requests received, dropped and failed ones included (the last 10,000)."""
        with self._lock:
            return list(self._requests_seen)

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

    def _draw_random_fault(self) -> str | None:
        """With `fault_rate`, the kind of random fault that hits this request, or None."""
        with self._lock:
            faults = self._faults
            if not faults.fault_rate or self._rng.random() >= faults.fault_rate:
                return None
            return self._rng.choice(faults.fault_kinds)

    def _random_fault_response(self, kind: str) -> SimulatedResponse:
        with self._lock:
            return random_fault_response(kind, self._rng)

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
        return super().date_time_string(self.server.simulator.service.clock() if timestamp is None else timestamp)

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
        random_fault = simulator._draw_random_fault() if not hit else None
        if random_fault == "drop-before":
            self.close_connection = True
            simulator._log(f"{self.command} {self.path} dropped (random fault) trace={self.trace_id}")
            return
        # time.sleep(0) still gives up the GIL and waits to get it back
        if faults.latency and (not faults.latency_methods or self.command in faults.latency_methods):
            time.sleep(faults.latency)
        body, problem = self._read_body()
        if hit:
            reply = fault_response(faults)
        elif random_fault in ("error", "html-error", "bad-retry-after"):
            reply = simulator._random_fault_response(random_fault)
        elif problem:
            reply = problem
        else:
            try:
                reply = simulator.service.answer(self.command, self.path, self.headers, body)
            except Exception:
                simulator._log(traceback.format_exc().rstrip())
                reply = gateway_error(500, "900", "the simulator failed; see its log")
            if reply.status == HTTPStatus.CREATED and faults.slow_commit:
                time.sleep(faults.slow_commit)  # the key is stored; only the answer is late
            if faults.short_list is not None and self.command == "GET" and reply.status == HTTPStatus.OK:
                reply = cut_short(reply, faults.short_list)
            if random_fault == "drop-after":
                self.close_connection = True
                simulator._log(f"{self.command} {self.path} done, then dropped (random fault) trace={self.trace_id}")
                return
            if random_fault == "late":
                time.sleep(faults.late_seconds)
            elif random_fault == "html-200":
                reply = html_page(200)
        # Logged before the answer is written: a client that has the answer finds its line in the log already,
        # even when it stops the simulator at once (the handler's thread is a daemon and dies with the process).
        simulator._log(f"{self.command} {self.path} {reply.status} trace={self.trace_id}")
        self._write(reply)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = _serve

    def _read_body(self) -> tuple[bytes, SimulatedResponse | None]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return b"", gateway_error(400, "100", "send the body with a Content-Length, not chunked")
        length_text = self.headers.get("Content-Length", "0").strip()
        if not length_text.isdigit():
            self.close_connection = True
            return b"", gateway_error(400, "100", "Content-Length is not a number")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            if length <= MAX_DRAINED_BYTES:
                self.rfile.read(length)
            return b"", gateway_error(413, "430", f"the body is over {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length), None

    def _write(self, reply: SimulatedResponse) -> None:
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
