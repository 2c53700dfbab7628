"""The four secrets (NCP secret key, NCP access key, API Gateway key, Django secret key) never reach a
page, a log line or a database row, whatever NSML answers; error reports hide them and key material."""

from __future__ import annotations

import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import path, reverse
from django.views.debug import ExceptionReporter, technical_500_response

import nsml.client as nsml_client_module
from keys import upstream
from keys.models import AuditEvent, RegisteredKey, UnmanagedKey
from nsml.simulator import Faults
from portal.errors import PortalExceptionReporterFilter
from portal.urls import urlpatterns as portal_urlpatterns
from tests.helpers import nsml_sync


def boom(request):
    raise RuntimeError("an unexpected failure")


urlpatterns = [*portal_urlpatterns, path("test-boom/", boom)]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

# Kept well away from boom(): the debug page shows the source lines around the failing one.
SECRETS = {
    "NCP_SECRET_KEY": "ncp-secret-Zq8vT3xW9kL2mN7pR4sU6yB1cD5fH0jA",
    "NCP_ACCESS_KEY": "ncp-access-Qm4XrK7tV2wY9zB3nC6dF8gH1jL5pS0u",
    "NSML_API_KEY": "apigw-key-Jt6Hs2Lq9Wv4Xe7Rb1Nc3Mp8Kd5Yf0Ga",
    "SECRET_KEY": "django-secret-Uw3Kp8Zr5Tx1Vq6Ny9Lm2Bc7Hd4Fj0Gs-long-enough-to-pass-the-check",
}
SUBMITTED_PASSWORD = "typed-password-Ee5Rr6Tt7"

FAULTS = [
    *[Faults(fail_status=status) for status in (400, 401, 403, 404, 406, 413, 429, 500, 502, 503, 504)],
    Faults(fail_status=401, fail_code="210"),
    Faults(fail_status=500, fail_body="html"),
    Faults(fail_status=503, fail_body="garbage"),
    Faults(fail_status=504, fail_body="text-plain"),
    Faults(drop=True),
]


@pytest.fixture
def secret_nsml(settings, request):
    """The simulator and the portal sharing distinctive credentials, so a leak is unmistakable."""
    for name, value in SECRETS.items():
        setattr(settings, name, value)
    settings.KEYS_SUBMIT_RATE = "1000/m"  # this test submits many keys; the limit is tested elsewhere
    return request.getfixturevalue("nsml")


@pytest.fixture
def captured(caplog):
    # "django" does not propagate to the root logger, where caplog listens; listen there too.
    caplog.set_level(logging.DEBUG)
    django_logger = logging.getLogger("django")
    django_logger.addHandler(caplog.handler)
    yield caplog
    django_logger.removeHandler(caplog.handler)


def every_row() -> str:
    rows = []
    for model in apps.get_models():
        for row in model._default_manager.all().values():
            rows.append(f"{model._meta.label} {row!r}")
    return "\n".join(rows)


def assert_no_secret(text: str, where: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"{name} appears in {where}"


def test_no_secret_reaches_a_page_a_log_or_the_database(
    secret_nsml, settings, captured, member, admin_user, new_public_key
):
    seen: list[str] = []

    def keep(response, label: str) -> None:
        seen.append(f"--- {label} {response.status_code}\n{response.headers!r}\n")
        if not response.streaming:
            seen.append(response.content.decode(errors="replace"))

    anonymous = Client()
    keep(anonymous.get(reverse("login")), "login page")
    keep(anonymous.post(reverse("login"), {"username": "alice", "password": SUBMITTED_PASSWORD}), "failed log-in")
    keep(anonymous.get("/no-such-page/"), "404")

    member_client = Client()
    keep(member_client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"}), "log-in")
    keep(member_client.post(reverse("keys:new"), {"title": "laptop", "key": new_public_key()}), "registered")
    for number, faults in enumerate(FAULTS):
        secret_nsml.set_faults(faults)
        response = member_client.post(reverse("keys:new"), {"title": f"fault-{number}", "key": new_public_key()})
        keep(response, faults.describe())
    settings.NSML_TIMEOUT = 0.3
    secret_nsml.set_faults(Faults(slow_commit=0.8))
    keep(member_client.post(reverse("keys:new"), {"title": "slow", "key": new_public_key()}), "slow commit")
    secret_nsml.set_faults(Faults())
    settings.NSML_TIMEOUT = 2.0

    key = RegisteredKey.objects.filter(owner=member).first()
    assert key is not None
    for url in (reverse("keys:list"), reverse("keys:new"), reverse("keys:detail", args=[key.pk])):
        keep(member_client.get(url), url)
    keep(member_client.get(reverse("keys:revoke", args=[key.pk])), "revoke page")
    keep(member_client.post(reverse("keys:revoke", args=[key.pk])), "revoked")
    settings.KEYS_SUBMIT_RATE = "1/h"
    member_client.post(reverse("keys:new"), {"title": "limit-1", "key": new_public_key()})
    too_many = member_client.post(reverse("keys:new"), {"title": "limit-2", "key": new_public_key()})
    assert too_many.status_code == 429
    keep(too_many, "429")

    admin_client = Client()
    admin_client.force_login(admin_user)
    keep(admin_client.get(reverse("admin:index")), "admin index")
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        keep(admin_client.get(reverse("admin:{}_{}_changelist".format(*info))), f"{model} changelist")
        for obj in model._default_manager.all()[:3]:
            keep(admin_client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk])), f"{model} change")

    out = io.StringIO()
    call_command("nsml_check", stdout=out, stderr=out)
    seen.append(out.getvalue())

    pages = "\n".join(seen)
    # Not vacuous: the faults were hit, and the logs and tables hold what happened.
    assert "NSML refused the key" in pages and "could not sign in to NSML" in pages
    assert "audit action=register" in captured.text and "Not Found: /no-such-page/" in captured.text
    assert "bad_credentials" in every_row()
    assert_no_secret(pages, "a page")
    assert_no_secret(captured.text, "the logs")
    assert_no_secret(every_row(), "the database")
    assert SUBMITTED_PASSWORD not in captured.text + every_row()


def test_a_server_error_in_production_shows_the_plain_500_page(client, settings, captured):
    settings.DEBUG = False
    client.raise_request_exception = False

    response = client.post("/test-boom/", {"key": "ssh-ed25519 AAAAC3Nza-submitted", "password": SUBMITTED_PASSWORD})

    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page
    assert "RuntimeError" not in page and "Traceback" not in page
    assert "an unexpected failure" in captured.text  # logged for the operator
    assert "AAAAC3Nza-submitted" not in captured.text and SUBMITTED_PASSWORD not in captured.text


def test_the_debug_error_page_hides_secrets_and_submitted_key_material(client, settings):
    for name, value in SECRETS.items():
        setattr(settings, name, value)
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "redis://:hunter2pw@x:1/0"}
    }
    settings.DEBUG = True
    client.raise_request_exception = False

    response = client.post(
        "/test-boom/",
        {
            "title": "laptop-title-field",
            "key": "ssh-ed25519 AAAAC3Nza-submitted",
            "password": SUBMITTED_PASSWORD,
            "expires_at": "2027-01-31",
        },
    )

    page = response.content.decode()
    assert response.status_code == 500
    assert "an unexpected failure" in page  # it is the debug page
    assert_no_secret(page, "the debug page")
    assert "AAAAC3Nza-submitted" not in page
    assert SUBMITTED_PASSWORD not in page
    assert "hunter2pw" not in page
    # The title too: a private key is sometimes pasted into the first field (found with the debug page on).
    assert "laptop-title-field" not in page
    assert "2027-01-31" in page  # other fields stay, so the page still helps


def test_the_report_filter_hides_every_credential_setting(settings, rf):
    for name, value in SECRETS.items():
        setattr(settings, name, value)
    assert settings.DEFAULT_EXCEPTION_REPORTER_FILTER == "portal.errors.PortalExceptionReporterFilter"
    report_filter = PortalExceptionReporterFilter()

    safe = report_filter.get_safe_settings()

    for name in SECRETS:
        assert safe[name] == report_filter.cleansed_substitute, name
    assert report_filter.hidden_settings.search("NSML_API_KEY")
    assert report_filter.hidden_settings.search("NCP_ACCESS_KEY")


def test_the_report_filter_hides_key_title_and_password_fields_on_any_view(rf):
    request = rf.post("/", {"title": "laptop", "key": "ssh-ed25519 AAAA", "password": "p", "days": "30"})

    parameters = PortalExceptionReporterFilter().get_post_parameters(request)

    assert parameters["days"] == "30"
    hidden = PortalExceptionReporterFilter.cleansed_substitute
    assert parameters["key"] == parameters["password"] == parameters["title"] == hidden


def test_a_mailed_error_report_has_no_secret(rf, settings):
    for name, value in SECRETS.items():
        setattr(settings, name, value)
    request = rf.post("/keys/new/", {"key": "ssh-ed25519 AAAAC3Nza-submitted"})
    try:
        raise RuntimeError("boom")
    except RuntimeError as error:
        report = ExceptionReporter(request, type(error), error, error.__traceback__).get_traceback_text()

    assert_no_secret(report, "the text report")
    assert "AAAAC3Nza-submitted" not in report


@pytest.mark.parametrize("debug", [True, False], ids=["debug-page", "error-report"])
def test_a_failure_inside_the_nsml_client_shows_no_credential(secret_nsml, settings, rf, monkeypatch, debug):
    """An unexpected error while the client holds the signed headers: neither `make run`'s debug page
    nor the report mailed to admins shows the API Gateway key, the access key or the secret key."""
    settings.DEBUG = debug

    def broken_read(*args, **kwargs):
        raise RuntimeError("a bug while reading NSML's answer")

    monkeypatch.setattr(nsml_client_module, "_read", broken_read)
    request = rf.get("/keys/")
    with pytest.raises(RuntimeError) as raised:
        upstream.nsml_client().list_keys()

    page = technical_500_response(request, raised.type, raised.value, raised.tb).content.decode()
    text_report = ExceptionReporter(request, raised.type, raised.value, raised.tb, is_email=True).get_traceback_text()

    assert "_attempt" in page  # the client's frame is in the report, its variables are not
    assert_no_secret(page, "the debug page")
    assert_no_secret(text_report, "the error report")


class EchoingGateway(BaseHTTPRequestHandler):
    """A gateway that refuses with the request's headers in its trace id header and at the end of a long error
    message (what a debugging proxy, or a gateway quoting the request, does)."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        api_key = self.headers["x-ncp-apigw-api-key"]
        # The API key straddles the 500th character of the message: a cut before the redaction kept its start.
        message = "x" * (500 - len(api_key) // 2) + api_key
        body = json.dumps({"error": {"errorCode": "100", "message": message}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-ncp-trace-id", f"{api_key}-{self.headers['x-ncp-iam-access-key']}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        # The key list, with the request's API key quoted in a key's name and title.
        api_key = self.headers["x-ncp-apigw-api-key"]
        item = {"name": f"k-{api_key}", "title": f"t-{api_key}", "fingerprint": "", "createTime": "2026-01-01"}
        body = json.dumps({"keyList": [item], "totalCount": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_credentials_a_gateway_echoes_in_its_trace_id_its_key_list_or_a_long_messages_end_are_kept_nowhere(
    settings, captured, member, admin_user, new_public_key
):
    """Found in QA against an echoing gateway: the redaction covered NSML's message and error code but not the
    trace id header, so the API Gateway key and the access key were in the audit row, its log line and the
    admin's audit page; the key list's names and titles were kept as unmanaged keys as NSML sent them; and the
    message was cut to 500 characters before the redaction, so a key straddling the cut left its first half."""
    for name, value in SECRETS.items():
        setattr(settings, name, value)
    server = HTTPServer(("127.0.0.1", 0), EchoingGateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.NSML_API_URL = f"http://127.0.0.1:{server.server_port}/nsml/v1"
    member_client, admin_client = Client(), Client()
    member_client.force_login(member)
    admin_client.force_login(admin_user)
    try:
        response = member_client.post(reverse("keys:new"), {"title": "echoed", "key": new_public_key()})
        _, printed = nsml_sync("--apply")
    finally:
        server.shutdown()
        server.server_close()

    assert "NSML refused the key" in response.content.decode()
    row = AuditEvent.objects.get(action=AuditEvent.Action.REGISTER)
    assert row.trace_id == "[credential]-[credential]"
    assert "new unmanaged keys: t-[credential]" in printed
    assert UnmanagedKey.objects.get().title == "t-[credential]"
    audit_page = admin_client.get(reverse("admin:keys_auditevent_change", args=[row.pk])).content.decode()
    half = SECRETS["NSML_API_KEY"][: len(SECRETS["NSML_API_KEY"]) // 2]
    for where, text in (
        ("the audit", every_row()),
        ("the logs", captured.text),
        ("the audit page", audit_page),
        ("nsml_sync's report", printed),
    ):
        assert_no_secret(text, where)
        assert half not in text, f"half of the API Gateway key is in {where}"
