"""A sweep of odd input over every page a member, an API client and an admin reach: never a 500.

tests/test_bad_input.py holds what each odd input should get (the 400 page, the form's message, the whole
admin list); this sweep sends the same kinds of value everywhere else, as someone trying the portal would:
ids past the database's integers, a NUL, dates no calendar holds, unpaired surrogates' UTF-8 look-alikes,
very long values, lists where one value is expected. It runs on SQLite and on PostgreSQL (CI runs both).
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

ODD_IDS = ["0", "-1", "9223372036854775807", "9223372036854775808", "99999999999999999999"]
ODD_VALUES = [
    "",
    "\x00",
    "%ff",
    "\x7f",
    "\u202e",
    "ü",
    "'\"<>",
    "a" * 5000,
    "9" * 40,
    "-1",
    "1e5",
    "2026-02-30",
    "0000-00-00",
    "99999-01-01",
]
MEMBER_PAGES = ["keys:list", "keys:new", "tokens"]
QUERY_NAMES = ["page", "status", "q", "o", "next", "title"]
ADMIN_LISTS = [
    "keys_registeredkey",
    "keys_auditevent",
    "keys_apitoken",
    "keys_unmanagedkey",
    "keys_refusalwindow",
    "keys_loginlockout",
    "auth_user",
    "auth_group",
]
ADMIN_QUERY_NAMES = ["q", "o", "p", "e", "all", "_to_field", "status__exact", "owner__id__exact", "created_at__gte"]

pytestmark = pytest.mark.django_db


def answered(response, *what) -> None:
    assert response.status_code < 500, (*what, response.status_code)


@pytest.mark.parametrize("page", MEMBER_PAGES)
def test_a_members_page_answers_any_query(member_client, page):
    for name in QUERY_NAMES:
        for value in ODD_VALUES:
            answered(member_client.get(reverse(page), {name: value}), page, name, value)


@pytest.mark.parametrize("key_id", ODD_IDS)
def test_a_key_id_no_key_has_is_not_found(member_client, key_id):
    assert member_client.get(f"/keys/{key_id}/").status_code == 404
    for action in ["revoke", "rotate", "expiry"]:
        answered(member_client.get(f"/keys/{key_id}/{action}/"), key_id, action)
        data = {"expires_on": "2026-02-30", "key": "x", "title": "y"}
        assert member_client.post(f"/keys/{key_id}/{action}/", data).status_code == 404
    assert member_client.post(f"/tokens/{key_id}/revoke/").status_code == 404


@pytest.mark.parametrize("field", ["title", "key", "expires_on"])
def test_the_add_key_form_answers_any_value(member_client, field):
    for value in [*ODD_VALUES, ["a", "b"]]:
        data = {"title": "laptop", "key": "ssh-ed25519 AAAA", field: value}
        answered(member_client.post(reverse("keys:new"), data), field, value)


@pytest.mark.parametrize("field", ["name", "days"])
def test_the_tokens_form_answers_any_value(member_client, field):
    for value in ODD_VALUES:
        answered(member_client.post(reverse("tokens"), {"name": "script", field: value}), field, value)


def test_the_api_answers_any_query_id_and_body(client, member, token_for):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_for(member)}"}
    for name in ["limit", "offset", "page", "status"]:
        for value in ODD_VALUES:
            answered(client.get("/api/v1/keys", {name: value}, **auth), name, value)
    for key_id in [*ODD_IDS, "abc", "1.5"]:
        for method in ["get", "delete", "put", "patch", "post"]:
            answered(getattr(client, method)(f"/api/v1/keys/{key_id}", **auth), method, key_id)
    bodies = [{"title": value, "key": "x"} for value in ODD_VALUES]
    bodies += [{"title": "t", "key": "x", "expires_on": value} for value in [*ODD_VALUES, 12, None, [], {}]]
    bodies += [{"title": 1}, {"title": None, "key": None}, [], "x", 5, {"title": "t", "key": "x" * 100_000}]
    for body in bodies:
        sent = client.post("/api/v1/keys", json.dumps(body), content_type="application/json", **auth)
        answered(sent, str(body)[:40])
        assert sent["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("model", ADMIN_LISTS)
def test_an_admin_list_answers_any_filter_and_id(admin_client, model):
    changelist = reverse(f"admin:{model}_changelist")
    for name in ADMIN_QUERY_NAMES:
        for value in ODD_VALUES:
            answered(admin_client.get(changelist, {name: value}), model, name, value)
    for row_id in [*ODD_IDS, "abc"]:
        for page in ["change", "delete", "history"]:
            answered(admin_client.get(f"{changelist}{row_id}/{page}/"), model, row_id, page)


def test_the_admins_autocomplete_answers_any_term(admin_client):
    for value in ODD_VALUES:
        owner = {"app_label": "keys", "model_name": "registeredkey", "field_name": "owner"}
        answered(admin_client.get("/admin/autocomplete/", {"term": value, **owner}), value)
        unknown = {"term": "a", "app_label": value, "model_name": value, "field_name": value}
        answered(admin_client.get("/admin/autocomplete/", unknown), value)
