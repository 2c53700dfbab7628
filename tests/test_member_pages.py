"""Member pages that say what to do next: revoked keys apart, an empty list that explains, a key page
that names the member's own .pub file, and a newly registered key's next step."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from keys.models import RegisteredKey
from nsml.simulator import Faults
from tests.helpers import generate_private_key, public_line

pytestmark = pytest.mark.django_db


def test_revoked_keys_move_to_their_own_collapsed_section(member_client, member, nsml, register):
    register(member, "kept")
    gone = register(member, "gone")
    member_client.post(reverse("keys:revoke", args=[gone.pk]))

    page = member_client.get(reverse("keys:list")).content.decode()

    history = page.index('<details class="history">')
    assert page.index(">kept<") < history < page.index(">gone<")
    assert "1 revoked or unregistered key" in page
    assert '<details class="history" open' not in page


def test_an_empty_list_says_what_a_key_is_for_and_links_to_the_help(member_client):
    page = member_client.get(reverse("keys:list")).content.decode()

    assert "A key lets you connect to NSML" in page
    assert f'href="{reverse("keys:new")}#key-help-heading"' in page


@pytest.mark.parametrize(
    ("kind", "file"), [("ed25519", "id_ed25519.pub"), ("rsa2048", "id_rsa.pub"), ("ecdsa384", "id_ecdsa.pub")]
)
def test_the_key_page_names_the_file_of_the_keys_own_type(member_client, member, nsml, register, kind, file):
    key = register(member, "laptop", kind=kind)

    page = member_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    assert f"<code>ssh-keygen -lf ~/.ssh/{file}</code>" in page


def test_the_revoke_date_has_its_own_label(member_client, member, nsml, register):
    key = register(member)
    member_client.post(reverse("keys:revoke", args=[key.pk]))

    page = member_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    assert re.search(r"<dt>Revoked on</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", page)
    assert '<span class="status revoked">Revoked</span>' in page


def test_a_newly_registered_key_says_what_to_do_next(member_client, nsml):
    line = public_line(generate_private_key("ed25519"), "me@laptop")

    page = member_client.post(reverse("keys:new"), {"title": "laptop", "key": line}, follow=True).content.decode()

    assert "is registered with NSML" in page
    assert "What next:" in page


def test_cancel_and_revoke_sit_apart_in_one_actions_row(member_client, member, nsml, register):
    key = register(member)

    page = member_client.get(reverse("keys:revoke", args=[key.pk])).content.decode()

    assert re.search(r'<div class="actions">\s*<button type="submit" class="danger">Revoke</button>\s*<a ', page)


def test_the_revoke_page_of_a_key_nsml_has_not_confirmed_says_why_and_when(member_client, nsml):
    """It said only "Only an active key can be revoked." to a member whose key the page listed as pending."""
    nsml.set_faults(Faults(drop=True))
    line = public_line(generate_private_key())
    member_client.post(reverse("keys:new"), {"title": "laptop", "key": line})
    nsml.set_faults(Faults())
    key = RegisteredKey.objects.get(title="laptop")
    assert key.status == "pending"

    page = member_client.get(reverse("keys:revoke", args=[key.pk])).content.decode()

    assert "NSML has not confirmed this key yet, so it cannot be revoked now." in page
    assert "revoke it once it is active." in page
    assert 'class="danger"' not in page


def test_a_revoke_sent_from_an_out_of_date_page_says_the_key_is_already_revoked(member_client, member, nsml, register):
    """Found in the browser: Revoke pressed on a page opened before the key was revoked (in another tab)
    went back to the key's page without a word, and the revoke page of a revoked key still asked
    "Revoke “laptop”?"."""
    key = register(member, "laptop")
    member_client.post(reverse("keys:revoke", args=[key.pk]))
    member_client.get(reverse("keys:detail", args=[key.pk]))  # the first revoke's message, read

    again = member_client.post(reverse("keys:revoke", args=[key.pk]), follow=True)
    opened = member_client.get(reverse("keys:revoke", args=[key.pk])).content.decode()

    assert [str(message) for message in again.context["messages"]] == ["This key is already revoked."]
    assert "Revoke “laptop”?" not in opened
    assert "This key is already revoked." in opened
