"""LOG_FORMAT=json: the live portal writes one JSON object per line, each with its request's id, user, method
and path, the request's own line with status and duration, and NSML's trace id where NSML gave one."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from nsml.simulator.faults import Faults
from portal.jsonlog import JsonFormatter, RequestContextFilter
from tests.helpers import generate_private_key, private_text, public_line
from tests.live_portal import (
    Gunicorn,
    Member,
    create_members,
    live_simulator,
    manage,
    portal_database,
    portal_env,
    read_rows,
)


def log_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.strip()]


@contextlib.contextmanager
def live_gunicorn(tmp_path: Path, **environment: str) -> Iterator[tuple[Gunicorn, Path]]:
    """One gunicorn (a worker of two threads) on a fresh database, with `environment` set; it and its log's path."""
    log = tmp_path / "gunicorn.log"
    with portal_database(tmp_path) as database_url:
        portal = Gunicorn(portal_env(database_url, **environment), log, workers=1, threads=2)
        try:
            yield portal, log
        finally:
            portal.stop()


@contextlib.contextmanager
def json_lines_of(*names: str) -> Iterator[list[dict]]:
    """What these loggers write meanwhile, as the JSON format writes it, with the request's fields."""
    lines: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(self.format(record)))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield lines
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def test_the_live_portal_logs_json_lines_with_the_request_id_end_to_end(tmp_path: Path):
    log = tmp_path / "gunicorn.log"
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        create_members(database_url, ["carol"])
        env = portal_env(database_url, LOG_FORMAT="json", LOG_LEVEL="INFO", NSML_API_URL=simulator.base_url)
        portal = Gunicorn(env, log, workers=1, threads=4)
        try:
            member = Member(portal.url, "carol")
            member.log_in()
            member.session.headers["X-Request-ID"] = "req-e2e-1"
            key = public_line(generate_private_key("ed25519"))
            response = member.post("/keys/new/", {"title": "carol-laptop", "key": key})
        finally:
            portal.stop()

    assert response.status_code == 302
    assert response.headers["X-Request-ID"] == "req-e2e-1"
    lines = [json.loads(line) for line in log_lines(log)]  # every line parses, gunicorn's too, or this raises
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
    ours = [line for line in lines if line.get("request_id") == "req-e2e-1"]
    request_line = next(line for line in ours if line["logger"] == "portal.request")
    assert request_line | {"duration_ms": 0, "time": "", "message": "", "nsml_trace_id": ""} == {
        "time": "",
        "level": "INFO",
        "logger": "portal.request",
        "message": "",
        "request_id": "req-e2e-1",
        "user": "carol",
        "method": "POST",
        "path": "/keys/new/",
        "status": 302,
        "duration_ms": 0,
        "nsml_trace_id": "",
    }
    assert request_line["duration_ms"] > 0
    audit = next(line for line in ours if line["logger"] == "keys.audit")
    assert "action=register outcome=success" in audit["message"]
    assert len(audit["nsml_trace_id"]) == 32
    assert audit["nsml_trace_id"] in audit["message"]
    # The request's own line names NSML's answer too: an operator reading request lines finds the trace there.
    assert request_line["nsml_trace_id"] == audit["nsml_trace_id"]


def test_a_notice_sent_to_the_console_is_one_json_line(tmp_path: Path):
    """Found with EMAIL_URL=consolemail:// and LOG_FORMAT=json, as a QA set-up runs: the key-added notice came as
    its twenty-odd raw lines (headers, the greeting, a row of dashes) between the JSON ones."""
    log = tmp_path / "gunicorn.log"
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        create_members(database_url, ["dora"])
        read_rows(
            database_url,
            "from django.contrib.auth.models import User\n"
            "User.objects.filter(username='dora').update(email='dora@example.com')\nrows = []\n",
        )
        env = portal_env(
            database_url,
            LOG_FORMAT="json",
            LOG_LEVEL="INFO",
            EMAIL_URL="consolemail://",
            NSML_API_URL=simulator.base_url,
        )
        portal = Gunicorn(env, log, workers=1, threads=4)
        try:
            member = Member(portal.url, "dora")
            member.log_in()
            key = public_line(generate_private_key("ed25519"))
            response = member.post("/keys/new/", {"title": "dora-laptop", "key": key})
        finally:
            portal.stop()

    assert response.status_code == 302
    lines = [json.loads(line) for line in log_lines(log)]  # every line parses, or this raises
    [notice] = [line for line in lines if line["logger"] == "portal.email"]
    assert "To: dora@example.com" in notice["message"]
    assert 'The SSH key "dora-laptop" was added to NSML for your account.' in notice["message"]


def test_a_warning_python_writes_is_a_json_line_too(tmp_path: Path):
    """Found starting gunicorn before collectstatic with LOG_FORMAT=json: whitenoise's warning ("No directory at:
    .../staticfiles/") came on stderr as two plain lines, the warning and the line of code that raised it."""
    database_url = f"sqlite:///{tmp_path / 'unused.sqlite3'}"
    script = "import warnings; warnings.warn('a warning from the portal')"
    result = manage(database_url, "shell", "-v", "0", "-c", script, env=portal_env(database_url, LOG_FORMAT="json"))

    assert result.stderr == ""
    [line] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (line["level"], line["logger"]) == ("WARNING", "py.warnings")
    assert "UserWarning: a warning from the portal" in line["message"]


def test_a_line_outside_any_request_has_no_request_fields_and_keeps_its_traceback():
    record = logging.LogRecord("keys.reconcile", logging.ERROR, __file__, 1, "pass failed: %s", ("boom",), None)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    RequestContextFilter().filter(record)

    line = json.loads(JsonFormatter().format(record))

    assert line.keys() == {"time", "level", "logger", "message", "exception"}
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "keys.reconcile", "pass failed: boom")
    assert line["time"].endswith("+00:00")
    assert "ValueError: boom" in line["exception"]


def test_a_message_with_newlines_stays_on_one_line():
    record = logging.LogRecord("keys", logging.WARNING, __file__, 1, "title %s", ("a\nb\r\x1b[31m",), None)

    text = JsonFormatter().format(record)

    assert "\n" not in text and "\r" not in text and "\x1b" not in text
    assert json.loads(text)["message"] == "title a\nb\r\x1b[31m"


@pytest.mark.django_db
def test_the_plain_format_stays_the_default_without_a_request_line(client, caplog):
    assert settings.LOG_FORMAT == "plain"
    with caplog.at_level(logging.INFO):
        client.get("/healthz")

    assert not [record for record in caplog.records if record.name == "portal.request"]


def test_an_unknown_log_format_stops_the_portal_at_start_up(settings):
    settings.LOG_FORMAT = "yaml"

    with pytest.raises(SystemCheckError, match="keys.E004"):
        call_command("check")


@pytest.mark.django_db
def test_an_api_calls_lines_name_the_tokens_user(client, member, token_for, nsml, new_public_key, settings):
    """Found with curl: a call with a token logged "user": "" on its audit line and its request line."""
    settings.LOG_REQUESTS = True
    bearer = f"Bearer {token_for(member, name='ci')}"
    client.get("/api/v1/keys", HTTP_AUTHORIZATION=bearer)  # the token's first use, audited apart

    with json_lines_of("keys.audit", "portal.request") as lines:
        client.post(
            "/api/v1/keys",
            json.dumps({"title": "from-ci", "key": new_public_key()}),
            content_type="application/json",
            HTTP_AUTHORIZATION=bearer,
            HTTP_X_REQUEST_ID="req-api-1",
        )

    ours = [line for line in lines if line.get("request_id") == "req-api-1"]
    assert {line["logger"] for line in ours} == {"keys.audit", "portal.request"}
    assert all(line["user"] == member.username for line in ours), ours


@pytest.mark.django_db
def test_a_request_line_names_each_nsml_answer_its_audit_rows_recorded(
    admin_client, member, other_member, nsml, register, settings
):
    """An admin's revocation of two keys had two answers from NSML: the request's line names both trace ids, as
    its two audit lines do one each."""
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.urls import reverse

    settings.LOG_REQUESTS = True
    keys = [register(member, "alice-laptop"), register(other_member, "bob-laptop")]
    data = {"action": "revoke_selected", ACTION_CHECKBOX_NAME: [key.pk for key in keys], "post": "yes"}

    with json_lines_of("keys.audit", "portal.request") as lines:
        admin_client.post(
            reverse("admin:keys_registeredkey_changelist"), data | {"reason": "leaving"}, HTTP_X_REQUEST_ID="req-2"
        )

    ours = [line for line in lines if line.get("request_id") == "req-2"]
    traces = [line["nsml_trace_id"] for line in ours if line["logger"] == "keys.audit" and line["nsml_trace_id"]]
    [request_line] = [line for line in ours if line["logger"] == "portal.request"]
    assert len(traces) == 2 and request_line["nsml_trace_id"] == " ".join(traces)


@pytest.mark.django_db
def test_a_tokens_first_use_line_names_the_tokens_user(client, member, token_for, nsml):
    """Found reading the JSON logs: the audit line of a token's first use (token_first_use) said "user": "", the one
    line of the call that did not name whose token it was."""
    bearer = f"Bearer {token_for(member, name='ci')}"

    with json_lines_of("keys.audit") as lines:
        client.get("/api/v1/keys", HTTP_AUTHORIZATION=bearer, HTTP_X_REQUEST_ID="req-first-use")

    [first_use] = [line for line in lines if "token_first_use" in line["message"]]
    assert (first_use["request_id"], first_use["user"]) == ("req-first-use", member.username)


def test_a_log_ins_own_request_line_names_who_logged_in(client, member, settings):
    """Found in QA: the request line of a successful log-in said "user": "", though the session was theirs."""
    settings.LOG_REQUESTS = True
    client.logout()

    with json_lines_of("portal.request") as lines:
        client.post("/accounts/login/", {"username": member.username, "password": "alice-password-1"})
        client.post("/accounts/logout/")

    assert [(line["path"], line["status"], line["user"]) for line in lines] == [
        ("/accounts/login/", 302, member.username),
        ("/accounts/logout/", 302, ""),
    ]


@pytest.mark.django_db
def test_djangos_line_for_a_refusal_a_view_returned_carries_the_request_id(client, settings):
    """Found reading the JSON logs: "Unauthorized: /metrics" (django.request, logged after the middleware
    returned) had no request id, user, method or path; only a raised error's line had them."""
    settings.METRICS_TOKEN = "m" * 20

    with json_lines_of("django.request") as lines:
        client.get("/metrics", HTTP_X_REQUEST_ID="req-401")
        client.get("/healthz")  # the next request in this thread: not named by the last one's id

    [line] = lines
    assert line["message"] == "Unauthorized: /metrics"
    assert (line["request_id"], line["method"], line["path"]) == ("req-401", "GET", "/metrics")


def test_the_reconcilers_report_is_json_lines_too(tmp_path: Path, new_public_key):
    """Found reading a reconciler's stream with LOG_FORMAT=json: its report ("In sync: ...", "new unmanaged
    keys: ...") came as plain lines between the JSON ones."""
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        simulator.add_key("console-key", new_public_key())
        env = portal_env(database_url, LOG_FORMAT="json", LOG_LEVEL="INFO", NSML_API_URL=simulator.base_url)
        result = manage(database_url, "nsml_sync", "--apply", env=env, check=False)

    # Every line parses, or this raises: the report's, and the one the run ends with (Django's "CommandError: ...")
    lines = [json.loads(line) for line in (result.stdout + result.stderr).splitlines()]
    assert any(line["logger"] == "keys.reconcile" and "console-key" in line["message"] for line in lines)
    assert result.returncode == 1  # drift: an unmanaged key
    assert (lines[-1]["level"], lines[-1]["logger"]) == ("ERROR", "keys.reconcile")
    assert lines[-1]["message"].startswith("Drift found: ")


def test_the_reconcilers_report_without_apply_is_json_lines_too(tmp_path: Path, new_public_key):
    """Found running `nsml_sync` (no --apply) in the reconciler's container with LOG_FORMAT=json: its table of drift
    and "In sync: ..." came as plain lines, where a pass's report is JSON."""
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        env = portal_env(database_url, LOG_FORMAT="json", LOG_LEVEL="INFO", NSML_API_URL=simulator.base_url)
        in_sync = manage(database_url, "nsml_sync", env=env, check=False)
        simulator.add_key("console-key", new_public_key())
        drift = manage(database_url, "nsml_sync", env=env, check=False)

    assert in_sync.returncode == 0
    [line] = [json.loads(line) for line in (in_sync.stdout + in_sync.stderr).splitlines()]
    assert (line["logger"], line["message"]) == ("keys.reconcile", "In sync: NSML and the portal hold the same keys.")
    assert drift.returncode == 1
    lines = [json.loads(line) for line in (drift.stdout + drift.stderr).splitlines()]
    assert {line["logger"] for line in lines} == {"keys.reconcile"}
    assert [line["message"][:25] for line in lines if "console-key" in line["message"]] == ["unmanaged: console-key (n"]
    assert lines[-1]["message"].startswith("Drift found: 1 unmanaged, 0 missing")


def test_a_one_shot_pass_that_cannot_list_nsml_ends_with_a_json_line(tmp_path: Path):
    """Found running `nsml_sync --apply` from cron with LOG_FORMAT=json against an NSML that answered 503: the
    retries were JSON lines, but the line saying the pass failed, the one an alert looks for, was Django's plain
    "CommandError: Could not list NSML's keys: ..." on stderr."""
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        simulator.set_faults(Faults(fail_status=503, retry_after=0))
        env = portal_env(database_url, LOG_FORMAT="json", LOG_LEVEL="INFO", NSML_API_URL=simulator.base_url)
        result = manage(database_url, "nsml_sync", "--apply", env=env, check=False)

    assert result.returncode == 2  # NSML could not be listed
    lines = [json.loads(line) for line in (result.stdout + result.stderr).splitlines()]
    failed = [line for line in lines if line["logger"] == "keys.reconcile"]
    assert [line["level"] for line in failed] == ["ERROR"]
    assert failed[0]["message"].startswith("Could not list NSML's keys: ")


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_token_secret_in_a_url_is_in_no_log_line(tmp_path: Path, log_format):
    """Found with curl: a token put in the path (/api/v1/keys/$TOKEN, a script's arguments swapped) was
    written whole to the logs three times: the request line, its path, and django.request's "Not Found"."""
    secret = "nsmlk_" + "Zq3" * 14 + "x"
    with live_gunicorn(tmp_path, LOG_FORMAT=log_format, LOG_LEVEL="INFO", LOG_REQUESTS="true") as (portal, log):
        answers = [
            requests.get(f"{portal.url}/api/v1/keys/{secret}", headers={"Authorization": f"Bearer {secret}"}),
            requests.get(f"{portal.url}/keys/{secret}/", headers={"Referer": f"{portal.url}/x/{secret}"}),
        ]

    assert [answer.status_code for answer in answers] == [404, 404]
    written = log.read_text()
    assert "/api/v1/keys/nsmlk_[redacted]" in written  # the lines are there, the secret is not
    assert secret not in written and secret[6:30] not in written


def test_a_private_key_pasted_into_a_search_box_is_in_no_access_log_line(tmp_path: Path):
    """Found in QA: a private key pasted into the admin's search box (refused there) travels in the query string,
    and the next page's Referer carries it again; gunicorn's access line wrote both whole."""
    pasted = private_text(generate_private_key("ed25519"))
    searched = "/admin/keys/registeredkey/?o=1&q=" + quote_plus(pasted)
    with live_gunicorn(tmp_path, LOG_FORMAT="plain", LOG_LEVEL="INFO") as (portal, log):
        answers = [
            requests.get(f"{portal.url}{searched}", allow_redirects=False, timeout=30),
            requests.get(f"{portal.url}/healthz", headers={"Referer": f"{portal.url}{searched}"}, timeout=30),
        ]

    assert [answer.status_code for answer in answers] == [302, 200]
    written = log.read_text()
    assert "/admin/keys/registeredkey/?o=1&q=[private-key-redacted]" in written  # the lines are there
    body = pasted.splitlines()[1]
    assert "PRIVATE" not in written and body not in written and quote_plus(body) not in written


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_the_metrics_token_in_a_url_is_in_no_log_line(tmp_path: Path, log_format):
    """Found by scraping with the token in the path (/metrics/<token>, a scraper's metrics_path written
    wrong): the 404 wrote METRICS_TOKEN whole in the request's line, its path and django.request's line."""
    token = "Scrape-Token-4f1c9a7e2b"
    with live_gunicorn(tmp_path, LOG_FORMAT=log_format, LOG_LEVEL="INFO", LOG_REQUESTS="true", METRICS_TOKEN=token) as (
        portal,
        log,
    ):
        answers = [
            requests.get(f"{portal.url}/metrics/{token}"),
            requests.get(f"{portal.url}/metrics", headers={"Authorization": f"Bearer {token}"}),
        ]

    assert [answer.status_code for answer in answers] == [404, 200]
    written = log.read_text()
    assert "/metrics/[redacted]" in written  # the lines are there, the token is not
    assert token not in written


def test_a_token_or_private_key_sent_as_the_user_agent_is_in_no_access_log_line(tmp_path: Path):
    """Found in QA pass 3: the audit cut a token's secret and private-key material out of a client's user
    agent, but gunicorn's access line (its "%(a)s") wrote the agent whole."""
    secret = "nsmlk_" + "Qw7" * 14 + "y"
    body = "".join(private_text(generate_private_key("ed25519")).splitlines()[1:-1])
    with live_gunicorn(tmp_path, LOG_FORMAT="plain", LOG_LEVEL="INFO") as (portal, log):
        answers = [
            requests.get(f"{portal.url}/healthz", headers={"User-Agent": f"deploy-bot/1 {secret}"}, timeout=30),
            requests.get(f"{portal.url}/healthz", headers={"User-Agent": body}, timeout=30),
        ]

    assert [answer.status_code for answer in answers] == [200, 200]
    written = log.read_text()
    assert '"deploy-bot/1 nsmlk_[redacted]"' in written and '"[private-key-redacted]"' in written
    assert secret[6:30] not in written and body[:40] not in written


def test_a_percent_encoded_private_key_sent_as_the_user_agent_is_in_no_access_log_line(tmp_path: Path):
    """Found in QA pass 4: a key file percent-encoded (as a URL holds it) sent as the User-Agent was written whole
    by gunicorn's access line: the agent was read as written, not percent-decoded as a URL is."""
    pasted = private_text(generate_private_key("rsa2048"), "pem")
    with live_gunicorn(tmp_path, LOG_FORMAT="plain", LOG_LEVEL="INFO") as (portal, log):
        answer = requests.get(f"{portal.url}/healthz", headers={"User-Agent": quote(pasted, safe="")}, timeout=30)

    assert answer.status_code == 200
    written = log.read_text()
    assert '"[private-key-redacted]"' in written and "PRIVATE" not in written


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_private_key_in_a_urls_path_is_in_no_log_line(tmp_path: Path, log_format):
    """Found in QA pass 3: a private key's body in a path (/api/v1/keys/$KEY with the wrong file, or pasted into
    the address bar) was written whole by gunicorn's access line, django.request's "Not Found" and the
    request's own line: only a query value that held one was cut, and only token secrets in a path."""
    body = "".join(private_text(generate_private_key("ed25519")).splitlines()[1:-1])
    with live_gunicorn(tmp_path, LOG_FORMAT=log_format, LOG_LEVEL="INFO", LOG_REQUESTS="true") as (portal, log):
        answers = [
            requests.get(f"{portal.url}/api/v1/keys/{quote(body, safe='')}", timeout=30),
            requests.get(f"{portal.url}/keys/{body}/", timeout=30),
            requests.get(f"{portal.url}/healthz", headers={"Referer": f"{portal.url}/x/{body}"}, timeout=30),
        ]

    assert [answer.status_code for answer in answers] == [404, 404, 200]
    written = log.read_text()
    for piece in body.replace("+", "/").split("/"):
        assert len(piece) < 16 or piece[:16] not in written
    assert "[removed: it held private-key material]" in written  # the lines are there, the key is not


def putty_key_file(private_key) -> str:
    """The private key as PuTTY's .ppk file holds it (version 3, unencrypted): its own armour, no PEM."""
    public_blob = public_line(private_key).split()[1]
    secret = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    private_blob = base64.b64encode(len(secret).to_bytes(4, "big") + secret).decode()
    return (
        f"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key-20261129\nPublic-Lines: 2\n"
        f"{public_blob[:64]}\n{public_blob[64:]}\nPrivate-Lines: 1\n{private_blob}\nPrivate-MAC: {'7e' * 32}\n"
    )


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_private_key_with_its_line_breaks_in_a_urls_path_is_in_no_log_line(tmp_path: Path, log_format):
    """Found in QA pass 4: a PuTTY key file pasted whole into the address bar was written whole by django.request's
    "Not Found": Django writes the path with its line breaks as "\\n", and the .ppk's fields are known by the line
    they start, so the portal's filter no longer saw a key in the line."""
    ppk = putty_key_file(generate_private_key("ed25519"))
    private_line = ppk.splitlines()[7]
    with live_gunicorn(tmp_path, LOG_FORMAT=log_format, LOG_LEVEL="INFO", LOG_REQUESTS="true") as (portal, log):
        answers = [
            requests.get(f"{portal.url}/keys/{quote(ppk, safe='')}/", timeout=30),
            requests.get(f"{portal.url}/api/v1/keys/{quote(ppk, safe='')}", timeout=30),
        ]

    assert [answer.status_code for answer in answers] == [404, 404]
    written = log.read_text()
    assert private_line[8:40] not in written and "Private-Lines" not in written
    assert "[removed: it held private-key material]" in written  # the lines are there, the key is not


def test_a_line_break_in_a_urls_path_writes_no_access_log_line_of_its_own(tmp_path: Path):
    """Found in QA pass 4: gunicorn's access line wrote the path as decoded, its CR/LF included, so a request for
    /x%0D%0A<a made-up line> put a line of the client's choosing into the log, as if another request had been
    served; an escape sequence (%1B) reached the terminal of whoever read the log."""
    forged = '10.9.9.9 - admin [30/Nov/2026:01:00:00 +0900] "POST /admin/auth/user/1/delete/ HTTP/1.1" 302 0'
    with live_gunicorn(tmp_path, LOG_FORMAT="plain", LOG_LEVEL="INFO") as (portal, log):
        answers = [
            requests.get(f"{portal.url}/x{quote(chr(13) + chr(10) + forged, safe='')}", timeout=30),
            requests.get(f"{portal.url}/y{quote(chr(27) + '[2J', safe='')}", timeout=30),
        ]

    assert [answer.status_code for answer in answers] == [404, 404]
    lines = log_lines(log)
    assert not [line for line in lines if line.startswith("10.9.9.9")]
    assert "\x1b" not in log.read_text()
    assert [line for line in lines if '"GET /x\\r\\n10.9.9.9 - admin' in line]  # the request's line, escaped


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_an_rsa_private_keys_body_in_a_urls_path_is_in_no_log_line(tmp_path: Path, log_format):
    """Found in QA pass 4: the test above holds for an OpenSSH key (its body starts with a magic string), but an
    RSA key's PEM body in a path was written whole by django.request's "Not Found" and gunicorn's access line:
    the path's "/" is a base64 character too, so the base64 read began at the path, not at the key."""
    body = "".join(private_text(generate_private_key("rsa2048"), "pem").splitlines()[1:-1])
    with live_gunicorn(tmp_path, LOG_FORMAT=log_format, LOG_LEVEL="INFO", LOG_REQUESTS="true") as (portal, log):
        answers = [
            requests.get(f"{portal.url}/api/v1/keys/{quote(body, safe='')}", timeout=30),
            requests.get(f"{portal.url}/keys/{body}/", timeout=30),
        ]

    assert [answer.status_code for answer in answers] == [404, 404]
    written = log.read_text()
    for piece in body.replace("+", "/").split("/"):
        assert len(piece) < 16 or piece[:16] not in written
    assert "[removed: it held private-key material]" in written  # the lines are there, the key is not


def test_a_private_key_in_the_log_in_pages_next_is_in_no_access_log_line(tmp_path: Path):
    """Found in QA pass 4: a private key pasted into the admin's search box after the session ended goes to the
    log-in page's next=, encoded twice (a URL inside a URL's query), and the log-in's POST carries that address
    as its Referer: gunicorn's access line wrote it whole, as it read the value percent-decoded once only."""
    pasted = private_text(generate_private_key("rsa2048"), "pem")
    searched = "/admin/keys/registeredkey/?q=" + quote_plus(pasted)
    with live_gunicorn(tmp_path, LOG_FORMAT="plain", LOG_LEVEL="INFO") as (portal, log):
        to_log_in = requests.get(f"{portal.url}{searched}", allow_redirects=False, timeout=30)
        log_in_page = f"{portal.url}{to_log_in.headers['Location']}"
        answer = requests.get(f"{portal.url}/healthz", headers={"Referer": log_in_page}, timeout=30)

    assert (to_log_in.status_code, answer.status_code) == (302, 200)
    assert "%250A" in log_in_page  # the key's line breaks, encoded twice
    written = log.read_text()
    assert '"GET /healthz HTTP/1.1" 200' in written  # the line is there, the key is not
    for line in pasted.splitlines()[2:-1]:
        for piece in line.replace("+", "/").split("/"):
            assert len(piece) < 16 or piece[:16] not in written


def _send_raw(url: str, request: bytes) -> bytes:
    """`request` as written, for a request line no HTTP client sends; gunicorn's answer's first line."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        return connection.recv(200).split(b"\r\n")[0]


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_secret_in_a_request_line_gunicorn_refuses_is_in_no_log_line(tmp_path: Path, log_format):
    """Found in QA: a request line gunicorn could not read (a byte past ASCII in it) was logged whole in gunicorn's
    own warning ("Invalid request from ip=...: Invalid HTTP request line: '...'"), with the token's secret, the
    metrics token or the private key the URL held: the filter that cuts them ran on the portal's lines alone."""
    secret = "nsmlk_" + "Rt5" * 14 + "z"
    metrics_token = "Scrape-Token-4f1c9a7e2b"
    body = "".join(private_text(generate_private_key("ed25519")).splitlines()[1:-1])
    with live_gunicorn(tmp_path, LOG_FORMAT=log_format, LOG_LEVEL="INFO", METRICS_TOKEN=metrics_token) as (
        portal,
        log,
    ):
        tail = b"\xff HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        answers = [
            _send_raw(portal.url, f"GET /api/v1/keys/{secret}".encode() + tail),
            _send_raw(portal.url, f"GET /metrics/{metrics_token}".encode() + tail),
            _send_raw(portal.url, f"GET /keys/?q={quote(body)}".encode() + tail),
        ]

    assert answers == [b"HTTP/1.1 400 Bad Request"] * 3
    written = log.read_text()
    assert written.count("Invalid HTTP request line") == 2  # the lines are there, the secrets are not
    assert "nsmlk_[redacted]" in written and "/metrics/[redacted]" in written
    assert secret[6:30] not in written and metrics_token not in written and body[:40] not in written


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_secret_sent_as_the_host_header_is_in_no_traceback(tmp_path: Path, log_format):
    """Found in QA: a token's secret, the metrics token or a private key's body sent as the Host header was cut
    from django.security's "Invalid HTTP_HOST header" message, but written whole in the traceback logged with it
    (its last line repeats the exception's message): the filter cut the message, never the traceback."""
    secret = "nsmlk_" + "Hq4" * 14 + "w"
    metrics_token = "Scrape-Token-4f1c9a7e2b"
    body = "".join(private_text(generate_private_key("ed25519")).splitlines()[1:-1])
    with live_gunicorn(tmp_path, LOG_FORMAT=log_format, LOG_LEVEL="INFO", METRICS_TOKEN=metrics_token) as (
        portal,
        log,
    ):
        answers = [
            requests.get(f"{portal.url}/healthz", headers={"Host": host}, timeout=30)
            for host in (secret, metrics_token, body)
        ]

    assert [answer.status_code for answer in answers] == [400] * 3
    written = log.read_text()
    assert written.count("DisallowedHost") >= 3  # the lines and their tracebacks are there, the secrets are not
    assert secret[6:30] not in written and metrics_token not in written and body[:40] not in written


def test_a_secret_sent_as_a_basic_auth_user_is_in_no_access_log_line(tmp_path: Path):
    """Found in QA: a script that sends its token as HTTP Basic's user (`curl -u "$TOKEN:"`, as some APIs take
    one), or the metrics token that way, had it written whole by gunicorn's access line (its "%(u)s")."""
    secret = "nsmlk_" + "Bu6" * 14 + "v"
    metrics_token = "Scrape-Token-4f1c9a7e2b"
    body = "".join(private_text(generate_private_key("ed25519")).splitlines()[1:-1])
    with live_gunicorn(tmp_path, LOG_FORMAT="plain", LOG_LEVEL="INFO", METRICS_TOKEN=metrics_token) as (portal, log):
        answers = [
            requests.get(f"{portal.url}/api/v1/keys", auth=(secret, ""), timeout=30),
            requests.get(f"{portal.url}/metrics", auth=(metrics_token, ""), timeout=30),
            requests.get(f"{portal.url}/healthz", auth=(body, "x"), timeout=30),
            requests.get(f"{portal.url}/healthz", auth=("deploy\r\nbot", "x"), timeout=30),
        ]

    assert [answer.status_code for answer in answers] == [401, 401, 200, 200]
    written = log.read_text()
    assert " - nsmlk_[redacted] [" in written and " - [redacted] [" in written  # the lines are there
    assert " - [private-key-redacted] [" in written and " - deploy\\r\\nbot [" in written
    assert secret[6:30] not in written and metrics_token not in written and body[:40] not in written


@pytest.mark.django_db
def test_a_signed_in_members_refusals_name_them(member, settings):
    """Found in QA: a CSRF failure, a 405 and a 400 for a NUL sent by a signed-in member logged "user": "" (no view
    had loaded the user), so the log could not tell a member's stale form from a stranger's probe."""
    from django.test import Client

    settings.LOG_FORMAT, settings.LOG_REQUESTS = "json", True
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)

    with json_lines_of("portal.request", "django.request") as lines:
        client.post("/keys/new/", {"title": "laptop"})  # no CSRF token
        client.get("/accounts/logout/")  # log-out is a POST
        client.get("/keys/?q=%00")
        client.get("/healthz")  # a probe with the same cookie: nothing to name it by, and no query spent

    requests_lines = [(line["path"], line["status"], line["user"]) for line in lines if "status" in line]
    assert requests_lines == [
        ("/keys/new/", 403, member.username),
        ("/accounts/logout/", 405, member.username),
        ("/keys/", 400, member.username),
        ("/healthz", 200, ""),
    ]
    # Django's own line for the 400, logged once the response is out, names them too.
    [bad_request] = [line for line in lines if line["message"] == "Bad Request: /keys/"]
    assert bad_request["user"] == member.username
