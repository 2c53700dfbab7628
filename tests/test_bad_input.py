"""Input no page accepts gets a clear answer, never a 500: a NUL character in a query string, a form or a
JSON body, half of a UTF-16 pair in a JSON body, an admin selection no checkbox could have sent.

PostgreSQL refuses NUL in any text it stores or compares, and UTF-8 cannot encode a lone surrogate; each
of these was a 500 on PostgreSQL (CI runs this file on both databases).
"""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from keys.lockouts import tries_left
from keys.models import AuditEvent

pytestmark = pytest.mark.django_db

NUL = "\x00"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/admin/keys/auditevent/", {"action__exact": NUL}),
        ("/admin/keys/auditevent/", {"outcome__exact": f"failed{NUL}"}),
        ("/admin/keys/registeredkey/", {"status__exact": NUL}),
        ("/admin/keys/registeredkey/", {"key_type": NUL}),
        ("/admin/keys/registeredkey/", {"owner": NUL}),
        ("/admin/auth/user/", {"username": NUL}),
        ("/admin/keys/auditevent/", {"q": f"alice{NUL}"}),
        (
            "/admin/autocomplete/",
            {"term": NUL, "app_label": "keys", "model_name": "registeredkey", "field_name": "owner"},
        ),
    ],
)
def test_a_nul_in_an_admin_query_is_a_400_page(admin_client, path, params):
    response = admin_client.get(path, params)

    assert response.status_code == 400
    page = response.content.decode()
    assert "The portal cannot read this request" in page
    assert "NSML Key Portal" in page and 'href="/keys/"' in page


def test_a_nul_in_a_members_query_is_a_400_page_in_their_language(member_client):
    member_client.cookies["django_language"] = "ko"

    response = member_client.get("/keys/", {"status": NUL})

    page = response.content.decode()
    assert response.status_code == 400
    assert "포털이 이 요청을 읽을 수 없습니다" in page
    assert '<html lang="ko">' in page
    assert "Content-Security-Policy" in response.headers


def test_with_debug_on_as_make_run_has_it_a_nul_still_gets_the_portals_page(member_client, settings):
    settings.DEBUG = True

    response = member_client.get("/keys/", {"status": NUL})

    assert response.status_code == 400
    assert "The portal cannot read this request" in response.content.decode()


def test_a_nul_in_an_api_query_is_the_apis_json_error(client, member, token_for):
    response = client.get("/api/v1/keys", {"status": NUL}, HTTP_AUTHORIZATION=f"Bearer {token_for(member)}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert "NUL" in response.json()["error"]["message"]


def test_a_query_without_a_nul_is_served_as_before(admin_client):
    assert admin_client.get("/admin/keys/auditevent/", {"action__exact": "register"}).status_code == 200


def test_a_log_in_name_with_a_nul_gets_the_forms_message(client):
    response = client.post(reverse("login"), {"username": f"alice{NUL}", "password": "wrong-password-1"})

    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()


def test_a_name_with_a_nul_has_no_failures_to_count():
    assert tries_left(f"alice{NUL}") is None


@pytest.mark.parametrize(
    ("title", "kept"),
    # The escaped form of 64 NULs is cut to the column's 64 characters.
    [(f"a{NUL}b", "a\\x00b"), ("a\ud800b", "a\\ud800b"), (NUL * 64, "\\x00" * 16)],
    ids=["nul", "lone-surrogate", "64-nuls"],
)
def test_a_refused_api_title_nothing_can_store_is_audited_escaped(client, member, token_for, title, kept):
    body = json.dumps({"title": title, "key": "ssh-ed25519 AAAA"}, ensure_ascii=True)

    response = client.post(
        "/api/v1/keys", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token_for(member)}"
    )

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "title"
    refusal = AuditEvent.objects.filter(action="register", outcome="refused").latest("id")
    assert refusal.title == kept


@pytest.mark.parametrize(
    ("url", "action"),
    [
        ("admin:auth_user_changelist", "delete_selected"),
        ("admin:keys_registeredkey_changelist", "revoke_selected"),
        ("admin:keys_registeredkey_changelist", "set_expiry"),
        ("admin:keys_apitoken_changelist", "revoke_selected"),
    ],
)
@pytest.mark.parametrize("row_id", ["abc", "99999999999999999999"], ids=["not-a-number", "beyond-the-integers"])
def test_an_admin_action_on_a_selection_no_checkbox_sent_changes_nothing(
    admin_client, django_user_model, member, url, action, row_id
):
    response = admin_client.post(
        reverse(url), {"action": action, "_selected_action": [str(member.pk), row_id], "index": "0"}
    )

    assert response.status_code == 302
    assert django_user_model.objects.filter(pk=member.pk).exists()
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert "The selection was not valid, so nothing was changed. Select the rows again." in shown


def test_a_form_over_djangos_size_limit_is_the_same_400_page(member_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = member_client.post(reverse("keys:new"), {"title": "laptop", "key": "A" * 4096})

    assert response.status_code == 400
    assert "or it is too large" in response.content.decode()


def test_an_api_body_over_djangos_size_limit_is_the_apis_json_error(client, member, token_for, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"title": "laptop", "key": "A" * 4096})

    response = client.post(
        "/api/v1/keys", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token_for(member)}"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_a_name_with_a_nul_from_a_locked_address_is_refused_by_the_form(client, other_member):
    for name in ("mallory", "trudy", "eve", "oscar", "chuck"):
        client.post(reverse("login"), {"username": name, "password": "wrong-password-1"}, REMOTE_ADDR="10.9.8.7")

    response = client.post(
        reverse("login"), {"username": f"bob{NUL}", "password": "bob-password-1"}, REMOTE_ADDR="10.9.8.7"
    )

    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()
    assert client.get(reverse("keys:list")).status_code == 302  # still not logged in


@pytest.mark.parametrize(
    "url", ["admin:keys_auditevent_changelist", "admin:keys_registeredkey_changelist", "admin:keys_apitoken_changelist"]
)
def test_a_filter_value_no_date_can_hold_sends_the_admin_back_to_the_whole_list(admin_client, url):
    response = admin_client.get(reverse(url), {"created_at__year": "99999"})

    assert response.status_code == 302
    assert response["Location"] == f"{reverse(url)}?e=1"
    assert admin_client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize(
    ("language", "warning"),
    [
        ("en", "A filter or search in the address could not be used, so the whole list is shown."),
        ("ko", "주소에 있는 필터나 검색어를 쓸 수 없어 전체 목록을 보여 줍니다."),
    ],
)
def test_the_whole_list_after_a_filter_it_cannot_use_says_why(admin_client, language, warning):
    url = reverse("admin:keys_registeredkey_changelist")
    response = admin_client.get(url, {"created_at__year": "99999"}, follow=True, HTTP_ACCEPT_LANGUAGE=language)

    assert response.redirect_chain == [(f"{url}?e=1", 302)]
    assert warning in response.content.decode()
    # Only the list the admin was sent back to says it: the next one does not.
    assert warning not in admin_client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()


@pytest.mark.parametrize(
    "params", [{"created_at__year": "99999"}, {"created_at__gte": "garbage"}, {"owner__id__exact": "abc"}]
)
def test_the_audit_export_with_a_filter_it_cannot_use_goes_back_to_the_list(admin_client, params):
    response = admin_client.get(reverse("admin:keys_auditevent_export"), params)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:keys_auditevent_changelist')}?e=1"
