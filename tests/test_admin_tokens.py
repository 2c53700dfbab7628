"""Admins see members' access tokens (never a secret or its hash) and revoke them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from keys.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db


def test_an_admin_revokes_a_members_token_and_sees_no_hash(admin_client, admin_user, member, token_for, event):
    secret = token_for(member, name="ci")
    token = ApiToken.objects.get()

    page = admin_client.get("/admin/keys/apitoken/").content.decode()
    detail = admin_client.get(f"/admin/keys/apitoken/{token.pk}/change/").content.decode()
    response = admin_client.post(
        "/admin/keys/apitoken/",
        {"action": "revoke_selected", "_selected_action": [token.pk], "post": "yes"},
        follow=True,
    )

    assert "ci" in page and token.prefix in page
    for shown in (page, detail, response.content.decode()):
        assert token.secret_sha256 not in shown and secret not in shown
    token.refresh_from_db()
    assert token.revoked_at is not None
    row = event(action="token_revoke")
    assert (row.actor, row.subject) == (admin_user, member)


def test_revoking_tokens_asks_first_and_lists_them(admin_client, member, other_member, token_for):
    """Found in the admin: *Revoke selected tokens* revoked at once, with no page saying whose scripts would
    stop, where revoking keys asks first."""
    token_for(member, name="ci")
    token_for(other_member, name="backup")
    selection = {"action": "revoke_selected", "_selected_action": [token.pk for token in ApiToken.objects.all()]}

    confirmation = admin_client.post("/admin/keys/apitoken/", selection)

    assert confirmation.status_code == 200
    page = confirmation.content.decode()
    assert "These 2 tokens will be revoked; scripts that use them stop working at once:" in page
    for token in ApiToken.objects.all():
        assert token.name in page and token.prefix in page
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()

    admin_client.post("/admin/keys/apitoken/", {**selection, "post": "yes"})

    assert not ApiToken.objects.filter(revoked_at__isnull=True).exists()


def test_the_token_confirmation_is_korean_in_the_korean_admin(admin_client, member, token_for):
    token_for(member, name="ci")
    selection = {"action": "revoke_selected", "_selected_action": [ApiToken.objects.get().pk]}

    page = admin_client.post("/admin/keys/apitoken/", selection, HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert "이 토큰들을 폐기하시겠습니까?" in page
    assert "다음 토큰 1개가 폐기됩니다." in page
    assert "will be revoked" not in page


def test_revoking_only_revoked_tokens_says_there_was_none(admin_client, member, token_for):
    token_for(member, name="ci")
    selection = {"action": "revoke_selected", "_selected_action": [ApiToken.objects.get().pk], "post": "yes"}
    admin_client.post("/admin/keys/apitoken/", selection, follow=True)

    response = admin_client.post("/admin/keys/apitoken/", selection, follow=True)

    assert [str(message) for message in response.context["messages"]] == ["There was no token left to revoke."]


def test_the_user_filter_lists_no_token_holders_and_narrows_to_one(admin_client, member, other_member, token_for):
    """Found with 1,500 members holding tokens: the access token list's sidebar listed every one of them, one link
    each (10,000 at 10,000 members), where the key list's owner filter is a search box with suggestions."""
    for number in range(30):
        holder = get_user_model().objects.create_user(username=f"holder{number:02d}")
        token_for(holder, name=f"ci-{number}")
    token_for(member, name="laptop-script")
    token_for(other_member, name="backup")

    everything = admin_client.get("/admin/keys/apitoken/").content.decode()
    narrowed = admin_client.get("/admin/keys/apitoken/", {"user": "bob"})

    assert "holder07</a>" not in everything and "user__id__exact" not in everything
    assert 'id="owner-filter-input"' in everything and "portal/owner-filter.js" in everything
    assert [token.name for token in narrowed.context["cl"].result_list] == ["backup"]


def test_the_confirmation_of_many_tokens_lists_a_page_of_them_and_counts_the_rest(admin_client, member):
    """As the key and user confirmations (LISTED_ON_A_CONFIRMATION): "Select all" of thousands of members'
    tokens listed every one of them on the page. It lists the first 200 and counts the rest; all are revoked."""
    in_a_year = timezone.now() + timedelta(days=365)
    ApiToken.objects.bulk_create(
        ApiToken(
            user=member,
            name=f"script-{number:03d}",
            prefix=f"p{number:03d}",
            secret_sha256=f"{number:064d}",
            expires_at=in_a_year,
        )
        for number in range(250)
    )
    selection = {
        "action": "revoke_selected",
        "select_across": "1",
        "index": "0",
        "_selected_action": [ApiToken.objects.first().pk],
    }

    page = admin_client.post("/admin/keys/apitoken/", selection).content.decode()
    korean = admin_client.post("/admin/keys/apitoken/", selection, HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert "These 250 tokens will be revoked" in page
    assert page.count("<td>script-") == 200 and "… and 50 more tokens." in page
    assert "… 외 토큰 50개." in korean
    admin_client.post("/admin/keys/apitoken/", {**selection, "post": "yes"})
    assert not ApiToken.objects.filter(revoked_at__isnull=True).exists()


@pytest.mark.parametrize(
    "path", ["/admin/keys/apitoken/", "/admin/keys/auditevent/", "/admin/keys/registeredkey/", "/admin/auth/user/"]
)
def test_a_leaked_secret_pasted_into_a_search_finds_its_token_and_is_not_shown(admin_client, member, token_for, path):
    """Found in the admin: an admin pasting a leaked token's secret into the search, to find whose it is, found
    nothing, and the page showed the secret again (search box, result count link, export link): exported from
    there, it was kept in the audit log."""
    secret = token_for(member, name="ci")
    token = ApiToken.objects.get()

    response = admin_client.get(path, {"q": f" {secret} "}, follow=True)

    page = response.content.decode()
    assert secret not in page
    assert response.redirect_chain[-1][0] == f"{path}?q=+{token.prefix}+"
    assert "access token&#x27;s secret" in page
    if path == "/admin/keys/apitoken/":
        assert list(response.context["cl"].result_list) == [token]


def test_a_secret_in_the_export_s_address_exports_nothing(admin_client, member, token_for):
    secret = token_for(member, name="ci")

    response = admin_client.get("/admin/keys/auditevent/export.csv", {"q": secret})

    assert response.status_code == 302 and not response.streaming
    assert not AuditEvent.objects.filter(action="export").exists()
    assert not AuditEvent.objects.filter(detail__contains=secret).exists()


def test_a_secret_pasted_into_the_korean_admin_is_explained_in_korean(admin_client, member, token_for):
    secret = token_for(member, name="ci")

    response = admin_client.get("/admin/keys/apitoken/", {"q": secret}, follow=True, HTTP_ACCEPT_LANGUAGE="ko")

    assert "액세스 토큰의 비밀 값이었습니다" in response.content.decode()
