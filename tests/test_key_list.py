from __future__ import annotations

import hashlib
import re

import pytest
from django.urls import reverse
from django.utils import translation

from keys.models import RegisteredKey

pytestmark = pytest.mark.django_db


def make_key(owner, title: str, fingerprint: str) -> RegisteredKey:
    return RegisteredKey.objects.create(
        owner=owner,
        title=title,
        key_type="ssh-ed25519",
        bits=256,
        public_key="ssh-ed25519 AAAA",
        fingerprint_sha256=fingerprint,
        fingerprint_md5="00:" * 15 + "00",
        nsml_name=hashlib.md5(fingerprint.encode()).hexdigest(),
    )


def test_it_lists_only_the_members_own_keys(member_client, member, other_member):
    make_key(member, "alice-laptop", "SHA256:alice")
    make_key(other_member, "bob-laptop", "SHA256:bob")

    page = member_client.get(reverse("keys:list")).content.decode()

    assert "alice-laptop" in page
    assert "SHA256:alice" in page
    assert "bob-laptop" not in page
    assert "SHA256:bob" not in page


def test_it_hides_another_members_key_detail(member_client, other_member):
    key = make_key(other_member, "bob-laptop", "SHA256:bob")

    response = member_client.get(reverse("keys:detail", args=[key.pk]))

    assert response.status_code == 404


def test_it_shows_the_members_key_detail(member_client, member):
    key = make_key(member, "alice-laptop", "SHA256:alice")

    response = member_client.get(reverse("keys:detail", args=[key.pk]))

    assert response.status_code == 200
    assert "SHA256:alice" in response.content.decode()


def test_it_invites_a_member_with_no_keys_to_add_one(member_client):
    page = member_client.get(reverse("keys:list")).content.decode()

    assert "You have no keys yet." in page
    assert reverse("keys:new") in page


def _expires_in(key, delta):
    from django.utils import timezone

    RegisteredKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() + delta)


def test_it_shows_when_each_key_expires_with_the_exact_time_on_hover_and_focus(member_client, member, nsml, register):
    from datetime import timedelta

    _expires_in(register(member, "later"), timedelta(days=12, hours=1))
    _expires_in(register(member, "soon"), timedelta(days=3, hours=1))
    forever = register(member, "forever")
    RegisteredKey.objects.filter(pk=forever.pk).update(expires_at=None)

    page = member_client.get(reverse("keys:list")).content.decode()

    later = re.search(
        r'<time class="expiry" datetime="([^"]+)" title="([^"]+)" data-exact="[^"]+" tabindex="0">([^<]+)</time>', page
    )
    assert later is not None
    assert later[3] in ("in 12 days", "in 13 days")  # the count of calendar days in Seoul
    assert later[1].endswith("+09:00") and later[2].endswith("(Asia/Seoul)")
    soon = re.search(r'<time class="expiry soon"[^>]*tabindex="0"><strong>(in [34] days)</strong></time>', page)
    assert soon is not None
    assert "never" in page


@pytest.mark.parametrize(
    ("language", "headings", "status"),
    [
        ("en", ["Title", "Type", "Fingerprint", "Added", "Expires", "Status"], "Active"),
        ("ko", None, None),
    ],
)
def test_each_cell_names_its_column_in_the_members_language(member_client, member, language, headings, status):
    """On a narrow screen each cell shows its column's name (data-label), and the status its label: in the
    member's language, on every row."""
    for number in range(3):
        make_key(member, f"laptop-{number}", f"SHA256:k{number}")
    RegisteredKey.objects.update(status=RegisteredKey.Status.ACTIVE)
    with translation.override(language):
        headings = headings or [
            str(translation.gettext(word)) for word in ("Title", "Type", "Fingerprint", "Added", "Expires", "Status")
        ]
        status = status or str(RegisteredKey.Status.ACTIVE.label)

    page = member_client.get(reverse("keys:list"), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    rows = re.findall(r"<tr>\s*<td .*?</tr>", page, re.S)
    assert len(rows) == 3
    for row in rows:
        assert re.findall(r'data-label="([^"]*)"', row) == headings
        assert f">{status}</span>" in row
    if language == "ko":
        assert all(re.search("[\uac00-\ud7a3]", heading) for heading in headings)
