"""No page echoes a key, or a token's secret, that came in its address: a member who pasted one into a link
(or a `next=`) does not see it again in the page's HTML, its forms, or the address bar it lands on.

Found by hand: /accounts/login/?next=/keys/new/%3Fkey%3D<key> put the key back into the log-in form's `next`
and the header's language form; the admin's log-in page, into its form's action too.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.helpers import generate_private_key, private_text, public_line

pytestmark = pytest.mark.django_db

PRIVATE = generate_private_key()
PUBLIC_LINE = public_line(PRIVATE, "kim@laptop")
BLOB = PUBLIC_LINE.split()[1]
PRIVATE_TEXT = private_text(PRIVATE)
PRIVATE_BODY = PRIVATE_TEXT.splitlines()[2]


def _piece(text: str) -> str:
    """The longest run of letters and digits in `text`, past a key's type: the same however a URL escapes it."""
    return max(re.findall(r"[A-Za-z0-9]{8,}", text[24:]), key=len)


def _material(kind: str, token_secret: str = "") -> tuple[str, str]:
    """What is put in the address, and a piece of it that must not come back.

    A token's secret is random base64url: it may hold no long run of letters and digits, so its piece is the
    whole secret past its prefix (a URL leaves `-` and `_` as they are).
    """
    if kind == "token":
        return token_secret, token_secret.partition("_")[2]
    return {
        "public line": (PUBLIC_LINE, _piece(BLOB)),
        "public blob": (BLOB, _piece(BLOB)),
        "private key": (PRIVATE_TEXT, _piece(PRIVATE_BODY)),
    }[kind]


KINDS = ["public line", "public blob", "private key", "token"]


@pytest.fixture
def material(member, token_for):
    secret = token_for(member, name="ci")
    return lambda kind: _material(kind, secret)


def _everything_shown(response) -> str:
    chain = " ".join(url for url, _ in getattr(response, "redirect_chain", []))
    return f"{chain} {response.content.decode()}"


def _in_any_form(text: str, piece: str) -> bool:
    return piece in text


@pytest.mark.parametrize("kind", KINDS)
def test_the_log_in_page_does_not_echo_a_key_in_next(client, material, kind):
    text, piece = material(kind)
    response = client.get("/accounts/login/?next=" + quote("/keys/new/?key=" + quote(text)), follow=True)

    shown = _everything_shown(response)
    assert response.status_code == 200
    assert not _in_any_form(shown, piece)
    assert 'name="next" value="/keys/new/"' in shown  # where the member was going, without the key


@pytest.mark.parametrize("kind", KINDS)
def test_a_members_page_does_not_echo_a_key_in_its_query(member_client, material, kind):
    text, piece = material(kind)

    response = member_client.get("/keys/?key=" + quote(text) + "&keep=1", follow=True)

    shown = _everything_shown(response)
    assert response.status_code == 200
    assert not _in_any_form(shown, piece)
    assert response.redirect_chain[-1][0] == "/keys/?keep=1"


def test_a_form_sent_to_an_address_with_a_key_goes_on_without_it(member_client):
    response = member_client.post("/tokens/?key=" + quote(PUBLIC_LINE), {"name": "ci2", "days": "7"})

    assert response.status_code == 307 and response["Location"] == "/tokens/"


def test_a_page_not_found_does_not_echo_a_key_in_its_path(member_client):
    response = member_client.get("/keys/" + quote(PUBLIC_LINE) + "/")

    assert response.status_code == 404
    assert not _in_any_form(response.content.decode(), _piece(BLOB))


@pytest.mark.parametrize("kind", KINDS)
def test_the_admin_log_in_page_does_not_echo_a_key(client, material, kind):
    text, piece = material(kind)

    response = client.get("/admin/login/?next=" + quote("/admin/?q=" + quote(text)), follow=True)

    assert response.status_code == 200
    assert not _in_any_form(_everything_shown(response), piece)


def test_a_posted_next_with_a_key_is_neither_echoed_nor_followed_with_it(client, member):
    failed = client.post("/accounts/login/", {"username": "alice", "password": "wrong", "next": "/keys/?k=" + BLOB})
    logged_in = client.post(
        "/accounts/login/", {"username": "alice", "password": "alice-password-1", "next": "/keys/?k=" + BLOB}
    )

    assert _piece(BLOB) not in failed.content.decode()
    assert logged_in.status_code == 302 and logged_in["Location"] == "/keys/"


@pytest.mark.parametrize(
    "next_url", ["/keys/3/", "/admin/keys/registeredkey/?status__exact=failed&q=SHA256%3Aabc", "/tokens/"]
)
def test_an_ordinary_next_is_kept_as_it_is(client, next_url):
    response = client.get("/accounts/login/?next=" + quote(next_url))

    assert response.status_code == 200
    assert response.context["next"] == next_url


def test_the_api_is_not_redirected(client):
    response = client.get("/api/v1/keys?key=" + quote(PUBLIC_LINE))

    assert response.status_code == 401


def test_the_admins_lists_still_say_a_private_key_was_pasted_into_their_search(admin_client):
    response = admin_client.get("/admin/keys/registeredkey/", {"q": " ".join(PRIVATE_TEXT.splitlines())}, follow=True)

    assert "This is your private key" in response.content.decode()
