"""Every page answers only the methods it uses; anything else (TRACE, OPTIONS, PUT...) is a 405."""

from __future__ import annotations

import pytest
import requests
from django.test import Client
from django.urls import reverse

from keys.models import AuditEvent
from tests.live_portal import Gunicorn, portal_database, portal_env

pytestmark = pytest.mark.django_db

MEMBER_PAGES = {
    "keys:list": "GET, HEAD",
    "keys:new": "GET, HEAD, POST",
    "keys:detail": "GET, HEAD",
    "keys:revoke": "GET, HEAD, POST",
}
UNUSED = ["trace", "options", "put", "patch", "delete"]


@pytest.fixture
def key(member, register):
    return register(member)


def url(name: str, key) -> str:
    return reverse(name, args=[key.pk]) if name in ("keys:detail", "keys:revoke") else reverse(name)


@pytest.mark.parametrize("name", MEMBER_PAGES)
@pytest.mark.parametrize("method", UNUSED)
def test_a_member_page_refuses_a_method_it_does_not_use(member_client, key, name, method):
    response = getattr(member_client, method)(url(name, key))

    assert response.status_code == 405
    key.refresh_from_db()
    assert key.is_active


@pytest.mark.parametrize("name, allowed", MEMBER_PAGES.items())
def test_a_refusal_names_the_methods_the_page_allows(member_client, key, name, allowed):
    assert member_client.options(url(name, key))["Allow"] == allowed


@pytest.mark.parametrize("name", MEMBER_PAGES)
@pytest.mark.parametrize("method", ["get", "head"])
def test_member_pages_still_answer_get_and_head(member_client, key, name, method):
    assert getattr(member_client, method)(url(name, key)).status_code == 200


@pytest.mark.parametrize("method", UNUSED)
def test_the_login_page_refuses_a_method_it_does_not_use(client, method):
    assert getattr(client, method)(reverse("login")).status_code == 405


@pytest.mark.parametrize("method", ["get", "head", *UNUSED])
def test_log_out_takes_only_post(member_client, method):
    response = getattr(member_client, method)(reverse("logout"))

    assert response.status_code == 405
    assert member_client.get(reverse("keys:list")).status_code == 200


def test_the_log_out_address_opened_in_the_browser_offers_the_log_out_button(member_client):
    """Found in a browser: /accounts/logout/ typed in the address bar answered a 405 with no body, so Chromium
    showed its own "HTTP ERROR 405" page, in the browser's language, with no way on."""
    response = member_client.get(reverse("logout"), headers={"Accept-Language": "ko"})

    assert response.status_code == 405 and response["Allow"] == "POST"
    page = response.content.decode()
    assert f'<form method="post" action="{reverse("logout")}"' in page
    assert "<title>로그아웃 · NSML 키 포털</title>" in page
    member_client.post(reverse("logout"))
    assert member_client.get(reverse("keys:list")).status_code == 302


def test_the_admins_log_out_address_opened_in_the_browser_offers_the_log_out_button(admin_client):
    response = admin_client.get(reverse("admin:logout"), headers={"Accept-Language": "ko"})

    assert response.status_code == 405 and response["Allow"] == "POST, OPTIONS"  # Django's admin log-out
    page = response.content.decode()
    assert f'<form method="post" action="{reverse("logout")}"' in page
    assert "<title>로그아웃 · NSML 키 포털</title>" in page
    assert admin_client.get(reverse("admin:index")).status_code == 200  # still logged in
    admin_client.post(reverse("admin:logout"))  # Django's own log-out, by POST
    assert admin_client.get(reverse("admin:index")).status_code == 302


@pytest.mark.parametrize("path", ["/", reverse("healthz")])
@pytest.mark.parametrize("method", ["post", *UNUSED])
def test_the_front_page_and_healthz_take_only_get_and_head(client, path, method):
    assert getattr(client, method)(path).status_code == 405


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_probe_or_scrape_with_another_method_is_told_405_not_that_its_page_is_out_of_date(settings, path, method):
    """Found with curl -X POST against gunicorn: Django's test client skips the CSRF check, so the 405s above
    held only here; a real client was answered 403 with the HTML "This page is out of date" (for /metrics, with
    the right token: the status that says the token is wrong)."""
    settings.METRICS_TOKEN = "metrics-token-0123456789"
    client = Client(enforce_csrf_checks=True)

    response = getattr(client, method)(path, headers={"Authorization": f"Bearer {settings.METRICS_TOKEN}"})

    assert response.status_code == 405
    assert response["Allow"] in ("GET", "GET, HEAD")


@pytest.mark.parametrize("method", ["get", "head"])
def test_healthz_answers_get_and_head(client, method):
    assert getattr(client, method)(reverse("healthz")).status_code == 200


def test_a_head_answer_under_gunicorn_has_gets_headers_and_logs_no_warning(tmp_path):
    """Found with curl -I against gunicorn (27): every HEAD to a page with a body (/readyz, /healthz, the log-in
    page) wrote a WARNING, "WSGI app sent body bytes on a no-body response", gunicorn dropping the body itself;
    a load balancer's HEAD probe every few seconds filled the log with them."""
    log = tmp_path / "gunicorn.log"
    with portal_database(tmp_path) as database_url:
        portal = Gunicorn(portal_env(database_url, LOG_FORMAT="json", LOG_LEVEL="INFO"), log, workers=1, threads=2)
        try:
            answers = {
                path: (requests.get(portal.url + path), requests.head(portal.url + path))
                for path in ("/healthz", "/readyz", "/accounts/login/")
            }
        finally:
            portal.stop()

    for path, (get, head) in answers.items():
        assert (head.status_code, head.content) == (get.status_code, b""), path
        assert head.headers["Content-Length"] == get.headers["Content-Length"] == str(len(get.content)), path
    warnings = [line for line in log.read_text().splitlines() if '"WARNING"' in line]
    assert not warnings


@pytest.mark.django_db
def test_a_head_on_the_audit_export_exports_nothing_and_audits_no_export(admin_client):
    """Found with curl -I on /admin/keys/auditevent/export.csv: a HEAD counted every row and wrote an audit row
    saying they were exported, though no row left the portal."""

    export = reverse("admin:keys_auditevent_changelist") + "export.csv"

    head = admin_client.head(export)

    assert head.status_code == 200
    assert head["Content-Type"] == "text/csv; charset=utf-8" and "attachment" in head["Content-Disposition"]
    assert not AuditEvent.objects.filter(action="export").exists()
    admin_client.get(export)
    assert AuditEvent.objects.filter(action="export").count() == 1  # a GET is still an export, and audited


@pytest.mark.parametrize("name", [*MEMBER_PAGES, "keys:rotate"])
def test_a_members_pages_are_never_kept_by_the_browser_or_a_proxy(member_client, key, name):
    """Found in QA (security pass): the access tokens and admin pages sent no-store, but a member's key pages did
    not, so a shared computer's Back button after log-out, or a proxy, could show them, and Back after a
    revocation could show the key as it was."""
    address = (
        reverse(name, args=[key.pk])
        if name in ("keys:detail", "keys:revoke", "keys:rotate", "keys:expiry")
        else url(name, key)
    )

    response = member_client.get(address)

    assert response.status_code == 200, address
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
