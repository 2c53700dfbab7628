"""The API describes itself: a valid OpenAPI 3 schema at /api/v1/openapi.json and docs at /api/v1/docs."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


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


def test_the_docs_page_is_served_under_the_portals_csp(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "<script>" not in page.replace(" ", "")  # only script files: the CSP allows no inline script
    assert "script-src 'self'" in response["Content-Security-Policy"]
