"""The request id: taken from X-Request-ID when it is a sane token, else made; sent back; on every audit row."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

GENERATED = re.compile(r"[0-9a-f]{32}")


def test_it_keeps_a_sane_request_id_and_writes_it_on_the_audit_row(client, member, event):
    offered = "lb-2026.11.28_0a1B-c"

    response = client.post(
        reverse("login"), {"username": "alice", "password": "alice-password-1"}, HTTP_X_REQUEST_ID=offered
    )

    assert response.status_code == 302
    assert response["X-Request-ID"] == offered
    assert event(action="login").request_id == offered


@pytest.mark.parametrize(
    "offered",
    ["", "a" * 65, "has space", "semi;colon", "<script>", "new\nline", "ünïcode", "slash/path"],
)
def test_it_makes_its_own_when_the_offered_one_is_not_a_sane_token(client, member, event, offered):
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"}, HTTP_X_REQUEST_ID=offered)

    made = response["X-Request-ID"]
    assert GENERATED.fullmatch(made)
    assert event(action="login_failed").request_id == made


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/healthz")["X-Request-ID"] for _ in range(3)}

    assert len(ids) == 3


def test_a_submission_s_audit_rows_carry_the_id_of_its_request(member_client, nsml, new_public_key, event):
    member_client.post(reverse("keys:new"), {"title": "laptop", "key": new_public_key()}, HTTP_X_REQUEST_ID="sub-1")

    row = event(action="register")
    assert (row.outcome, row.request_id) == ("success", "sub-1")


def test_a_command_s_audit_rows_have_none(member, register, nsml, event):
    register(member, "laptop")

    assert event(action="register").request_id == ""


def test_the_admin_shows_it(admin_client, client, member, event):
    client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"}, HTTP_X_REQUEST_ID="shown-1")
    row = event(action="login", actor=member)

    page = admin_client.get(reverse("admin:keys_auditevent_change", args=[row.pk]))
    found = admin_client.get(reverse("admin:keys_auditevent_changelist"), {"q": "shown-1"})

    assert "shown-1" in page.content.decode()
    assert list(found.context["cl"].result_list) == [row]


def test_an_api_tokens_secret_offered_as_the_id_is_never_echoed_or_kept(client, member, token_for, event):
    # A script that mixed up its headers: the secret would sit on append-only audit rows every admin reads.
    secret = token_for(member)

    response = client.delete("/api/v1/keys/999", HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_X_REQUEST_ID=secret)

    assert response.status_code == 404
    made = response["X-Request-ID"]
    assert GENERATED.fullmatch(made)
    assert event(action="token_first_use").request_id == made


def test_an_api_tokens_secret_in_the_user_agent_is_cut_from_the_audit_row(client, member, token_for, event):
    secret = token_for(member)

    client.delete("/api/v1/keys/999", HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_USER_AGENT=f"sync/1.0 {secret}")
    client.post(reverse("login"), {"username": "alice", "password": "wrong"}, HTTP_USER_AGENT=f"sync/1.0 {secret}")

    assert event(action="token_first_use").user_agent == 'api token "script-1"; sync/1.0 nsmlk_[redacted]'
    assert event(action="login_failed").user_agent == "sync/1.0 nsmlk_[redacted]"


def test_the_metrics_token_offered_as_the_id_is_never_echoed_logged_or_kept(client, member, event, monkeypatch):
    """Found in QA: a scraper that sent METRICS_TOKEN as its X-Request-ID (a sane token) had it echoed, written
    as the request_id of its JSON log lines and kept on audit rows; in a URL it was already cut from the logs."""
    token = "Scrape-Token-4f1c9a7e2b"
    monkeypatch.setattr("portal.logs._SETTINGS_SECRETS", [token])  # what the settings' hide_in_logs registers

    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"}, HTTP_X_REQUEST_ID=token)

    made = response["X-Request-ID"]
    assert GENERATED.fullmatch(made)
    assert event(action="login_failed").request_id == made


@pytest.mark.parametrize("setting", ["NCP_ACCESS_KEY", "NCP_SECRET_KEY", "NSML_API_KEY"])
def test_a_credential_of_the_portals_offered_as_the_id_is_never_echoed_logged_or_kept(client, member, event, setting):
    """Found in QA: NCP_SECRET_KEY (a real one is 40 letters and digits, a sane token) sent as X-Request-ID came
    back in the response, in every JSON log line of the request and on its audit row; only METRICS_TOKEN was
    refused as an id."""
    from django.conf import settings

    credential = getattr(settings, setting)

    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"}, HTTP_X_REQUEST_ID=credential)

    made = response["X-Request-ID"]
    assert GENERATED.fullmatch(made)
    assert event(action="login_failed").request_id == made
