"""The Access tokens page: create (the secret shown once), list, revoke; behind log-in and sudo mode."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client
from django.utils import timezone

from keys.models import ApiToken, AuditEvent
from keys.reauth import SESSION_CONFIRMED_AT

pytestmark = pytest.mark.django_db

TOKENS = "/tokens/"


def test_it_requires_log_in(client):
    response = client.get(TOKENS)

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_creates_a_token_and_shows_its_secret_once(member_client, member, event):
    response = member_client.post(TOKENS, {"name": "provisioning", "days": "30"})

    token = ApiToken.objects.get()
    page = response.content.decode()
    assert response.status_code == 200
    assert token.prefix in page and "shown only this once" in page
    secret = response.context["new"].secret
    assert secret in page and secret.startswith(token.prefix)
    assert secret not in member_client.get(TOKENS).content.decode()
    assert (token.user, token.name) == (member, "provisioning")
    assert 29.9 < (token.expires_at - token.created_at).total_seconds() / 86400 <= 30
    row = event(action="token_create")
    assert (row.actor, row.title, row.fingerprint) == (member, "provisioning", token.prefix)


def test_the_secret_page_is_not_cached(member_client):
    response = member_client.post(TOKENS, {"name": "provisioning", "days": "30"})

    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"name": "", "days": "30"}, "name", "Enter a name"),
        ({"name": "x" * 65, "days": "30"}, "name", "at most 64"),
        ({"name": "ok", "days": "91"}, "days", "from 1 to 90 days"),
        ({"name": "ok", "days": "0"}, "days", "from 1 to 90 days"),
        ({"name": "ok", "days": "soon"}, "days", "from 1 to 90 days"),  # the range, not "Enter a whole number"
    ],
)
def test_it_refuses_a_bad_name_or_lifetime(member_client, data, field, says):
    response = member_client.post(TOKENS, data)

    assert ApiToken.objects.count() == 0
    assert says in str(response.context["form"].errors[field])


@pytest.mark.parametrize(("days", "days_says"), [("", "from 1 to 90"), ("soon", "from 1 to 90"), ("0", "from 1 to 90")])
@pytest.mark.parametrize(("name", "name_says"), [("", "Enter a name"), ("x" * 65, "at most 64")])
def test_a_bad_name_and_a_bad_lifetime_are_both_named_at_once(member_client, name, name_says, days, days_says):
    """Found with JavaScript off: both boxes empty, and the page named the lifetime only; sent again, then the name."""
    response = member_client.post(TOKENS, {"name": name, "days": days})

    page = response.content.decode()
    assert name_says in page and days_says in page
    assert 'id="id_name_error"' in page and 'id="id_days_error"' in page
    assert response.context["form"].first_field_in_error == "name"  # the cursor starts in the first box, with JS off
    assert ApiToken.objects.count() == 0


def test_a_tokens_secret_as_the_name_with_a_bad_lifetime_is_refused_and_not_shown_back(
    member_client, member, token_for
):
    secret = token_for(member, name="ci")

    response = member_client.post(TOKENS, {"name": secret, "days": ""})

    page = response.content.decode()
    assert secret[6:20] not in page
    assert "This is an access token" in page and "A token can last from 1 to 90 days." in page
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["ci"]


def test_a_tokens_secret_is_refused_as_another_tokens_name(member_client, member, token_for):
    secret = token_for(member, name="ci")  # pasted into the name box of the next one by mistake

    response = member_client.post(TOKENS, {"name": secret, "days": "30"})

    assert "This is an access token" in str(response.context["form"].errors["name"])
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["ci"]
    assert not AuditEvent.objects.filter(title__contains=secret[6:30]).exists()


def test_a_tokens_secret_refused_as_a_name_is_not_shown_back_in_the_name_box(member_client, member, token_for):
    """Found on the page: the refusal said "Nothing was kept", and the name box below it held the secret."""
    secret = token_for(member, name="ci")

    response = member_client.post(TOKENS, {"name": secret, "days": "30"})

    page = response.content.decode()
    assert "This is an access token" in page
    assert secret not in page
    assert secret[6:20] not in page  # not even in part


def test_the_longest_lifetime_comes_from_settings(member_client, settings):
    settings.API_TOKEN_MAX_DAYS = 7

    assert member_client.post(TOKENS, {"name": "a", "days": "8"}).context["form"].errors
    member_client.post(TOKENS, {"name": "a", "days": "7"})
    assert ApiToken.objects.count() == 1


def test_two_live_tokens_cannot_share_a_name(member_client):
    member_client.post(TOKENS, {"name": "ci", "days": "30"})
    response = member_client.post(TOKENS, {"name": "ci", "days": "30"})

    assert "already have a token with this name" in str(response.context["form"].errors)
    assert ApiToken.objects.count() == 1


def test_it_lists_only_the_members_own_tokens(member_client, member, other_member, token_for):
    token_for(member, name="mine")
    token_for(other_member, name="theirs")

    page = member_client.get(TOKENS).content.decode()

    assert "mine" in page and "theirs" not in page


def test_it_revokes_a_token(member_client, member, token_for, event):
    token_for(member, name="ci")
    token = ApiToken.objects.get()

    response = member_client.post(f"/tokens/{token.pk}/revoke/", follow=True)

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "is revoked" in response.content.decode()
    row = event(action="token_revoke")
    assert (row.actor, row.subject, row.title) == (member, member, "ci")


def test_revoking_a_token_already_revoked_in_another_tab_says_so(member_client, member, token_for):
    token_for(member, name="ci")
    token = ApiToken.objects.get()
    member_client.post(f"/tokens/{token.pk}/revoke/")  # the other tab

    response = member_client.post(f"/tokens/{token.pk}/revoke/", follow=True, HTTP_ACCEPT_LANGUAGE="ko")

    page = response.content.decode()
    assert response.redirect_chain[-1][0] == TOKENS
    assert "“ci” 토큰은 이미 폐기되었습니다." in page
    assert AuditEvent.objects.filter(action="token_revoke").count() == 1


def test_it_checks_owner_on_revoke(member_client, other_member, token_for):
    token_for(other_member, name="theirs")
    token = ApiToken.objects.get()

    assert member_client.post(f"/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoke_asks_first_and_changes_nothing_until_confirmed(member_client, member, token_for):
    token_for(member, name="nightly-ci")
    token = ApiToken.objects.get()

    listed = member_client.get(TOKENS).content.decode()
    asked = member_client.get(f"/tokens/{token.pk}/revoke/")

    # The list links to the question; one click there no longer revokes a token a script depends on.
    assert f'href="/tokens/{token.pk}/revoke/"' in listed
    assert f'action="/tokens/{token.pk}/revoke/"' not in listed
    page = asked.content.decode()
    assert "Revoke the token “nightly-ci”?" in page
    assert "Scripts that use this token stop working at once." in page
    assert f"{token.prefix}…" in page
    assert 'method="post"' in page
    assert 'href="/tokens/"' in page  # Cancel
    token.refresh_from_db()
    assert token.revoked_at is None
    assert not AuditEvent.objects.filter(action="token_revoke").exists()


def test_the_revoke_question_is_in_korean(member_client, member, token_for):
    token_for(member, name="nightly-ci")
    token = ApiToken.objects.get()

    page = member_client.get(f"/tokens/{token.pk}/revoke/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert "“nightly-ci” 토큰을 폐기할까요?" in page
    assert "이 토큰을 쓰는 스크립트는 즉시 동작하지 않습니다." in page


def test_the_revoke_question_of_a_revoked_token_says_so(member_client, member, token_for):
    token_for(member, name="old-ci")
    token = ApiToken.objects.get()
    member_client.post(f"/tokens/{token.pk}/revoke/")

    page = member_client.get(f"/tokens/{token.pk}/revoke/").content.decode()

    assert "This token is already revoked." in page
    assert 'method="post"' not in page.split("<main", 1)[-1]


def test_it_checks_owner_on_the_revoke_question(member_client, other_member, token_for):
    token_for(other_member, name="theirs")
    token = ApiToken.objects.get()

    assert member_client.get(f"/tokens/{token.pk}/revoke/").status_code == 404


def test_it_requires_sudo_mode_to_create_and_revoke(member, token_for):
    client = Client()
    client.force_login(member)
    session = client.session
    session[SESSION_CONFIRMED_AT] = time.time() - 3600
    session.save()
    token_for(member, name="old")
    old = ApiToken.objects.get()

    created = client.post(TOKENS, {"name": "new", "days": "30"})
    revoked = client.post(f"/tokens/{old.pk}/revoke/")

    assert created["Location"] == revoked["Location"] == "/accounts/confirm-password/"
    assert list(ApiToken.objects.values_list("name", "revoked_at")) == [("old", None)]
    assert not AuditEvent.objects.filter(action="token_create", title="new").exists()


def test_the_token_waits_for_the_password_then_is_created(member):
    client = Client()
    client.force_login(member)
    session = client.session
    session[SESSION_CONFIRMED_AT] = time.time() - 3600
    session.save()
    client.post(TOKENS, {"name": "new", "days": "12"})

    response = client.post("/accounts/confirm-password/", {"password": "alice-password-1"})

    token = ApiToken.objects.get()
    assert token.name == "new" and 11.9 < (token.expires_at - token.created_at).total_seconds() / 86400 <= 12
    assert response.status_code == 302 and response["Location"] == TOKENS  # the secret is shown there (test_reauth)
    page = client.get(TOKENS)
    assert page.context["new"].secret in page.content.decode()


def test_a_token_never_used_reads_so_in_korean_not_no_expiry(member_client, member, token_for):
    """Found in Korean at 375 px: "never" under Last used read 만료 없음 (no expiry), above an expiry date."""
    token_for(member, name="unused")
    member_client.cookies["django_language"] = "ko"

    page = member_client.get("/tokens/").content.decode()

    assert "사용한 적 없음" in page
    assert "만료 없음" not in page  # the token expires: nothing on its row says otherwise


def test_a_refused_name_is_tied_to_its_field_for_screen_readers(member_client):
    page = member_client.post("/tokens/", {"name": "", "days": "30"}).content.decode()

    assert 'aria-describedby="id_name_helptext id_name_error"' in page
    assert 'id="id_name_error"' in page


def test_the_same_form_sent_again_makes_no_second_token_and_says_what_happened(member_client, member):
    form = member_client.get(TOKENS).context["form_id"]
    member_client.post(TOKENS, {"name": "provisioning", "days": "30", "form_id": form})

    # A reload of the page that showed the secret sends the same form again.
    again = member_client.post(TOKENS, {"name": "provisioning", "days": "30", "form_id": form})

    page = again.content.decode()
    assert again.status_code == 200
    assert ApiToken.objects.filter(user=member).count() == 1
    assert "no second token was made" in page and "“provisioning” was made the first time" in page
    assert "Choose another name" not in page
    assert again.context["new"] is None and again.context["form"].errors == {}


def test_a_new_form_with_a_taken_name_is_still_refused(member_client, member):
    member_client.post(
        TOKENS, {"name": "provisioning", "days": "30", "form_id": member_client.get(TOKENS).context["form_id"]}
    )

    second = member_client.post(
        TOKENS, {"name": "provisioning", "days": "30", "form_id": member_client.get(TOKENS).context["form_id"]}
    )

    assert "You already have a token with this name" in second.content.decode()
    assert ApiToken.objects.filter(user=member).count() == 1


def test_a_form_sent_again_is_read_in_korean(member_client, member):
    form = member_client.get(TOKENS).context["form_id"]
    member_client.post(TOKENS, {"name": "provisioning", "days": "30", "form_id": form})

    again = member_client.post(
        TOKENS, {"name": "provisioning", "days": "30", "form_id": form}, HTTP_ACCEPT_LANGUAGE="ko"
    )

    assert "토큰을 하나 더 만들지 않았습니다" in again.content.decode()


def _language_form(page: str) -> dict[str, str]:
    """The header's language form as the browser sends it: its hidden fields (the button adds `language`)."""
    form = re.search(r'<form method="post" action="/i18n/setlang/".*?</form>', page, re.S).group(0)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_switching_language_keeps_the_new_secret_on_the_next_page_only(member_client, member, caplog):
    """Found in a browser: the member made a token, then chose 한국어 in the header to read the page, and
    the secret, shown only once, was gone before they had copied it."""
    created = member_client.post(TOKENS, {"name": "provisioning", "days": "30"})
    secret = created.context["new"].secret

    switched = member_client.post("/i18n/setlang/", {**_language_form(created.content.decode()), "language": "ko"})
    assert switched.status_code == 302 and switched["Location"] == TOKENS
    session_data = str(dict(member_client.session.items()))
    page = member_client.get(TOKENS).content.decode()

    assert '<html lang="ko">' in page and secret in page and "provisioning" in page
    assert secret not in session_data  # kept sealed between the switch and the page, never in plain text
    assert secret not in member_client.get(TOKENS).content.decode()  # and on that page only
    assert secret not in caplog.text
    assert ApiToken.objects.filter(user=member).count() == 1


def test_the_kept_secret_is_shown_to_its_member_only(member_client, member, other_member):
    created = member_client.post(TOKENS, {"name": "provisioning", "days": "30"})
    secret = created.context["new"].secret
    other = Client()
    other.force_login(other_member)
    other.session.save()

    other.post("/i18n/setlang/", {**_language_form(created.content.decode()), "language": "ko"})

    assert secret not in other.get(TOKENS).content.decode()


def test_a_kept_secret_is_not_shown_once_its_token_is_revoked(member_client, member):
    created = member_client.post(TOKENS, {"name": "provisioning", "days": "30"})
    secret = created.context["new"].secret
    ApiToken.objects.update(revoked_at=timezone.now())

    member_client.post("/i18n/setlang/", {**_language_form(created.content.decode()), "language": "ko"})

    assert secret not in member_client.get(TOKENS).content.decode()


def test_the_language_form_elsewhere_carries_no_secret(member_client):
    page = member_client.get(TOKENS).content.decode()

    assert set(_language_form(page)) == {"csrfmiddlewaretoken", "next"}


@pytest.mark.parametrize("sealed", ["x", "gAAAA" + "A" * 200, "é" * 50, "A" * 5000])
def test_a_made_up_sealed_secret_shows_nothing_and_breaks_nothing(member_client, sealed):
    member_client.post("/i18n/setlang/", {"language": "ko", "next": TOKENS, "token_shown": sealed})

    response = member_client.get(TOKENS)

    assert response.status_code == 200 and response.context["new"] is None


@pytest.mark.parametrize("days", ["", "0", "1.5", "abc", "100000"])
def test_a_lifetime_the_browser_would_have_refused_is_refused_by_the_portal_in_its_language(
    member_client, settings, days
):
    """Found in a browser set to English with the portal in Korean: the days box (type=number, min, max) was
    refused by the browser's own bubble, in English. The form has novalidate, keeps min and max for the keyboard,
    and the portal says the range itself, in Korean (a browser sends letters typed in a number box as empty)."""
    member_client.cookies["django_language"] = "ko"
    page = member_client.get(TOKENS).content.decode()
    form = re.search(r"<form[^>]*data-token-form[^>]*>", page).group(0)
    box = re.search(r'<input type="number" name="days"[^>]*>', page).group(0)
    assert " novalidate" in form
    assert 'min="1"' in box and f'max="{settings.API_TOKEN_MAX_DAYS}"' in box

    refused = member_client.post(TOKENS, {"name": "provisioning", "days": days})

    said = f"토큰의 유효 기간은 1일부터 {settings.API_TOKEN_MAX_DAYS}일까지 정할 수 있습니다."
    assert refused.status_code == 200 and refused.context["form"].errors["days"] == [said]
    assert not ApiToken.objects.exists()
