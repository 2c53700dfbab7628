"""The API describes itself: a valid OpenAPI 3 schema at /api/v1/openapi.json and docs at /api/v1/docs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.contrib.staticfiles import finders
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from keys.models import RegisteredKey
from nsml.titles import TITLE_PATTERN, title_problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def bearer_for_schema(member, token_for) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_for(member)}"}


def test_the_schema_is_served_without_a_token_and_is_valid_openapi_3(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_the_schema_describes_every_operation_and_the_bearer_token(client):
    schema = client.get("/api/v1/openapi.json").json()

    operations = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert operations == {
        ("GET", "/api/v1/keys"),
        ("POST", "/api/v1/keys"),
        ("GET", "/api/v1/keys/{key_id}"),
        ("DELETE", "/api/v1/keys/{key_id}"),
    }
    schemes = schema["components"]["securitySchemes"]
    assert [(s["type"], s["scheme"]) for s in schemes.values()] == [("http", "bearer")]
    post = schema["paths"]["/api/v1/keys"]["post"]
    assert {"201", "202", "401", "413", "422", "429"} <= set(post["responses"])
    assert set(schema["components"]["schemas"]["KeyIn"]["properties"]) == {"title", "key", "expires_at"}


def test_the_schema_lists_only_the_answers_each_operation_can_give(client):
    """A client generated from the schema handles what the call can answer: a list is never a 409 or a 502, a
    revocation never a 429 (only submissions count against the rate); any call can be unreadable (400), sent in
    chunks (411) or meet an outage (503)."""
    paths = client.get("/api/v1/openapi.json").json()["paths"]

    answers = {
        (method.upper(), path): set(operation["responses"])
        for path, item in paths.items()
        for method, operation in item.items()
    }
    every_call = {"400", "401", "411", "413", "503"}
    assert answers == {
        ("GET", "/api/v1/keys"): {"200", "422", *every_call},  # 422: a state, page size or cursor it does not take
        ("POST", "/api/v1/keys"): {"201", "202", "422", "429", "502", *every_call},
        ("GET", "/api/v1/keys/{key_id}"): {"200", "404", *every_call},
        ("DELETE", "/api/v1/keys/{key_id}"): {"200", "202", "404", "409", "422", "502", *every_call},
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/keys"), ("post", "/api/v1/keys"), ("get", "/api/v1/keys/1"), ("delete", "/api/v1/keys/1")],
)
def test_a_body_sent_in_chunks_is_a_411_every_operation_lists(client, bearer_for_schema, method, path):
    """curl -T -, or requests with a generator for a body, sends it in chunks: every call then answers 411, and a
    client generated from the schema must have been told it could."""
    templated = path.replace("/1", "/{key_id}")
    listed = client.get("/api/v1/openapi.json").json()["paths"][templated][method]["responses"]

    chunked = {"content_type": "application/json", "HTTP_TRANSFER_ENCODING": "chunked", **bearer_for_schema}
    response = client.generic(method.upper(), path, "{}", **chunked)

    assert response.status_code == 411
    assert response.json()["error"]["code"] == "length_required"
    assert listed["411"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}


def test_every_429_and_503_in_the_schema_carries_retry_after(client):
    """The rate limit, NSML busy or away and the portal's own outage each send Retry-After; the schema says so, in
    the reader's language, so a generated client reads it rather than guessing a wait."""
    schema = client.get("/api/v1/openapi.json").json()
    korean = client.get("/api/v1/openapi.json", HTTP_ACCEPT_LANGUAGE="ko").json()

    waits = [
        (path, method, status, answer.get("headers", {}).get("Retry-After"))
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        for status, answer in operation["responses"].items()
        if status in ("429", "503")
    ]
    assert len(waits) == 5  # 503 on each of the four operations, 429 on POST
    for _path, _method, _status, header in waits:
        assert header["schema"] == {"type": "integer", "minimum": 1}
        assert header["required"] is True
        assert "the wait the message names" in header["description"]
    korean_header = korean["paths"]["/api/v1/keys"]["post"]["responses"]["429"]["headers"]["Retry-After"]
    assert "메시지" in korean_header["description"]
    validate(schema)


def test_the_schema_describes_the_key_lists_filter_pages_and_link_in_the_readers_language(client):
    """A client generated from the schema knows the states it may filter by, the page size's bounds, the cursor, and
    where the next page is: the Link header of the 200."""
    english = client.get("/api/v1/openapi.json").json()
    korean = client.get("/api/v1/openapi.json", HTTP_ACCEPT_LANGUAGE="ko").json()

    listing = english["paths"]["/api/v1/keys"]["get"]
    parameters = {parameter["name"]: parameter for parameter in listing["parameters"]}
    assert set(parameters) == {"status", "limit", "before"}
    assert all(parameter["in"] == "query" and not parameter["required"] for parameter in parameters.values())
    assert parameters["status"]["schema"]["type"] == "array"  # repeated: ?status=active&status=pending
    assert parameters["status"]["schema"]["items"]["enum"] == list(RegisteredKey.Status.values)
    limit = parameters["limit"]["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == ("integer", 1, 500, 100)
    assert (parameters["before"]["schema"]["type"], parameters["before"]["schema"]["minimum"]) == ("integer", 1)
    link = listing["responses"]["200"]["headers"]["Link"]
    assert link["schema"] == {"type": "string"}
    assert 'rel="next"' in link["description"]
    assert all(parameter["description"] for parameter in parameters.values())

    korean_listing = korean["paths"]["/api/v1/keys"]["get"]
    assert "Link 헤더" in korean_listing["description"]
    assert "다음 페이지" in korean_listing["responses"]["200"]["headers"]["Link"]["description"]
    korean_parameters = {parameter["name"]: parameter["description"] for parameter in korean_listing["parameters"]}
    assert all(any("\uac00" <= ch <= "\ud7a3" for ch in text) for text in korean_parameters.values()), korean_parameters
    validate(english)
    validate(korean)


def test_the_schema_says_every_field_of_an_error_always_comes_back(client, bearer_for_schema):
    """Every error carries code, message and field (null when it is about no one field): a client generated from
    the schema may read error.field without checking that it is there."""
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    refused = client.post("/api/v1/keys", "[]", content_type="application/json", **bearer_for_schema).json()

    detail = schemas["ErrorDetail"]
    assert set(detail["required"]) == set(detail["properties"]) == set(refused["error"]) == {"code", "message", "field"}
    assert refused["error"]["field"] is None


def test_the_schema_says_what_must_be_sent_and_what_always_comes_back(client, member, token_for, nsml, new_public_key):
    """A client generated from the schema must send title and key, and may count on every field of a key,
    its status one of the five states; the API's real answers hold to it."""
    schema = client.get("/api/v1/openapi.json").json()
    key_in, key_out = (schema["components"]["schemas"][name] for name in ("KeyIn", "KeyOut"))
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token_for(member)}"}

    created = client.post(
        "/api/v1/keys", {"title": "alice-laptop", "key": new_public_key()}, content_type="application/json", **bearer
    )
    answers = [created.json(), client.get(f"/api/v1/keys/{created.json()['id']}", **bearer).json()]
    answers += client.get("/api/v1/keys", **bearer).json()
    answers.append(client.delete(f"/api/v1/keys/{created.json()['id']}", **bearer).json())
    untitled = client.post("/api/v1/keys", {"key": new_public_key()}, content_type="application/json", **bearer)

    assert set(key_in["required"]) == {"title", "key"}
    assert key_in["additionalProperties"] is False  # a misspelt field is refused (unknown_field), not dropped
    expiry = key_in["properties"]["expires_at"]  # a day alone, as the API takes it
    assert {"type": "string", "format": "date"} in expiry["anyOf"]
    assert "YYYY-MM-DD, with no time" in expiry["description"]
    assert set(key_out["required"]) == set(key_out["properties"]) == set(answers[0])
    assert key_out["properties"]["status"]["enum"] == list(RegisteredKey.Status.values)
    validator = Draft202012Validator({**key_out, "additionalProperties": False})
    for answer in answers:
        validator.validate(answer)
    # Required in the schema; at run time a missing title is still refused with the form's code.
    assert (untitled.status_code, untitled.json()["error"]["code"]) == (422, "title_required")


def test_the_docs_page_is_served_under_the_portals_csp(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "<script>" not in page.replace(" ", "")  # only script files: the CSP allows no inline script
    assert "script-src 'self'" in response["Content-Security-Policy"]
    # From the portal's static files (ninja is not an installed app; its files are found all the same).
    for name in ("ninja/swagger-ui.css", "ninja/swagger-ui-bundle.js", "ninja/swagger-ui-init.js"):
        assert f"/static/{name}" in page
        assert finders.find(name)


def test_a_reader_in_one_language_leaves_the_schema_in_the_next_readers_language(client):
    """Found by the image's test under gunicorn: after one request for the schema in Korean, the Link header's
    description stayed Korean in every later document, English ones included (translated in place)."""
    client.get("/api/v1/openapi.json", HTTP_ACCEPT_LANGUAGE="ko")
    english = client.get("/api/v1/openapi.json", HTTP_ACCEPT_LANGUAGE="en").json()

    link = english["paths"]["/api/v1/keys"]["get"]["responses"]["200"]["headers"]["Link"]
    assert link["description"].startswith("The next page, when more keys follow")


def test_the_schema_and_its_docs_page_read_in_the_readers_language(client):
    korean = client.get("/api/v1/openapi.json", HTTP_ACCEPT_LANGUAGE="ko").json()
    english = client.get("/api/v1/openapi.json", HTTP_ACCEPT_LANGUAGE="en").json()

    assert (korean["info"]["title"], english["info"]["title"]) == ("NSML 키 포털 API", "NSML Key Portal API")
    listing, creation = korean["paths"]["/api/v1/keys"]["get"], korean["paths"]["/api/v1/keys"]["post"]
    assert listing["summary"] == "내 키 목록"
    assert listing["description"].startswith("모든 상태")
    assert creation["responses"]["202"]["description"].startswith("NSML이 아직 확인하지 않았습니다")
    assert "포털의 시간대" in korean["components"]["schemas"]["KeyIn"]["properties"]["expires_at"]["description"]
    assert english["paths"]["/api/v1/keys"]["get"]["summary"] == "List your keys"
    # HTTP's own names of the answers stay as they are: "Created" is not the tokens page's "생성 일시".
    assert creation["responses"]["201"]["description"] == "Created"
    assert korean["components"]["schemas"]["KeyOut"]["properties"]["expires_at"]["title"] == "Expires At"
    validate(korean)

    page = client.get("/api/v1/docs", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert '<html lang="ko">' in page
    assert "<title>NSML 키 포털 API</title>" in page


# A worker that serves only pages never imports django-ninja or pydantic (about 14 MiB each process);
# the API's first request does, and then everything under /api/v1/ works as before.
PAGES_THEN_API = """
import sys
import django
django.setup()
from django.test import Client
from django.urls import reverse
client = Client()
seen = [client.get(path).status_code for path in ("/accounts/login/", "/healthz", "/no-such-page/")]
seen.append(reverse("keys:new"))
print("PAGES", seen, "ninja" in sys.modules, "pydantic" in sys.modules)
print("API", client.get("/api/v1/openapi.json").status_code, "ninja" in sys.modules, reverse("api:openapi-json"))
"""


def test_the_api_loads_at_its_first_request_not_with_the_pages(tmp_path, settings):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "DJANGO_ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", PAGES_THEN_API],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.splitlines() if " " in line}
    assert lines["PAGES"] == "[200, 200, 404, '/keys/new/'] False False"
    assert lines["API"] == "200 True /api/v1/openapi.json"


def test_the_lazy_prefix_names_the_apis_own_namespace():
    from django.urls import get_resolver

    from keys.api import api

    _prefix, resolver = get_resolver().namespace_dict["api"]
    assert (resolver.app_name, resolver.namespace) == api.urls[1:]


@examples(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=st.text(alphabet="aZ09-_. 한", max_size=70) | st.from_regex(TITLE_PATTERN, fullmatch=True))
def test_the_schemas_title_rules_are_the_ones_the_api_applies(client, title):
    """Found with schemathesis against /api/v1/openapi.json: the schema let a client send "" (any string) as the
    title, which the API then refused with 422. A client generated from the schema now knows NSML's rules."""
    described = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["KeyIn"]["properties"]["title"]
    schema_allows = Draft202012Validator(described, format_checker=None).is_valid(title)

    assert schema_allows == (title_problem(title) is None), title
