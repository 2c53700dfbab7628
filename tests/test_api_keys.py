"""The API's keys end to end against the simulator over HTTP: the same services, refusals, states,
audit, rate limit and emails as the pages, in the API's JSON shape."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.apps import apps
from django.core import mail, serializers
from django.utils import timezone

from keys.checks import CENTURY_DAYS
from keys.models import RegisteredKey
from nsml.simulator import Faults
from tests.helpers import (
    at_the_start_of_a_second,
    generate_private_key,
    posts_seen,
    private_text,
    public_line,
    with_a_rate_window_ahead,
)
from tests.test_key_refusals import CASES as KEY_REFUSALS

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/keys"


@pytest.fixture
def api(client, member, token_for):
    """Calls as alice with a fresh token: api("post", KEYS, {...})."""
    secret = token_for(member, name="provisioning")

    def call(method: str, path: str, body=None, **extra):
        data = json.dumps(body) if body is not None else None
        kwargs = {"content_type": "application/json"} if data is not None else {}
        return getattr(client, method)(path, data, HTTP_AUTHORIZATION=f"Bearer {secret}", **kwargs, **extra)

    return call


def error_of(response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"} and error["message"]
    return response.status_code, error["code"], error["field"]


def test_it_registers_a_key_and_answers_201_with_the_key(api, member, nsml, new_public_key):
    line = new_public_key("ed25519", comment="alice@laptop")

    response = api("post", KEYS, {"title": "alice-laptop", "key": line})

    assert response.status_code == 201
    body = response.json()
    key = RegisteredKey.objects.get()
    assert body == {
        "id": key.pk,
        "title": "alice-laptop",
        "key_type": "ssh-ed25519",
        "bits": 256,
        "comment": "alice@laptop",
        "fingerprint_sha256": key.fingerprint_sha256,
        "fingerprint_md5": key.fingerprint_md5,
        "status": "active",
        "created_at": body["created_at"],
        "expires_at": body["expires_at"],
    }
    assert key.expires_at is not None  # the default lifetime, KEYS_DEFAULT_LIFETIME_DAYS
    assert key.owner == member
    assert [held["title"] for held in nsml.held_keys()] == ["alice-laptop"]


def test_a_registration_is_audited_as_the_api_with_the_tokens_name(api, member, nsml, new_public_key, event):
    api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()}, HTTP_USER_AGENT="curl/8.5.0")

    row = event(action="register")
    assert (row.outcome, row.actor, row.title) == ("success", member, "alice-laptop")
    assert row.user_agent == 'api token "provisioning"; curl/8.5.0'


def test_a_registration_sends_the_same_email(api, member, nsml, new_public_key, django_capture_on_commit_callbacks):
    member.email = "alice@example.com"
    member.save()

    with django_capture_on_commit_callbacks(execute=True):
        api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()})

    assert [message.to for message in mail.outbox] == [["alice@example.com"]]
    assert "alice-laptop" in mail.outbox[0].body


def test_a_registration_nsml_has_not_confirmed_answers_202_pending(api, nsml, new_public_key):
    nsml.set_faults(Faults(drop=True))

    response = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()})

    assert response.status_code == 202
    assert response.json()["status"] == "pending"


@pytest.mark.parametrize("code", sorted(KEY_REFUSALS))
def test_each_key_refusal_has_the_forms_code(api, nsml, code):
    response = api("post", KEYS, {"title": "alice-laptop", "key": KEY_REFUSALS[code]()})

    assert error_of(response) == (422, code, "key")
    assert posts_seen(nsml) == []


@pytest.mark.parametrize(
    ("paste", "code", "named"),
    [
        ("$ cat ~/.ssh/id_ed25519.pub\n{key}", "options_prefix", "“$ cat ~/.ssh/id_ed25519.pub”"),
        ("{key}\nThanks!", "malformed", "“Thanks!”"),
    ],
)
def test_a_line_around_the_key_is_named_in_the_refusal(api, nsml, new_public_key, paste, code, named):
    key = new_public_key(comment="alice@laptop")

    response = api("post", KEYS, {"title": "alice-laptop", "key": paste.format(key=key)})

    assert error_of(response) == (422, code, "key")
    assert named in response.json()["error"]["message"]
    assert posts_seen(nsml) == []


@pytest.mark.parametrize(
    ("title", "code"),
    [
        ("", "title_required"),
        ("a" * 65, "title_too_long"),
        ("alice laptop", "title_characters"),
        ("1laptop", "title_first_letter"),
        ("alice--laptop", "title_double_hyphen"),
    ],
)
def test_each_title_refusal_has_the_forms_code(api, nsml, new_public_key, title, code):
    response = api("post", KEYS, {"title": title, "key": new_public_key()})

    assert error_of(response) == (422, code, "title")
    assert posts_seen(nsml) == []


def test_a_duplicate_title_or_key_is_refused_with_its_code(api, member, other_member, register, nsml, new_public_key):
    mine = register(member, "alice-laptop")

    assert error_of(api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()})) == (
        422,
        "duplicate_title",
        "title",
    )
    assert error_of(api("post", KEYS, {"title": "alice-other", "key": mine.public_key})) == (
        422,
        "duplicate_key",
        "key",
    )


def test_a_key_still_pending_is_refused_with_pending(api, nsml, new_public_key):
    line = new_public_key()
    nsml.set_faults(Faults(drop=True))
    api("post", KEYS, {"title": "alice-laptop", "key": line})
    nsml.set_faults(Faults())

    assert error_of(api("post", KEYS, {"title": "alice-laptop2", "key": line})) == (422, "pending", "key")


def test_another_key_under_a_pending_keys_title_is_told_the_title_is_taken_not_that_it_was_sent_before(
    api, nsml, new_public_key
):
    """Two scripts registering two keys under one title at once: the second key was never sent, so it is not told
    that its earlier attempt is still being checked, but which key holds the title."""
    nsml.set_faults(Faults(drop=True))
    api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()})
    nsml.set_faults(Faults())

    refused = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()})
    in_korean = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()}, HTTP_ACCEPT_LANGUAGE="ko")

    assert error_of(refused) == (422, "pending", "title")
    message = refused.json()["error"]["message"]
    assert "Your key “alice-laptop” is still being checked with NSML" in message
    assert "this key" not in message
    assert "“alice-laptop” 키를 아직 NSML에서 확인하고 있습니다" in in_korean.json()["error"]["message"]


def test_nsml_refusing_a_key_is_a_422_with_its_field(api, nsml, new_public_key):
    nsml.set_faults(Faults(fail_status=400, fail_methods=frozenset({"POST"})))

    status, code, _field = error_of(api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()}))

    assert (status, code) == (422, "nsml_rejected")


def test_nsml_being_away_is_a_503(api, nsml, new_public_key):
    nsml.set_faults(Faults(fail_status=503, fail_methods=frozenset({"POST"})))

    response = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()})

    assert error_of(response) == (503, "nsml_unavailable", None)
    assert response["Retry-After"] == "60"  # NSML named no time: a client's retry waits a minute
    assert RegisteredKey.objects.get().status == "failed"


def test_nsml_busy_is_a_503_that_says_when_to_try_again_as_nsml_said(api, member, register, nsml, new_public_key):
    # NSML asks for longer than the call has left: the portal stops at once and passes the wait on.
    nsml.set_faults(Faults(fail_status=429, retry_after=30))

    created = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()})

    assert error_of(created) == (503, "nsml_throttled", None)
    assert created["Retry-After"] == "30"
    assert "try again in 30 seconds." in created.json()["error"]["message"]

    nsml.set_faults(Faults())
    key = register(member, "alice-desktop")
    nsml.set_faults(Faults(fail_status=429, retry_after=45, fail_methods=frozenset({"DELETE"})))

    revoked = api("delete", f"{KEYS}/{key.pk}")

    assert error_of(revoked) == (503, "nsml_throttled", None)
    assert revoked["Retry-After"] == "45"
    key.refresh_from_db()
    assert key.status == "active"


def test_nsml_busy_without_a_time_is_a_503_with_the_minute_its_message_names(api, nsml, new_public_key, settings):
    settings.NSML_TIMEOUT = 0.5
    nsml.set_faults(Faults(fail_status=429, fail_methods=frozenset({"POST"})))

    response = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()})

    assert error_of(response) == (503, "nsml_throttled", None)
    assert response["Retry-After"] == "60"
    assert "minute" in response.json()["error"]["message"]


@pytest.mark.parametrize("fmt", ["openssh", "pkcs8"])
def test_a_private_key_is_refused_and_never_echoed_stored_or_logged(api, nsml, caplog, fmt):
    secret = private_text(generate_private_key("ed25519"), fmt)
    body_lines = [line for line in secret.splitlines() if line and "-----" not in line]
    caplog.set_level(logging.DEBUG)

    responses = [
        api("post", KEYS, {"title": "alice-laptop", "key": public_line(generate_private_key()) + "\n" + secret}),
        api("post", KEYS, {"title": secret, "key": public_line(generate_private_key())}),
        api("post", KEYS, {"title": "x", "key": secret, "expires_at": "2030-01-01"}),
        api("post", KEYS, {"title": "x", "key": secret, "expires_at": "not a date"}),
    ]

    # The last one too: a private key is refused before another field's mistake, as the form does.
    assert [error_of(response)[:2] for response in responses] == [(422, "private_key")] * 4
    stored = "".join(
        serializers.serialize("json", model.objects.all()) for model in apps.get_models() if model._meta.managed
    )
    for line in body_lines:
        for response in responses:
            assert line not in response.content.decode()
        assert line not in stored
        assert line not in caplog.text
    assert "PRIVATE KEY" not in stored
    assert posts_seen(nsml) == []


def test_an_access_token_sent_as_a_title_or_in_a_key_is_refused_and_never_stored_or_logged(
    client, member, token_for, nsml, caplog
):
    # A script with its arguments swapped: the token where the title goes, or after the key's text.
    secret = token_for(member, name="provisioning")
    caplog.set_level(logging.DEBUG)

    def post(body, **extra):
        return client.post(
            KEYS, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}", **extra
        )

    responses = [
        post({"title": secret, "key": public_line(generate_private_key())}),
        post({"title": "alice-laptop", "key": public_line(generate_private_key(), f"alice {secret}")}),
        post({"title": secret[:30], "key": public_line(generate_private_key())}),  # a selection cut short
        post({"title": secret, "key": "x"}, HTTP_ACCEPT_LANGUAGE="ko"),
    ]

    assert [error_of(response) for response in responses[:3]] == [
        (422, "access_token", "title"),
        (422, "access_token", "key"),
        (422, "access_token", "title"),
    ]
    assert "액세스 토큰" in responses[3].json()["error"]["message"]
    stored = "".join(
        serializers.serialize("json", model.objects.all()) for model in apps.get_models() if model._meta.managed
    )
    secret_part = secret[len("nsmlk_") : 30]
    assert secret_part not in stored  # the audit's refused titles included
    assert secret_part not in caplog.text
    assert not any(secret_part in response.content.decode() for response in responses)
    assert RegisteredKey.objects.count() == 0
    assert posts_seen(nsml) == []


def test_a_body_that_is_not_json_is_a_400(client, member, token_for, nsml):
    response = client.post(
        KEYS, "{not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token_for(member)}"
    )

    assert error_of(response) == (400, "malformed_json", None)


def test_a_field_of_the_wrong_type_names_the_field(api, nsml):
    assert error_of(api("post", KEYS, {"title": ["a"], "key": "x"})) == (422, "invalid", "title")


def test_a_field_the_call_does_not_take_is_refused_and_named_not_dropped(api, nsml, new_public_key):
    """A misspelt expires_at was dropped without a word, and the key registered with the default lifetime
    the script meant to shorten (found by sending {"expires": ...} with curl)."""
    day = (timezone.localdate() + timedelta(days=7)).isoformat()

    response = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key(), "expires": day})

    assert error_of(response) == (422, "unknown_field", "expires")
    assert "expires_at" in response.json()["error"]["message"]
    assert not RegisteredKey.objects.exists()
    assert posts_seen(nsml) == []


def test_an_unknown_field_is_named_back_only_when_it_reads_as_a_name(api, member, token_for, nsml, new_public_key):
    other_secret = token_for(member, name="other")
    names = ["a field with spaces", "x" * 40, other_secret, "<script>", "é"]

    responses = [api("post", KEYS, {"title": "alice-laptop", "key": new_public_key(), name: 1}) for name in names]

    assert [error_of(response) for response in responses] == [(422, "unknown_field", None)] * len(names)
    assert not any(other_secret[6:30] in response.content.decode() for response in responses)


def test_a_private_key_sent_in_a_field_the_call_does_not_take_is_refused_as_one(api, nsml, caplog):
    secret = private_text(generate_private_key("ed25519"))
    body_line = next(line for line in secret.splitlines() if line and "-----" not in line)
    caplog.set_level(logging.DEBUG)

    responses = [
        api("post", KEYS, {"title": "alice-laptop", "private_key": secret}),
        api("post", KEYS, {"title": "alice-laptop", "key": "x", secret: 1}),
    ]

    assert [error_of(response) for response in responses] == [(422, "private_key", None)] * 2
    assert not any(body_line in response.content.decode() for response in responses)
    assert body_line not in caplog.text
    assert posts_seen(nsml) == []


def test_a_private_key_anywhere_in_a_refused_body_is_refused_as_one(client, member, token_for, nsml, caplog):
    """A private key in a field of the wrong type (the key file's lines as a list), inside an object or a list, or
    in a body that is not an object was refused for its shape ("wrong type", "one JSON object"): the script was
    never told a private key had been sent."""
    secret = private_text(generate_private_key("ed25519"))
    body_line = next(line for line in secret.splitlines() if line and "-----" not in line)
    public = public_line(generate_private_key())
    token = token_for(member, name="provisioning")
    caplog.set_level(logging.DEBUG)
    bodies = [
        {"title": "alice-laptop", "key": secret.splitlines(keepends=True)},
        {"title": {"name": secret}, "key": public},
        {"title": "alice-laptop", "key": public, "other": [{"text": secret}]},
        [secret],
    ]

    responses = [
        client.post(KEYS, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
        for body in bodies
    ]

    assert [error_of(response) for response in responses] == [(422, "private_key", None)] * len(bodies)
    assert not any(body_line in response.content.decode() for response in responses)
    assert body_line not in caplog.text
    assert posts_seen(nsml) == []


def test_a_field_sent_twice_is_refused_not_read_as_its_last_value(client, member, token_for, nsml, new_public_key):
    """json keeps a repeated name's last value without a word: {"title": "a", "title": "b"} registered "b", and
    a private key sent first under "key" was dropped unseen, the public key after it registered."""
    secret = private_text(generate_private_key("ed25519"))
    public = new_public_key()
    token = token_for(member, name="provisioning")

    def post(text: str):
        return client.post(KEYS, text, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")

    twice = post(f'{{"title": "alice-a", "title": "alice-b", "key": {json.dumps(public)}}}')
    inside = post(f'{{"title": {{"a": 1, "a": 2}}, "key": {json.dumps(public)}}}')
    private_first = post(f'{{"title": "alice-c", "key": {json.dumps(secret)}, "key": {json.dumps(public)}}}')

    assert error_of(twice) == (422, "invalid", "title")
    assert "more than once" in twice.json()["error"]["message"]
    assert error_of(inside) == (422, "invalid", None)  # not "a": that is no field of the call
    assert error_of(private_first) == (422, "private_key", None)
    assert not RegisteredKey.objects.exists()
    assert posts_seen(nsml) == []


def test_an_expiry_within_the_maximum_is_kept(api, nsml, new_public_key):
    day = (timezone.localdate() + timedelta(days=30)).isoformat()

    response = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key(), "expires_at": day})

    assert response.status_code == 201
    assert response.json()["expires_at"].startswith(day)


def test_the_longest_lifetime_the_checks_allow_can_be_chosen(api, nsml, new_public_key, member_client, settings):
    settings.KEYS_MAX_LIFETIME_DAYS = settings.KEYS_DEFAULT_LIFETIME_DAYS = CENTURY_DAYS  # keys.E007's most
    day = (timezone.localdate() + timedelta(days=CENTURY_DAYS)).isoformat()

    response = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key(), "expires_at": day})

    assert response.status_code == 201 and response.json()["expires_at"].startswith(day)
    assert member_client.get("/keys/new/").status_code == 200


def _a_month_ahead() -> date:
    return timezone.localdate() + timedelta(days=30)


@pytest.mark.parametrize(
    "sent",
    [
        lambda day: f"{day}T10:00:00",
        lambda day: f"{day}T00:00:00",
        lambda day: f"{day}T00:00:00Z",
        lambda day: f"{day} 00:00",
        lambda day: int(datetime.combine(day, time(), tzinfo=UTC).timestamp()),  # a Unix time at midnight
        lambda day: day.strftime("%Y%m%d"),
        lambda day: day.strftime("%d/%m/%Y"),
        lambda day: f"{day.year}-02-30",
        lambda day: "",
    ],
    ids=["time", "midnight", "midnight-utc", "space-time", "unix-time", "basic", "day-first", "no-such-day", "empty"],
)
def test_an_expiry_that_is_not_a_date_alone_is_refused_naming_the_field(api, nsml, new_public_key, sent):
    """The field is the last day the key works: a time sent with it would be dropped without a word."""
    response = api(
        "post", KEYS, {"title": "alice-laptop", "key": new_public_key(), "expires_at": sent(_a_month_ahead())}
    )

    assert error_of(response) == (422, "invalid", "expires_at")
    assert response.json()["error"]["message"] == "expires_at must be a date written YYYY-MM-DD, with no time."
    assert not RegisteredKey.objects.exists()
    assert posts_seen(nsml) == []


def test_an_expiry_of_null_is_the_same_as_none_sent(api, nsml, new_public_key):
    response = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key(), "expires_at": None})

    assert response.status_code == 201
    assert response.json()["expires_at"] is not None  # the default lifetime


def test_an_expiry_beyond_the_maximum_is_refused_by_the_same_rule_as_the_form(api, nsml, new_public_key):
    day = (timezone.localdate() + timedelta(days=400)).isoformat()

    response = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key(), "expires_at": day})

    assert error_of(response)[:3] == (422, "expiry_too_late", "expires_at")
    assert posts_seen(nsml) == []


def test_an_expiry_in_the_year_9999_west_of_greenwich_is_refused_not_a_server_error(
    api, nsml, new_public_key, settings
):
    settings.KEYS_MAX_LIFETIME_DAYS, settings.TIME_ZONE = 0, "America/Los_Angeles"

    response = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key(), "expires_at": "9999-12-31"})

    assert error_of(response)[:3] == (422, "expiry_too_late", "expires_at")
    assert "9999-12-30" in response.json()["error"]["message"]
    assert posts_seen(nsml) == []


def test_a_body_over_64_kib_is_a_413(api, nsml):
    response = api("post", KEYS, {"title": "alice-laptop", "key": "x" * (64 * 1024)})

    assert error_of(response) == (413, "too_large", None)
    assert posts_seen(nsml) == []


def test_a_body_just_under_64_kib_is_read(api, nsml):
    response = api("post", KEYS, {"title": "alice-laptop", "key": "x" * (64 * 1024 - 100)})

    assert error_of(response)[:2] == (422, "too_long")  # the key parser's 16 KiB, not the body's limit


def test_it_shows_and_lists_only_the_callers_keys(api, member, other_member, register):
    mine = register(member, "alice-laptop")
    theirs = register(other_member, "bob-laptop")

    assert [key["id"] for key in api("get", KEYS).json()] == [mine.pk]
    assert api("get", f"{KEYS}/{mine.pk}").json()["title"] == "alice-laptop"
    assert error_of(api("get", f"{KEYS}/{theirs.pk}")) == (404, "not_found", None)
    assert error_of(api("get", f"{KEYS}/999999")) == (404, "not_found", None)


def test_head_answers_as_get_does_without_the_body(api, member, other_member, register):
    """A monitor or a script checking a key exists sends HEAD, as it may to any of Django's pages."""
    mine = register(member, "alice-laptop")
    theirs = register(other_member, "bob-laptop")

    for path in (KEYS, f"{KEYS}/{mine.pk}"):
        got, head = api("get", path), api("head", path)
        assert head.status_code == got.status_code == 200
        assert head.content == b""
        assert head["Content-Type"] == got["Content-Type"]
        assert head["Content-Length"] == str(len(got.content))
    assert api("head", f"{KEYS}/{theirs.pk}").status_code == 404


def test_it_cannot_revoke_another_members_key(api, other_member, register, nsml):
    theirs = register(other_member, "bob-laptop")

    assert error_of(api("delete", f"{KEYS}/{theirs.pk}")) == (404, "not_found", None)
    theirs.refresh_from_db()
    assert theirs.status == "active"
    assert [held["title"] for held in nsml.held_keys()] == ["bob-laptop"]


def test_it_revokes_a_key_and_answers_200(api, member, register, nsml, event):
    key = register(member, "alice-laptop")

    response = api("delete", f"{KEYS}/{key.pk}", HTTP_USER_AGENT="curl/8.5.0")

    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert nsml.held_keys() == []
    row = event(action="revoke")
    assert (row.outcome, row.actor, row.user_agent) == ("success", member, 'api token "provisioning"; curl/8.5.0')
    assert api("delete", f"{KEYS}/{key.pk}").status_code == 200  # again: already revoked


def test_a_revocation_nsml_has_not_confirmed_answers_202(api, member, register, nsml, settings):
    settings.NSML_TIMEOUT = 1.0
    key = register(member, "alice-laptop")
    nsml.set_faults(Faults(fail_status=503, fail_methods=frozenset({"DELETE"})))

    response = api("delete", f"{KEYS}/{key.pk}")

    assert response.status_code == 202
    assert response.json()["status"] == "revoking"


def test_nsml_refusing_a_revocation_keeps_the_key_active(api, member, register, nsml):
    key = register(member, "alice-laptop")
    nsml.set_faults(Faults(fail_status=400, fail_methods=frozenset({"DELETE"})))

    assert error_of(api("delete", f"{KEYS}/{key.pk}"))[:2] == (422, "nsml_rejected")
    key.refresh_from_db()
    assert key.status == "active"


def test_a_key_that_never_registered_cannot_be_revoked(api, member, nsml, new_public_key):
    nsml.set_faults(Faults(fail_status=400, fail_methods=frozenset({"POST"})))
    api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()})
    key = RegisteredKey.objects.get(status="failed")

    refused = api("delete", f"{KEYS}/{key.pk}")
    assert error_of(refused) == (409, "not_active", None)
    assert refused.json()["error"]["message"] == "NSML never registered this key, so there is nothing to revoke."


def test_a_pending_key_cannot_be_revoked_yet_and_the_answer_says_when_it_can(api, nsml, new_public_key):
    nsml.set_faults(Faults(drop=True))
    pending = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()}).json()
    nsml.set_faults(Faults())

    refused = api("delete", f"{KEYS}/{pending['id']}", HTTP_ACCEPT_LANGUAGE="ko")

    assert error_of(refused) == (409, "not_active", None)
    assert refused.json()["error"]["message"].startswith("NSML이 아직 이 키를 확인하지 않아 지금은 폐기할 수 없습니다.")
    assert RegisteredKey.objects.get(pk=pending["id"]).status == "pending"


def test_submissions_share_the_pages_rate_limit(api, member, member_client, nsml, new_public_key, settings, event):
    settings.KEYS_SUBMIT_RATE = "3/m"
    with_a_rate_window_ahead(member.pk)
    # Only submissions that reach NSML count: two through the page, one through the API.
    for number in range(2):
        assert member_client.post("/keys/new/", {"title": f"page-{number}", "key": new_public_key()}).status_code == 302
    assert api("post", KEYS, {"title": "x", "key": "x"}).status_code == 422  # refused by the portal: free
    assert api("post", KEYS, {"title": "api-key", "key": new_public_key()}).status_code == 201

    response = api("post", KEYS, {"title": "alice-laptop", "key": new_public_key()})

    assert error_of(response) == (429, "rate_limited", None)
    assert 1 <= int(response["Retry-After"]) <= 60
    assert len(posts_seen(nsml)) == 3
    row = event(reason="rate_limited")
    assert row.user_agent.startswith('api token "provisioning"')
    assert api("get", KEYS).status_code == 200  # reading is not counted


@pytest.mark.parametrize(
    ("rate", "language", "wait"),
    [
        ("1/s", "en", "try again in {seconds} second."),  # a rate per second always waits 1 s: not "1 seconds"
        ("1/m", "en", "try again in {seconds} second"),
        ("1/m", "ko", "{seconds}초 후에 다시 시도하세요"),
    ],
)
def test_the_limits_message_names_the_wait_retry_after_gives(
    api, member, nsml, new_public_key, settings, rate, language, wait
):
    settings.KEYS_SUBMIT_RATE = rate
    if rate.endswith("/m"):
        with_a_rate_window_ahead(member.pk)
    else:
        at_the_start_of_a_second()
    api("post", KEYS, {"title": "first-key", "key": new_public_key()})

    response = api("post", KEYS, {"title": "second-key", "key": new_public_key()}, HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 429
    assert wait.format(seconds=response["Retry-After"]) in response.json()["error"]["message"]


def test_errors_are_in_the_callers_language(api, nsml):
    response = api("post", KEYS, {"title": "1laptop", "key": "x"}, HTTP_ACCEPT_LANGUAGE="ko")

    message = response.json()["error"]["message"]
    assert any("\uac00" <= char <= "\ud7a3" for char in message)
