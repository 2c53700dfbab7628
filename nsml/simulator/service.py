"""The simulated NSML service behind its gateway: authentication, routing, and the keys it holds.

Where nsml-api.md is silent, the choices made here:
- a POST whose Content-Type is not application/json gets 400 with errorCode "100";
- 201 (create) and 200 (delete) come with an empty body;
- 406 answers errorCode "100" ("Not Acceptable"), 502 answers errorCode "500" ("Endpoint Error").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

from nsml.signing import sign_request, signature_matches
from nsml.simulator.faults import JSON_TYPE, SimulatedResponse, gateway_error
from nsml.titles import MAX_TITLE_LENGTH, title_problem

BASE_PATH = "/nsml/v1"
TIMESTAMP_WINDOW_SECONDS = 5 * 60
KEY_TYPES = ("ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")
KOREA_TIME = timezone(timedelta(hours=9))

TIMESTAMP_HEADER = "x-ncp-apigw-timestamp"
ACCESS_KEY_HEADER = "x-ncp-iam-access-key"
SIGNATURE_HEADER = "x-ncp-apigw-signature-v2"
API_KEY_HEADER = "x-ncp-apigw-api-key"
AUTH_HEADERS = (TIMESTAMP_HEADER, ACCESS_KEY_HEADER, SIGNATURE_HEADER, API_KEY_HEADER)
TITLE_RULES = {
    "required": "a title is required",
    "too_long": f"a title has at most {MAX_TITLE_LENGTH} characters",
    "characters": "a title holds only English letters, digits and '-'",
    "first_letter": "a title must begin with an English letter",
    "double_hyphen": "'-' may not appear twice in a row in a title",
}

_DELETE_PATH = re.compile(rf"{BASE_PATH}/auth-keys/title/(?P<title>[^/]+)/name/(?P<name>[^/]+)")
_TIMESTAMP = re.compile(r"[0-9]{1,16}")


class KeyRejected(ValueError):
    """NSML would not hold this key; the message says why, in the words of a 400's details."""


def _key_name(key: str) -> str:
    """The MD5 of the key's decoded blob as 32 hex digits, or KeyRejected saying what is wrong."""
    key_type, _, rest = key.partition(" ")
    if key_type not in KEY_TYPES:
        raise KeyRejected(f"key must begin with one of {', '.join(KEY_TYPES)}")
    if "\n" in key or "\r" in key:
        raise KeyRejected("key must be a single line")
    blob_text = rest.split(" ", 1)[0]
    try:
        blob = base64.b64decode(blob_text, validate=True)
    except binascii.Error:
        blob = b""
    if not blob:
        raise KeyRejected("key must have a base64 blob after its type")
    return hashlib.md5(blob, usedforsecurity=False).hexdigest()


class SimulatedNsml:
    """NSML's auth-keys API as the NCP API Gateway fronts it: checks each request, keeps the keys."""

    def __init__(
        self,
        *,
        access_key: str,
        secret_key: str,
        api_key: str,
        state_path: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._api_key = api_key
        self._state_path = Path(state_path) if state_path is not None else None
        self.clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, dict] = self._load()  # by title, in the order they were added
        self._names = {entry["name"] for entry in self._keys.values()}  # a key is held once, whatever its title

    def held_keys(self) -> list[dict]:
        """What NSML holds now: name, title, fingerprint, createTime and key."""
        with self._lock:
            return [dict(entry) for entry in self._keys.values()]

    def add_key(self, title: str, key: str) -> dict:
        """Hold a key as if it had been added in the NCP console; same rules as the API (KeyRejected)."""
        return dict(self._store(title, key))

    def remove_key(self, title: str, name: str) -> None:
        """Forget a key as if it had been deleted in the NCP console; KeyError when it is not held."""
        if not self._discard(title, name):
            raise KeyError((title, name))

    # What the gateway and NSML do with one request.

    def answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> SimulatedResponse:
        problem = self._auth_problem(method, target, headers)
        if problem:
            return gateway_error(401, "200", problem)
        path = urlsplit(target).path
        if path == f"{BASE_PATH}/auth-keys" and method == "POST":
            return self._create(headers, body)
        if path == f"{BASE_PATH}/auth-keys" and method == "GET":
            return self._list()
        route = _DELETE_PATH.fullmatch(path)
        if route and method == "DELETE":
            if self._discard(unquote(route["title"]), unquote(route["name"])):
                return SimulatedResponse(200)
            return gateway_error(404, "300", "no key is held with this title and name")
        return gateway_error(404, "300", f"no API at {method} {path}")

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
        if abs(int(timestamp) / 1000 - self.clock()) >= TIMESTAMP_WINDOW_SECONDS:
            return f"{TIMESTAMP_HEADER} is 5 minutes or more away from the gateway's clock"
        if not signature_matches(self._access_key, headers[ACCESS_KEY_HEADER]):
            return f"{ACCESS_KEY_HEADER} is not a known access key"
        expected = sign_request(method, target, timestamp, self._access_key, self._secret_key)
        if not signature_matches(expected, headers[SIGNATURE_HEADER]):
            return f"{SIGNATURE_HEADER} does not match the request (sign '{method} {target}')"
        return None

    def _create(self, headers: Mapping[str, str], body: bytes) -> SimulatedResponse:
        if headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            return gateway_error(400, "100", "Content-Type must be application/json")
        try:
            data = json.loads(body)
        except ValueError:
            return gateway_error(400, "100", "the body is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("title"), str) or not isinstance(data.get("key"), str):
            return gateway_error(400, "100", 'the body must be {"title": string, "key": string}')
        try:
            self._store(data["title"], data["key"])
        except KeyRejected as refused:
            return gateway_error(400, "100", str(refused))
        return SimulatedResponse(201)

    def _list(self) -> SimulatedResponse:
        held = [
            {name: entry[name] for name in ("name", "title", "fingerprint", "createTime")} for entry in self.held_keys()
        ]
        return SimulatedResponse(200, json.dumps({"keyList": held, "totalCount": len(held)}).encode(), JSON_TYPE)

    # State.

    def _store(self, title: str, key: str) -> dict:
        problem = title_problem(title)
        if problem:
            raise KeyRejected(TITLE_RULES.get(problem, f"the title breaks rule {problem}"))
        name = _key_name(key)
        with self._lock:
            if title in self._keys:
                raise KeyRejected(f"the title {title} is already registered")
            if name in self._names:
                raise KeyRejected("this key is already registered")
            entry = {
                "name": name,
                "title": title,
                "fingerprint": ":".join(name[i : i + 2] for i in range(0, len(name), 2)),
                "createTime": datetime.fromtimestamp(self.clock(), KOREA_TIME).strftime("%Y-%m-%d %H:%M:%S"),
                "key": key,
            }
            self._keys[title] = entry
            self._names.add(name)
            self._save()
            return entry

    def _discard(self, title: str, name: str) -> bool:
        with self._lock:
            entry = self._keys.get(title)
            if entry is None or entry["name"] != name:
                return False
            del self._keys[title]
            self._names.discard(name)
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
