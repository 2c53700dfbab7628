"""A field refused with an error points at it (aria-describedby), so a screen reader reads the error, and the
field's help, when the field gets focus: every id a field names is on the page, the error's holds the error."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


class Fields(HTMLParser):
    """The page's element texts by id, and each form field's aria-describedby and aria-invalid."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: dict[str, str] = {}
        self.fields: list[dict] = []
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("input", "textarea", "select") and attrs.get("type") != "hidden":
            self.fields.append(attrs)
        if tag in ("input", "br", "meta", "link", "img"):
            return
        if attrs.get("id"):
            self.texts[attrs["id"]] = ""
        self._open.append(attrs.get("id"))

    def handle_endtag(self, tag):
        if self._open and tag not in ("input", "br", "meta", "link", "img"):
            self._open.pop()

    def handle_data(self, data):
        for element in self._open:
            if element is not None:
                self.texts[element] += data


def assert_errors_described(response, error: str) -> None:
    page = Fields()
    page.feed(response.content.decode())
    invalid = [field for field in page.fields if field.get("aria-invalid") == "true"]
    assert invalid, "no field marked invalid"
    for field in page.fields:
        for described_by in (field.get("aria-describedby") or "").split():
            assert described_by in page.texts, f"{field.get('name')} points at #{described_by}, not on the page"
    described = " ".join(
        page.texts[described_by] for field in invalid for described_by in field["aria-describedby"].split()
    )
    assert error in described


def test_a_wrong_password_on_the_confirmation_page_is_read_with_the_field(member_client):
    response = member_client.post(reverse("confirm_password"), {"password": "not-my-password"})

    assert_errors_described(response, "That is not your password")


def test_an_empty_password_on_the_log_in_page_is_read_with_the_field(client, member):
    response = client.post(reverse("login"), {"username": "alice", "password": ""})

    assert_errors_described(response, "Enter your password.")


def test_a_past_day_in_the_admins_set_expiry_is_read_with_the_field(admin_client, member, register):
    key = register(member, "laptop")
    response = admin_client.post(
        reverse("admin:keys_registeredkey_changelist"),
        {"action": "set_expiry", "_selected_action": [key.pk], "apply": "1", "expires_at": "2000-01-01"},
    )

    assert_errors_described(response, "Choose an expiry date from")


def test_a_refused_key_on_the_add_key_page_is_read_with_the_field(member_client):
    response = member_client.post(reverse("keys:new"), {"title": "", "key": "not a key"})

    assert_errors_described(response, "Enter a title.")
