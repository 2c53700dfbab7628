"""Admins see members' access tokens (never a secret or its hash) and revoke them."""

from __future__ import annotations

import pytest

from keys.models import ApiToken

pytestmark = pytest.mark.django_db


def test_an_admin_revokes_a_members_token_and_sees_no_hash(admin_client, admin_user, member, token_for, event):
    secret = token_for(member, name="ci")
    token = ApiToken.objects.get()

    page = admin_client.get("/admin/keys/apitoken/").content.decode()
    detail = admin_client.get(f"/admin/keys/apitoken/{token.pk}/change/").content.decode()
    response = admin_client.post(
        "/admin/keys/apitoken/", {"action": "revoke_selected", "_selected_action": [token.pk]}, follow=True
    )

    assert "ci" in page and token.prefix in page
    for shown in (page, detail, response.content.decode()):
        assert token.secret_sha256 not in shown and secret not in shown
    token.refresh_from_db()
    assert token.revoked_at is not None
    row = event(action="token_revoke")
    assert (row.actor, row.subject) == (admin_user, member)
