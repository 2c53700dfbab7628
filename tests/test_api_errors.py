"""Under /api/ every error is the API's JSON form, whoever makes it (portal/api_errors.py): an address no
route matches, a method a route does not take (the schema's too), a 500, a body sent in chunks, a JSON body that
is not an object. Found by calling the API as a script would, with curl."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from keys.models import AuditEvent, RegisteredKey
from nsml.simulator import Faults
from tests.test_json_logs import json_lines_of

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/keys"


@pytest.fixture
def bearer(member, token_for) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_for(member, name='script')}"}


def json_error(response, status: int) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"} and error["message"]
    return error


@pytest.mark.parametrize("path", ["/api/v1/keys/abc", "/api/v1/keys/-1", "/api/v1/keys/", "/api/v1/nope", "/api/v1/"])
def test_an_address_no_route_matches_is_a_json_404(client, bearer, path):
    error = json_error(client.get(path, **bearer), 404)

    assert error["code"] == "not_found"


@pytest.mark.parametrize("method", ["put", "patch", "options", "trace"])
def test_a_method_a_route_does_not_take_is_a_json_405_that_names_the_ones_it_does(client, bearer, method):
    response = client.generic(method.upper(), KEYS, **bearer)

    error = json_error(response, 405)
    assert error["code"] == "method_not_allowed"
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/docs"])
def test_the_schema_and_its_docs_take_only_reads_a_json_405_not_csrfs_403(bearer, method, path):
    # A script's POST carries no CSRF cookie: it used to get "not allowed" (403), which hid the real answer.
    client = Client(enforce_csrf_checks=True)

    error = json_error(client.generic(method, path, **bearer), 405)

    assert error["code"] == "method_not_allowed"
    assert set(client.generic(method, path)["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert client.head(path).status_code == 200


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/keys/abc"), ("PUT", KEYS), ("GET", "/api/v1/nope")])
def test_an_error_made_outside_the_api_says_its_length_and_so_does_its_head(client, bearer, method, path):
    """Found with curl -I: HEAD /api/v1/keys/abc came without Content-Length (the JSON form replaced Django's
    page after CommonMiddleware had measured it), where every other HEAD under the portal says it."""
    answer = client.generic(method, path, **bearer)
    head = client.head(path, **bearer) if method == "GET" else None

    assert answer["Content-Length"] == str(len(answer.content))
    if head is not None:
        assert (head.status_code, head["Content-Length"]) == (answer.status_code, answer["Content-Length"])


def test_a_json_404_points_to_the_list_of_the_apis_addresses(client, bearer):
    error = json_error(client.get("/api/v1/", **bearer), 404)

    assert "/api/v1/docs" in error["message"]
    assert client.get("/api/v1/docs").status_code == 200


def test_a_bug_under_the_api_is_a_json_500(client, bearer, new_public_key):
    client.raise_request_exception = False
    # A rate the limiter cannot read fails inside the submission: what a bug would do.
    with override_settings(KEYS_SUBMIT_RATE="abc"):
        response = client.post(
            KEYS, json.dumps({"title": "t", "key": new_public_key()}), content_type="application/json", **bearer
        )

    error = json_error(response, 500)
    assert error["code"] == "server_error"


def test_a_body_sent_in_chunks_is_a_411_that_says_to_send_its_length(client, bearer, new_public_key):
    body = json.dumps({"title": "chunked", "key": new_public_key()})

    response = client.post(KEYS, body, content_type="application/json", HTTP_TRANSFER_ENCODING="chunked", **bearer)

    error = json_error(response, 411)
    assert error["code"] == "length_required"
    assert "Content-Length" in error["message"]
    assert not RegisteredKey.objects.exists()


def test_a_form_sent_in_chunks_is_a_411_page_not_a_form_read_as_empty(member_client, new_public_key):
    response = member_client.post(
        "/keys/new/", {"title": "chunked", "key": new_public_key()}, HTTP_TRANSFER_ENCODING="chunked"
    )

    assert response.status_code == 411
    assert "The portal cannot read this request" in response.content.decode()


@pytest.mark.parametrize("body", ['"abc def"', '"abc"', "[1, 2]", "null", "42", "true"])
def test_a_json_body_that_is_not_an_object_is_refused_as_such(client, bearer, body):
    response = client.post(KEYS, body, content_type="application/json", **bearer)

    error = json_error(response, 422)
    assert error["code"] == "invalid"
    assert "one JSON object" in error["message"]
    assert not AuditEvent.objects.filter(action="register").exists()


def test_an_empty_body_is_a_400_that_says_it_is_empty(client, bearer, nsml):
    response = client.post(KEYS, b"", content_type="application/json", **bearer)

    error = json_error(response, 400)
    assert error["code"] == "malformed_json"
    assert error["message"] == "The request body is empty: send one JSON object, with the fields title and key."
    assert not RegisteredKey.objects.exists()
    assert not AuditEvent.objects.filter(action="register").exists()


def test_the_errors_are_in_the_clients_language(client, bearer):
    error = json_error(client.put(KEYS, HTTP_ACCEPT_LANGUAGE="ko", **bearer), 405)

    assert error["message"] != "This address does not take this method; the Allow header lists those it does."
    assert any("\uac00" <= character <= "\ud7a3" for character in error["message"])  # Hangul


def test_a_new_keys_times_read_the_same_in_the_answer_to_its_post_and_in_a_get(client, bearer, nsml, new_public_key):
    created = client.post(
        KEYS, json.dumps({"title": "laptop", "key": new_public_key()}), content_type="application/json", **bearer
    ).json()

    read = client.get(f"{KEYS}/{created['id']}", **bearer).json()

    assert created["expires_at"] == read["expires_at"]
    assert created["created_at"] == read["created_at"]
    assert read["expires_at"].endswith("Z")


def test_the_errors_made_outside_the_api_say_their_charset_as_the_apis_own_do(client, bearer):
    made_outside = client.get("/api/v1/nope", **bearer)
    made_inside = client.get("/api/v1/keys/99999", **bearer)

    assert made_outside["Content-Type"] == made_inside["Content-Type"] == "application/json; charset=utf-8"


def test_a_bug_under_the_api_is_logged_once_with_its_traceback(client, bearer, new_public_key, caplog):
    """Found reading a live portal's JSON log: each 500 under /api/ wrote two ERROR lines "Internal Server Error",
    the second without the traceback, so an alert on error lines counted every API bug twice."""
    client.raise_request_exception = False
    with override_settings(KEYS_SUBMIT_RATE="abc"), caplog.at_level("WARNING", logger="django.request"):
        response = client.post(
            KEYS, json.dumps({"title": "t", "key": new_public_key()}), content_type="application/json", **bearer
        )

    assert response.status_code == 500
    logged = [record for record in caplog.records if record.name == "django.request"]
    assert len(logged) == 1
    assert logged[0].levelname == "ERROR" and logged[0].exc_info is not None


def test_an_api_error_django_did_not_log_is_logged_once(client, bearer, caplog):
    # A 404 for an address no route matches was not logged when made: it still is, once, as it leaves.
    with caplog.at_level("WARNING", logger="django.request"):
        response = client.get("/api/v1/keys/abc", **bearer)

    assert response.status_code == 404
    assert [record.getMessage() for record in caplog.records if record.name == "django.request"] == [
        "Not Found: /api/v1/keys/abc"
    ]


CREATES = frozenset({"POST"})
NSML_BUSY_OR_AWAY = {
    "throttled": (Faults(fail_status=429, fail_methods=CREATES), "Service Unavailable", "nsml_throttled"),
    "unavailable": (Faults(fail_status=503, fail_methods=CREATES), "Service Unavailable", "nsml_unavailable"),
    "dropped": (Faults(drop=True, fail_methods=CREATES), "Bad Gateway", "nsml_no_answer"),
}


@pytest.mark.parametrize("case", list(NSML_BUSY_OR_AWAY))
def test_nsml_busy_or_away_is_logged_as_a_warning_not_an_error(client, member, token_for, nsml, new_public_key, case):
    """Found in QA: NSML throttling a submission wrote Django's ERROR "Service Unavailable", and an operator who alerts
    on errors was paged for an upstream hiccup the portal had handled (it told the client to try again)."""
    faults, phrase, code = NSML_BUSY_OR_AWAY[case]
    secret = token_for(member, name="script")
    nsml.set_faults(faults)

    with json_lines_of("django.request") as lines:
        response = client.post(
            KEYS,
            json.dumps({"title": "laptop", "key": new_public_key()}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
            HTTP_X_REQUEST_ID="submission-7",
        )

    assert json_error(response, 503 if phrase == "Service Unavailable" else 502)["code"] == code
    [line] = lines
    assert (line["level"], line["message"]) == ("WARNING", f"{phrase}: /api/v1/keys ({code})")
    assert line["request_id"] == "submission-7"
    assert secret[6:] not in json.dumps(lines)


def test_nsml_busy_when_revoking_is_logged_as_a_warning(client, member, bearer, register, nsml):
    key = register(member)
    nsml.set_faults(Faults(fail_status=429, fail_methods=frozenset({"DELETE"})))

    with json_lines_of("django.request") as lines:
        response = client.delete(f"{KEYS}/{key.pk}", **bearer)

    assert json_error(response, 503)["code"] == "nsml_throttled"
    assert [(line["level"], line["message"]) for line in lines] == [
        ("WARNING", f"Service Unavailable: /api/v1/keys/{key.pk} (nsml_throttled)")
    ]
