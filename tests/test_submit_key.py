"""The whole submit path: form -> service -> signed HTTP -> simulator, and what gets recorded."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.urls import reverse

from keys.models import RegisteredKey
from nsml.simulator import Faults
from tests.helpers import generate_private_key, posts_seen, private_text

pytestmark = pytest.mark.django_db

NEW = reverse("keys:new")


def md5_name(public_line: str) -> str:
    return hashlib.md5(base64.b64decode(public_line.split()[1])).hexdigest()


def test_it_registers_a_key_with_nsml(member_client, member, nsml, new_public_key):
    line = new_public_key("ed25519", comment="alice@laptop")

    response = member_client.post(NEW, {"title": "alice-laptop", "key": line}, HTTP_USER_AGENT="pytest-browser")

    key = RegisteredKey.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("keys:detail", args=[key.pk])
    held = nsml.held_keys()
    assert [(item["title"], item["name"]) for item in held] == [("alice-laptop", md5_name(line))]
    # NSML gets the normalized key: type and base64, no comment.
    assert held[0]["key"] == " ".join(line.split()[:2])
    assert (key.owner, key.title, key.key_type, key.bits, key.comment) == (
        member,
        "alice-laptop",
        "ssh-ed25519",
        256,
        "alice@laptop",
    )
    assert key.nsml_name == md5_name(line)
    assert key.status == RegisteredKey.Status.ACTIVE


def test_it_shows_the_key_after_registering(member_client, nsml, new_public_key):
    response = member_client.post(NEW, {"title": "laptop", "key": new_public_key()}, follow=True)

    key = RegisteredKey.objects.get()
    page = response.content.decode()
    assert "laptop" in page
    assert "ssh-ed25519" in page
    assert key.fingerprint_sha256 in page
    assert "256" in page


def test_it_audits_a_successful_registration(member_client, member, nsml, new_public_key, event):
    member_client.post(NEW, {"title": "laptop", "key": new_public_key()}, HTTP_USER_AGENT="pytest-browser")

    row = event()
    key = RegisteredKey.objects.get()
    assert (row.action, row.outcome) == ("register", "success")
    assert (row.actor, row.subject, row.registered_key) == (member, member, key)
    assert (row.title, row.fingerprint) == ("laptop", key.fingerprint_sha256)
    assert (row.client_ip, row.user_agent) == ("127.0.0.1", "pytest-browser")
    assert row.upstream_status == 201
    assert row.trace_id
    assert row.duration_ms is not None


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("my laptop", "Use only English letters, digits and hyphens"),
        ("1laptop", "must begin with an English letter"),
        ("my--laptop", "two hyphens in a row"),
        ("a" * 65, "at most 64 characters"),
        ("lap\u200btop", "an invisible character (U+200B ZERO WIDTH SPACE)"),
        ("my\u00a0laptop", "an invisible character (U+00A0 NO-BREAK SPACE)"),
        ("lap\u00adtop", "an invisible character (U+00AD SOFT HYPHEN)"),
    ],
)
def test_a_refused_title_never_reaches_nsml(member_client, nsml, new_public_key, title, message):
    line = new_public_key()

    response = member_client.post(NEW, {"title": title, "key": line})

    assert response.status_code == 200
    assert message in str(response.context["form"].errors["title"])
    assert nsml.requests_seen == []
    assert not RegisteredKey.objects.exists()
    # The member's input survives the refusal.
    assert line in response.content.decode()


@pytest.mark.parametrize("title", ["\ufefflaptop", "laptop\u200b", "\u200flaptop\u00a0", " \u2060laptop\u200d\t"])
def test_invisible_characters_around_a_copied_title_are_dropped(member_client, nsml, new_public_key, title):
    member_client.post(NEW, {"title": title, "key": new_public_key()})

    assert [item["title"] for item in nsml.held_keys()] == ["laptop"]
    assert RegisteredKey.objects.get().title == "laptop"


def test_it_audits_a_refusal_with_its_reason(member_client, member, nsml, new_public_key, event):
    member_client.post(NEW, {"title": "1laptop", "key": new_public_key()})

    row = event()
    assert (row.actor, row.action, row.outcome, row.reason) == (
        member,
        "register",
        "refused",
        "title_first_letter",
    )
    assert row.upstream_status is None


def test_it_refuses_an_unsupported_key_type_next_to_the_key_field(member_client, nsml):
    dsa = "ssh-dss AAAAB3NzaC1kc3MAAACBAP8= me@old"

    response = member_client.post(NEW, {"title": "old", "key": dsa})

    assert "key" in response.context["form"].errors
    assert "ssh-ed25519" in str(response.context["form"].errors["key"])
    assert nsml.requests_seen == []


def test_it_never_echoes_a_pasted_private_key(member_client, nsml, event):
    secret = private_text(generate_private_key("ed25519"), "openssh")

    response = member_client.post(NEW, {"title": "oops", "key": secret})

    page = response.content.decode()
    assert "private key" in str(response.context["form"].errors["key"]).lower()
    for line in secret.splitlines()[1:-1]:
        assert line not in page
    assert "oops" in page
    assert nsml.requests_seen == []
    row = event()
    assert row.reason == "private_key"
    assert row.fingerprint == ""


def test_it_refuses_a_title_the_member_already_uses(member_client, nsml, new_public_key):
    member_client.post(NEW, {"title": "laptop", "key": new_public_key()})

    response = member_client.post(NEW, {"title": "laptop", "key": new_public_key()})

    assert "You already have an active key titled “laptop”" in str(response.context["form"].errors["title"])
    assert len(posts_seen(nsml)) == 1


def test_it_refuses_a_title_another_member_uses_without_naming_them(client, member, other_member, nsml, new_public_key):
    client.force_login(other_member)
    client.post(NEW, {"title": "gpu-box", "key": new_public_key()})
    client.force_login(member)

    response = client.post(NEW, {"title": "gpu-box", "key": new_public_key()})

    errors = str(response.context["form"].errors["title"])
    assert "already in use" in errors
    assert "bob" not in response.content.decode()


def test_it_refuses_a_key_already_registered(member_client, nsml, new_public_key):
    line = new_public_key()
    member_client.post(NEW, {"title": "laptop", "key": line})

    response = member_client.post(NEW, {"title": "desktop", "key": line})

    assert "already registered as your key “laptop”" in str(response.context["form"].errors["key"])
    assert len(nsml.held_keys()) == 1


def test_a_key_another_member_s_submission_still_waits_on_is_not_called_registered(
    client, member, other_member, nsml, new_public_key
):
    """Found by the convergence QA pass: a key whose registration by another member was still pending (NSML's
    answer lost) was refused as "already registered by another member"; in Korean, "이미 ... 등록했습니다"."""
    line = new_public_key()
    nsml.set_faults(Faults(drop=True))
    client.force_login(other_member)
    client.post(NEW, {"title": "gpu-box", "key": line})
    assert RegisteredKey.objects.get().status == "pending"
    nsml.set_faults(Faults())
    client.force_login(member)

    english = client.post(NEW, {"title": "laptop", "key": line})
    korean = client.post(NEW, {"title": "laptop", "key": line}, headers={"Accept-Language": "ko"})

    assert "already registered, or being registered, by another member" in str(english.context["form"].errors["key"])
    assert "등록했거나 등록하는 중입니다" in str(korean.context["form"].errors["key"])
    assert "gpu-box" not in str(english.context["form"].errors) and "bob" not in str(english.context["form"].errors)


def test_a_title_or_key_still_being_revoked_is_not_called_active(member_client, nsml, new_public_key):
    """Found in a browser while NSML answered DELETEs with 503: the member revoked "laptop", read that it was
    being revoked, added a new key titled "laptop" and read "You already have an active key titled laptop";
    sending the revoked key again read "already registered as your key"."""
    line = new_public_key()
    member_client.post(NEW, {"title": "laptop", "key": line})
    key = RegisteredKey.objects.get()
    nsml.set_faults(Faults(fail_status=503, fail_methods={"DELETE"}))
    member_client.post(reverse("keys:revoke", args=[key.pk]))
    key.refresh_from_db()
    assert key.status == "revoking"

    same_title = member_client.post(
        NEW, {"title": "laptop", "key": new_public_key()}, headers={"Accept-Language": "ko"}
    )
    same_key = member_client.post(NEW, {"title": "desktop", "key": line})

    title_error = str(same_title.context["form"].errors["title"])
    assert "“laptop” 키는 아직 폐기 중입니다" in title_error and "활성" not in title_error
    key_error = str(same_key.context["form"].errors["key"])
    assert "This key is still being revoked as your key “laptop”" in key_error
    assert "already registered" not in key_error


def test_the_same_key_sent_again_under_its_own_title_is_explained_by_the_key(member_client, nsml, new_public_key):
    """Found in a browser: a member sent a key again, same title and same key, while it was being revoked, and
    read "Choose another title to add this key now"; another title was refused too, as the key is still being
    revoked. Sent again while active, it read "Choose another title", with the same end."""
    line = new_public_key()
    member_client.post(NEW, {"title": "laptop", "key": line})

    again = member_client.post(NEW, {"title": "laptop", "key": line})

    assert "title" not in again.context["form"].errors
    assert "already registered as your key “laptop”" in str(again.context["form"].errors["key"])

    key = RegisteredKey.objects.get()
    nsml.set_faults(Faults(fail_status=503, fail_methods={"DELETE"}))
    member_client.post(reverse("keys:revoke", args=[key.pk]))
    key.refresh_from_db()
    assert key.status == "revoking"

    while_revoking = member_client.post(NEW, {"title": "laptop", "key": line})

    errors = while_revoking.context["form"].errors
    assert "title" not in errors
    assert "This key is still being revoked as your key “laptop”" in str(errors["key"])
    assert len(posts_seen(nsml)) == 1


def test_it_refuses_a_key_another_member_registered(client, member, other_member, nsml, new_public_key):
    line = new_public_key()
    client.force_login(other_member)
    client.post(NEW, {"title": "shared", "key": line})
    client.force_login(member)

    response = client.post(NEW, {"title": "mine", "key": line})

    assert "registered, or being registered, by another member" in str(response.context["form"].errors["key"])


def test_nsml_refusing_a_duplicate_title_is_explained_next_to_the_title(member_client, nsml, new_public_key, event):
    nsml.add_key("laptop", new_public_key())  # added in the NCP console, unknown to the portal

    response = member_client.post(NEW, {"title": "laptop", "key": new_public_key()})

    errors = response.context["form"].errors
    assert "NSML already holds a key titled “laptop”" in str(errors["title"])
    assert "already registered" not in response.content.decode()  # NSML's own English stays in the audit log
    assert RegisteredKey.objects.get().status == "failed"
    row = event()
    assert (row.outcome, row.upstream_status) == ("rejected", 400)
    assert "already registered" in row.detail
    assert row.trace_id


def test_nsml_refusing_a_duplicate_key_is_explained_in_korean(member_client, nsml, new_public_key):
    line = new_public_key()
    nsml.add_key("console-key", line)

    response = member_client.post(NEW, {"title": "laptop", "key": line}, HTTP_ACCEPT_LANGUAGE="ko")

    page = response.content.decode()
    assert "already registered" not in page and "NSML already holds" not in page
    assert response.context["form"].errors["key"]


def test_it_requires_both_fields(member_client, nsml):
    response = member_client.post(NEW, {"title": "", "key": ""})

    assert set(response.context["form"].errors) == {"title", "key"}
    assert nsml.requests_seen == []


def test_a_key_wrapped_by_an_email_client_is_joined_and_the_member_is_told(member_client, nsml, new_public_key):
    line = new_public_key("rsa4096", comment="me@laptop")
    wrapped = "\r\n".join(line[i : i + 76] for i in range(0, len(line), 76))

    response = member_client.post(NEW, {"title": "laptop", "key": wrapped}, follow=True)

    assert "joined them into one" in response.content.decode()
    held = nsml.held_keys()
    assert [item["key"] for item in held] == [" ".join(line.split()[:2])]


@pytest.mark.parametrize(
    "space",
    [
        pytest.param("\u00a0", id="no-break-space-from-a-web-page-or-chat"),
        pytest.param("\u3000", id="ideographic-space-from-a-korean-input-method"),
        pytest.param("\u202f", id="narrow-no-break-space"),
    ],
)
def test_a_key_whose_spaces_were_turned_into_unicode_spaces_is_registered(member_client, nsml, new_public_key, space):
    # Copied from a chat or a web page, the spaces between type, key data and comment come as no-break spaces;
    # the page used to answer that this is "not an SSH public key", though it starts with ssh-ed25519.
    line = new_public_key("ed25519", comment="kim@laptop")
    pasted = space + line.replace(" ", space) + space

    response = member_client.post(NEW, {"title": "kim-laptop", "key": pasted}, follow=True)

    assert "is registered with NSML" in response.content.decode()
    assert [item["key"] for item in nsml.held_keys()] == [" ".join(line.split()[:2])]
    assert RegisteredKey.objects.get().comment == "kim@laptop"
