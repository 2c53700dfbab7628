"""OpenID Connect is off unless configured; PASSWORD_LOGIN decides who may still use a password.
The sign-in itself, against a real provider, is in tests/browser/test_oidc_login.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from keys.oidc import OIDC_BACKEND
from tests.helpers import free_port

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


@pytest.fixture
def oidc_on(settings):
    """OIDC with explicit endpoints (no discovery): enough for the pages, nobody answers there."""
    port = free_port()
    settings.OIDC_ISSUER = ""
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"http://127.0.0.1:{port}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"http://127.0.0.1:{port}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"http://127.0.0.1:{port}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"http://127.0.0.1:{port}/jwks"
    settings.OIDC_RP_CLIENT_ID = "portal"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_PROVIDER_NAME = "Keycloak"
    return settings


def test_it_is_off_by_default(client):
    page = client.get(LOGIN).content.decode()

    assert "Sign in with" not in page
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_the_login_page_offers_the_provider_once_configured(client, oidc_on):
    page = client.get(LOGIN + "?next=/tokens/").content.decode()

    assert "Sign in with Keycloak" in page
    assert 'href="/oidc/authenticate/?next=%2Ftokens%2F"' in page


def test_the_sign_in_link_sends_the_browser_to_the_provider(client, oidc_on):
    response = client.get("/oidc/authenticate/?next=/tokens/")

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(oidc_on.OIDC_OP_AUTHORIZATION_ENDPOINT + "?")
    for part in ("client_id=portal", "redirect_uri=http%3A%2F%2Ftestserver%2Foidc%2Fcallback%2F", "nonce=", "state="):
        assert part in location
    assert "code_challenge=" in location  # PKCE
    assert "secret" not in location


def test_a_provider_that_cannot_be_discovered_gets_a_clear_message(client, settings):
    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}/realms/none"
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = "portal", "secret"
    settings.OIDC_TIMEOUT = 1.0

    response = client.get("/oidc/authenticate/", follow=True)

    assert response.redirect_chain[-1][0] == LOGIN
    assert "cannot be reached right now" in response.content.decode()


def test_a_callback_the_portal_did_not_start_logs_nobody_in(client, oidc_on):
    response = client.get("/oidc/callback/?code=abc&state=forged")

    assert response.status_code == 302 and response["Location"] == LOGIN
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("callback", ["?error=access_denied&state={state}", "?code=abc&state=not-the-one-sent"])
def test_a_failed_sign_in_keeps_where_the_member_was_going(client, oidc_on, callback):
    client.get("/oidc/authenticate/?next=/tokens/")
    state = next(iter(client.session["oidc_states"]))

    response = client.get("/oidc/callback/" + callback.format(state=state), follow=True)

    assert response.redirect_chain[0] == (LOGIN + "?next=%2Ftokens%2F", 302)
    page = response.content.decode()
    assert "Signing in with Keycloak did not work" in page
    assert 'href="/oidc/authenticate/?next=%2Ftokens%2F"' in page
    assert "_auth_user_id" not in client.session


def test_a_failed_sign_in_goes_back_only_to_a_local_path(client, oidc_on):
    client.get("/oidc/authenticate/")
    session = client.session
    session["oidc_login_next"] = "https://elsewhere.example/keys/"
    session.save()

    response = client.get("/oidc/callback/?error=access_denied")

    assert response["Location"] == LOGIN


@pytest.mark.parametrize(
    ("policy", "member_may", "staff_may"),
    [("all", True, True), ("staff-only", False, True), ("off", False, False)],
)
def test_password_login_follows_the_policy(client, django_user_model, settings, policy, member_may, staff_may):
    settings.PASSWORD_LOGIN = policy
    django_user_model.objects.create_user("alice", password="alice-password-1")
    django_user_model.objects.create_user("root", password="root-password-1", is_staff=True)

    outcomes = []
    for name in ("alice", "root"):
        attempt = Client()
        attempt.post(LOGIN, {"username": name, "password": f"{name}-password-1"})
        outcomes.append("_auth_user_id" in attempt.session)

    assert outcomes == [member_may, staff_may]


def test_with_password_login_off_the_page_offers_only_the_provider(client, oidc_on):
    oidc_on.PASSWORD_LOGIN = "off"

    page = client.get(LOGIN).content.decode()

    assert "Sign in with Keycloak" in page
    assert 'name="password"' not in page


def test_a_deactivated_oidc_users_session_ends(client, member, oidc_on):
    client.force_login(member, backend=OIDC_BACKEND)
    assert client.get("/keys/").status_code == 200

    member.is_active = False
    member.save()

    assert client.get("/keys/").status_code == 302


def test_an_oidc_session_is_not_asked_for_a_password(client, member, oidc_on):
    client.force_login(member, backend=OIDC_BACKEND)
    session = client.session
    session.pop("keys.password_confirmed_at", None)
    session.save()

    response = client.post("/tokens/", {"name": "ci", "days": "7"})

    assert response.status_code == 200 and response.context["new"] is not None


def test_an_unknown_password_login_policy_stops_the_portal_at_start(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.PASSWORD_LOGIN = "staff"

    with pytest.raises(SystemCheckError, match="keys.E003"):
        call_command("check")


def test_an_issuer_answering_json_that_is_no_discovery_document_gets_the_clear_message(client, settings):
    # OIDC_ISSUER pointed at the wrong address, which answers JSON: a message, not a 500, and once the
    # address answers a real document, the sign-in works without a restart.
    served = {"body": ["not", "a", "document"]}

    class Issuer(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(served["body"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Issuer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer = f"http://127.0.0.1:{server.server_address[1]}/realms/ml"
    settings.OIDC_ISSUER = issuer
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = "portal", "secret"
    settings.OIDC_PROVIDER_NAME = "Keycloak"
    try:
        for wrong in (["not", "a", "document"], None, "text"):
            served["body"] = wrong
            response = client.get("/oidc/authenticate/", follow=True)
            assert response.redirect_chain[-1][0] == LOGIN
            assert "Keycloak cannot be reached right now" in response.content.decode()

        served["body"] = {"issuer": issuer, "authorization_endpoint": f"{issuer}/auth"}
        response = client.get("/oidc/authenticate/")
        assert response.status_code == 302
        assert response["Location"].startswith(f"{issuer}/auth?")
    finally:
        server.shutdown()
        server.server_close()


# A worker of a portal without OIDC never loads mozilla-django-oidc or PyJWT (about 1.3 MiB each process): not
# at start, not for a password log-in (every backend is asked), not for a session's pages or the OIDC links.
PASSWORD_ONLY = """
import sys
import django
django.setup()
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
User.objects.create_user("carol", password="carol-password-1")
client = Client()
seen = [client.post("/accounts/login/", {"username": "carol", "password": "carol-password-1"}).status_code]
seen += [client.get(path).status_code for path in ("/keys/", "/oidc/authenticate/", "/oidc/callback/")]
print(seen, "mozilla_django_oidc" in sys.modules, "jwt" in sys.modules)
"""


def test_a_portal_without_oidc_does_not_load_the_oidc_library(tmp_path, settings):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "CACHE_URL": "locmemcache://",
    }
    result = subprocess.run(
        [sys.executable, "-c", PASSWORD_ONLY],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "[302, 200, 404, 404] False False"
