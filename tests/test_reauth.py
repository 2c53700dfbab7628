"""Sudo mode: adding or revoking a key needs a password entered within KEYS_REAUTH_MINUTES; otherwise
the member confirms it on an interstitial page and the change goes ahead as submitted."""

from __future__ import annotations

import html
import re
import time

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from keys.audit import Origin
from keys.models import ApiToken, RegisteredKey
from keys.reauth import SESSION_CONFIRMED_AT, SESSION_REFUSED
from keys.services import revoke_key
from nsml.simulator.faults import Faults
from portal.urls import urlpatterns
from tests.helpers import generate_private_key, private_text

pytestmark = pytest.mark.django_db

NEW = reverse("keys:new")
CONFIRM = reverse("confirm_password")
PASSWORD = "alice-password-1"


@pytest.fixture
def stale_client(member_client):
    """A member whose last password is older than KEYS_REAUTH_MINUTES (default 15)."""
    session = member_client.session
    session[SESSION_CONFIRMED_AT] = time.time() - 16 * 60
    session.save()
    return member_client


def test_it_requires_sudo_mode_to_add_a_key(stale_client, nsml, new_public_key):
    line = new_public_key(comment="me@laptop")

    response = stale_client.post(NEW, {"title": "laptop", "key": line})

    assert response.status_code == 302 and response["Location"] == CONFIRM
    assert "laptop" not in response["Location"] and "AAAA" not in response["Location"]
    assert nsml.requests_seen == []
    assert not RegisteredKey.objects.exists()
    page = stale_client.get(CONFIRM).content.decode()
    assert "Confirm your password" in page and "goes ahead once you confirm" in page


def test_the_submission_goes_ahead_after_the_password(stale_client, nsml, new_public_key, event):
    line = new_public_key(comment="me@laptop")
    stale_client.post(NEW, {"title": "laptop", "key": line})

    response = stale_client.post(CONFIRM, {"password": PASSWORD})

    key = RegisteredKey.objects.get()
    assert (key.title, key.status) == ("laptop", "active")
    assert response.status_code == 302 and response["Location"] == reverse("keys:detail", args=[key.pk])
    assert [held["title"] for held in nsml.held_keys()] == ["laptop"]
    row = event(action="login", reason="password_confirmed")
    assert row.detail == f"before {NEW}"
    # Now recent: the next change needs no confirmation.
    assert stale_client.post(NEW, {"title": "desktop", "key": new_public_key()}).status_code == 302
    assert RegisteredKey.objects.count() == 2


def test_a_wrong_password_keeps_the_submission_waiting_and_is_audited(stale_client, nsml, new_public_key, event):
    stale_client.post(NEW, {"title": "laptop", "key": new_public_key()})

    response = stale_client.post(CONFIRM, {"password": "not-my-password"})

    assert response.status_code == 200
    assert "That is not your password" in response.content.decode()
    assert not RegisteredKey.objects.exists()
    assert event(action="login_failed").reason == "bad_credentials"
    stale_client.post(CONFIRM, {"password": PASSWORD})
    assert RegisteredKey.objects.get().title == "laptop"


def test_wrong_passwords_count_toward_the_lock_out(stale_client, member, nsml, new_public_key, settings):
    stale_client.post(NEW, {"title": "laptop", "key": new_public_key()})
    for _ in range(settings.AXES_FAILURE_LIMIT):
        stale_client.post(CONFIRM, {"password": "not-my-password"})

    response = stale_client.post(CONFIRM, {"password": PASSWORD})

    assert response.status_code in (403, 429)
    assert not RegisteredKey.objects.exists()


def test_it_requires_sudo_mode_to_revoke_a_key(member_client, member, nsml, register):
    key = register(member)
    session = member_client.session
    session[SESSION_CONFIRMED_AT] = time.time() - 16 * 60
    session.save()

    response = member_client.post(reverse("keys:revoke", args=[key.pk]))

    assert response["Location"] == CONFIRM
    assert len(nsml.held_keys()) == 1
    member_client.post(CONFIRM, {"password": PASSWORD})
    key.refresh_from_db()
    assert key.status == "revoked"
    assert nsml.held_keys() == []


def test_a_log_in_counts_as_a_recent_password(client, member, nsml, new_public_key):
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})

    response = client.post(NEW, {"title": "laptop", "key": new_public_key()})

    assert response.status_code == 302 and response["Location"] != CONFIRM
    assert RegisteredKey.objects.get().status == "active"


def test_a_private_key_is_refused_at_once_and_never_kept_in_the_session(stale_client, nsml):
    secret = private_text(generate_private_key("ed25519"))

    response = stale_client.post(NEW, {"title": "laptop", "key": secret})

    assert response.status_code == 200
    assert response.context["form"].errors.as_data()["key"][0].code == "private_key"
    body = "".join(secret.strip().splitlines()[1:-1])[:40]
    assert all(body not in str(session.get_decoded()) for session in Session.objects.all())


def test_a_tokens_secret_is_refused_at_once_and_never_kept_in_the_session(
    stale_client, member, nsml, new_public_key, token_for
):
    """Found in a browser: a token's secret pasted as a new token's name (or a key's title) waited in the session,
    in clear, while the member confirmed their password; only its refusal came after."""
    secret = token_for(member, name="provisioning")

    token_page = stale_client.post(reverse("tokens"), {"name": secret, "days": "7"})
    key_page = stale_client.post(NEW, {"title": secret, "key": new_public_key()})

    assert token_page.status_code == 200 and key_page.status_code == 200
    for page in (token_page, key_page):
        assert "This is an access token, a secret that belongs only in" in page.content.decode()
    assert all(secret not in str(session.get_decoded()) for session in Session.objects.all())


def test_only_a_guarded_view_can_be_resumed(stale_client, nsml):
    session = stale_client.session
    session["keys.pending_change"] = {"path": reverse("admin:index"), "data": {}}
    session.save()

    response = stale_client.post(CONFIRM, {"password": PASSWORD})

    assert response["Location"] == reverse("keys:list")


def test_the_confirmation_warns_before_wrong_passwords_pause_log_ins(stale_client, nsml, new_public_key, settings):
    """Found in a browser pass: wrong passwords here count toward the lock-out, but unlike the log-in page
    this page never said how many tries were left; the fifth wrong one showed "Log-in paused" unannounced."""
    stale_client.post(NEW, {"title": "laptop", "key": new_public_key()})
    stale_client.cookies["django_language"] = "ko"
    for _ in range(settings.AXES_FAILURE_LIMIT - 3):
        stale_client.post(CONFIRM, {"password": "not-my-password"})

    first_warning = stale_client.post(CONFIRM, {"password": "not-my-password"}).content.decode()
    last_warning = stale_client.post(CONFIRM, {"password": "not-my-password"}).content.decode()

    assert "이 이름으로 로그인을 2번 더 시도할 수 있습니다." in first_warning
    assert "이 이름으로 로그인을 1번 더 시도할 수 있습니다." in last_warning


def test_the_password_field_has_the_cursor(stale_client, nsml, new_public_key):
    stale_client.post(NEW, {"title": "laptop", "key": new_public_key()})

    for page in (stale_client.get(CONFIRM), stale_client.post(CONFIRM, {"password": "not-my-password"})):
        field = re.search(r"<input[^>]*name=\"password\"[^>]*>", page.content.decode()).group(0)
        assert "autofocus" in field


@pytest.mark.parametrize(
    ("minutes", "language", "sentence"),
    [
        (15, "en", "Changing your keys or access tokens needs your password from the last 15 minutes."),
        (0, "en", "Changing your keys or access tokens needs your password each time."),
        (0, "ko", "키나 액세스 토큰을 변경하려면 매번 비밀번호를 입력해야 합니다."),
    ],
)
def test_the_confirmation_says_what_it_guards_and_for_how_long(
    stale_client, nsml, settings, minutes, language, sentence
):
    """It spoke of keys only, also before a token's creation, and of "the last 0 minutes" with the rule at 0."""
    settings.KEYS_REAUTH_MINUTES = minutes
    stale_client.cookies["django_language"] = language

    page = stale_client.get(CONFIRM).content.decode()

    assert sentence in page


def _form_action(page: str) -> str:
    """Where the browser sends the page's form: its action, or without one the address it was served at, which
    after a confirmation is the confirmation's."""
    found = re.search(r'<form method="post"(?: action="([^"]*)")? class="card (?:key-form|narrow)"', page)
    return found.group(1) or CONFIRM


def test_a_submission_refused_after_the_password_is_sent_again_to_its_own_page(stale_client, nsml, new_public_key):
    # NSML busy once: the resumed submission is refused, and the member is sent back to the add-key page with it.
    nsml.set_faults(Faults(fail_status=503, retry_after=20, fail_methods={"POST"}, fail_count=1))
    line = new_public_key()
    stale_client.post(NEW, {"title": "laptop", "key": line})
    resumed = stale_client.post(CONFIRM, {"password": PASSWORD})
    assert resumed.status_code == 302 and resumed["Location"] == NEW
    refused = stale_client.get(NEW).content.decode()
    assert "try again in 20 seconds" in refused

    # Sending it again as the browser would (the form's action) registers the key; it is not a password prompt.
    response = stale_client.post(_form_action(refused), {"title": "laptop", "key": line})

    assert response.status_code == 302
    assert RegisteredKey.objects.get(status="active").title == "laptop"


def _filled(page: str, field: str) -> str:
    """What the page's add-key form shows in a box, as the member reads it."""
    if field == "key":
        return html.unescape(re.search(r'<textarea name="key"[^>]*>\n?(.*?)</textarea>', page, re.S).group(1))
    return html.unescape(re.search(rf'<input type="text" name="{field}" value="([^"]*)"', page).group(1))


@pytest.mark.parametrize(
    ("title", "same_key", "field", "says"),
    [
        ("desktop", True, "key", "already registered"),  # the member's own key, sent again
        ("laptop", False, "title", "already"),  # the title is taken
    ],
)
def test_a_key_refused_after_the_password_is_shown_on_the_add_key_page_filled(
    stale_client, member, nsml, register, new_public_key, title, same_key, field, says
):
    """Found in a browser: the refusal of a submission resumed after the password was shown under the password
    page's address (/accounts/confirm-password/); the member is now back on /keys/new/, the form as they sent it."""
    held = register(member, "laptop")
    line = held.public_key if same_key else new_public_key()
    stale_client.post(NEW, {"title": title, "key": line})

    resumed = stale_client.post(CONFIRM, {"password": PASSWORD})
    page = stale_client.get(resumed["Location"])

    assert resumed.status_code == 302 and resumed["Location"] == NEW
    text = page.content.decode()
    assert page.status_code == 200 and says in str(page.context["form"].errors[field])
    assert f'id="id_{field}_error"' in text
    assert (_filled(text, "title"), _filled(text, "key").strip()) == (title, line.strip())
    assert RegisteredKey.objects.count() == 1
    # Shown once: the next visit is a new form, and the session keeps no key.
    again = stale_client.get(NEW)
    assert not again.context["form"].is_bound
    assert all(line.split()[1][-40:] not in str(session.get_decoded()) for session in Session.objects.all())


def test_a_rotation_refused_after_the_password_comes_back_to_its_own_page(
    stale_client, member, nsml, register, new_public_key
):
    old = register(member, "laptop")
    rotate = reverse("keys:rotate", args=[old.pk])
    line = new_public_key()
    stale_client.post(rotate, {"title": "laptop", "key": line})  # the title is taken: refused
    resumed = stale_client.post(CONFIRM, {"password": PASSWORD})
    assert resumed.status_code == 302 and resumed["Location"] == rotate
    refused = stale_client.get(rotate).content.decode()
    assert _form_action(refused) == rotate
    assert (_filled(refused, "title"), _filled(refused, "key").strip()) == ("laptop", line.strip())
    assert 'id="id_title_error"' in refused


TOKENS = reverse("tokens")


def _stale_again(client) -> None:
    session = client.session
    session[SESSION_CONFIRMED_AT] = time.time() - 16 * 60
    session.save()


def _sessions() -> str:
    return " ".join(str(session.get_decoded()) for session in Session.objects.all())


def _token_field(page: str, name: str) -> str:
    """What the token form shows in a box: its value, or nothing when the input has none."""
    tag = re.search(rf'<input type="(?:text|number)" name="{name}"[^>]*>', page).group(0)
    found = re.search(r' value="([^"]*)"', tag)
    return html.unescape(found.group(1)) if found else ""


@pytest.mark.parametrize(
    ("name", "days", "field", "says"),
    [
        ("provisioning", "30", "name", "You already have a token with this name."),  # refused by the service
        ("ci", "0", "days", "A token can last from 1 to"),  # the lifetime, refused by the service
        ("", "", "name", "Enter a name for the token."),  # both refused by the form: each said once
    ],
)
def test_a_token_refused_after_the_password_is_shown_on_the_tokens_page_filled(
    stale_client, member, token_for, caplog, name, days, field, says
):
    """Found in a browser: a token's name or lifetime refused after the password step was shown under
    /accounts/confirm-password/, where a reload asked for the password again; the member is now back on /tokens/."""
    token_for(member, name="provisioning")
    stale_client.post(TOKENS, {"name": name, "days": days})

    resumed = stale_client.post(CONFIRM, {"password": PASSWORD})
    page = stale_client.get(TOKENS)

    assert resumed.status_code == 302 and resumed["Location"] == TOKENS
    text = page.content.decode()
    assert page.status_code == 200 and says in str(page.context["form"].errors[field])
    assert text.count(says) == 1 and f'id="id_{field}_error"' in text
    assert (_token_field(text, "name"), _token_field(text, "days")) == (name, days)
    assert _form_action(text) == TOKENS and page.context["new"] is None
    assert ApiToken.objects.count() == 1
    # Shown once: the next visit is a blank form.
    assert not stale_client.get(TOKENS).context["form"].is_bound
    assert SESSION_REFUSED not in stale_client.session


def test_a_token_made_after_the_password_shows_its_secret_once_on_the_tokens_page(stale_client, member, caplog):
    """Found in a browser: a token made after the password step showed its secret under /accounts/confirm-password/;
    a reload there asked for the password again and the member could not tell whether a token had been made. The
    secret now waits sealed for /tokens/, which shows it once; it is never in a URL, a log or the session in clear."""
    form_id = stale_client.get(TOKENS).context["form_id"]
    stale_client.post(TOKENS, {"name": "provisioning", "days": "30", "form_id": form_id})

    resumed = stale_client.post(CONFIRM, {"password": PASSWORD})
    waiting = _sessions()
    page = stale_client.get(resumed["Location"])

    assert resumed.status_code == 302 and resumed["Location"] == TOKENS
    secret = page.context["new"].secret
    token = ApiToken.objects.get()
    assert (page.context["new"].token, token.name) == (token, "provisioning")
    assert secret in page.content.decode() and "it is shown only this once" in page.content.decode()
    assert secret not in waiting and secret not in _sessions()  # sealed while waiting; gone once shown
    assert "keys.token_shown" not in stale_client.session
    assert secret not in caplog.text
    again = stale_client.get(TOKENS)
    assert again.context["new"] is None and secret not in again.content.decode()
    # The page the member sent, sent again after another password step: no second token.
    _stale_again(stale_client)
    stale_client.post(TOKENS, {"name": "provisioning", "days": "30", "form_id": form_id})
    resent = stale_client.post(CONFIRM, {"password": PASSWORD})
    assert resent.status_code == 302 and resent["Location"] == TOKENS
    assert "so no second token was made" in stale_client.get(TOKENS).content.decode()
    assert ApiToken.objects.count() == 1


def test_an_expiry_refused_after_the_password_is_shown_on_the_keys_page(stale_client, member, nsml, register):
    """Found in a browser: a key's new expiry refused after the password step was shown (status 400) under
    /accounts/confirm-password/; the member is now back on the key's page, the date as typed and its refusal."""
    key = register(member, "laptop")
    detail = reverse("keys:detail", args=[key.pk])
    stale_client.post(reverse("keys:expiry", args=[key.pk]), {"expires_at": "2001-02-03"})

    resumed = stale_client.post(CONFIRM, {"password": PASSWORD})
    page = stale_client.get(detail)

    assert resumed.status_code == 302 and resumed["Location"] == detail
    text = page.content.decode()
    form = page.context["expiry_form"]
    assert page.status_code == 200 and form.errors
    assert 'value="2001-02-03"' in text and 'id="id_expires_at_error"' in text
    before = key.expires_at
    key.refresh_from_db()
    assert key.expires_at == before
    again = stale_client.get(detail)
    assert not again.context["expiry_form"].is_bound and 'value="2001-02-03"' not in again.content.decode()


def test_a_rotation_of_a_key_revoked_meanwhile_says_so_on_the_rotate_page(
    stale_client, member, nsml, register, new_public_key
):
    """Found in a browser: rotating a key revoked in another tab while the password was asked answered 409 under
    /accounts/confirm-password/; the rotate page now says, once, that the new key was not registered."""
    old = register(member, "laptop")
    rotate = reverse("keys:rotate", args=[old.pk])
    line = new_public_key()
    stale_client.post(rotate, {"title": "desktop", "key": line})
    revoke_key(key=old, actor=member, origin=Origin(ip="10.0.0.7"))

    resumed = stale_client.post(CONFIRM, {"password": PASSWORD})
    page = stale_client.get(rotate)

    assert resumed.status_code == 302 and resumed["Location"] == rotate
    assert page.status_code == 200 and "the new key was not registered" in page.content.decode()
    assert "the new key was not registered" not in stale_client.get(rotate).content.decode()
    assert RegisteredKey.objects.count() == 1
    assert line.split()[1][-40:] not in _sessions()


def test_every_guarded_change_resumed_after_the_password_lands_on_a_page_of_its_own(
    stale_client, member, nsml, register, token_for
):
    """Revoking a key or a token after the password step goes to the key's page or the tokens page, as it does
    without the step; and no guarded view is left out of the tests of what a resumed submission lands on."""
    key = register(member, "laptop")
    token_for(member, name="provisioning")
    token = ApiToken.objects.get()
    landings = {
        reverse("keys:revoke", args=[key.pk]): reverse("keys:detail", args=[key.pk]),
        reverse("token_revoke", args=[token.pk]): TOKENS,
    }
    for path, landing in landings.items():
        _stale_again(stale_client)
        stale_client.post(path)
        assert stale_client.post(CONFIRM, {"password": PASSWORD})["Location"] == landing
    key.refresh_from_db()
    token.refresh_from_db()
    assert key.status == "revoked" and token.revoked_at is not None

    guarded = {name for name in _view_names(urlpatterns) if name}
    covered = {"keys:new", "keys:rotate", "keys:expiry", "keys:revoke", "tokens", "token_revoke"}
    assert guarded == covered


def _view_names(patterns, namespace=""):
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _view_names(pattern.url_patterns, inner)
        elif getattr(pattern.callback, "requires_recent_password", False):
            yield f"{namespace}{pattern.name}"
