"""A form sent after the member's session ended (it expired, or they logged out in another tab): the log-in
page says it was not sent, and that a pasted key must be pasted again; the key is kept nowhere."""

from __future__ import annotations

from html import unescape

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.urls import reverse

from keys.models import RegisteredKey

pytestmark = pytest.mark.django_db

NEW = reverse("keys:new")


def end_the_session(client) -> None:
    Session.objects.all().delete()
    cache.clear()  # the cached_db engine keeps a copy


def test_a_key_sent_after_the_session_ended_is_named_on_the_log_in_page(member_client, new_public_key):
    line = new_public_key()
    end_the_session(member_client)

    response = member_client.post(NEW, {"title": "laptop", "key": line}, follow=True)

    [(address, _)] = response.redirect_chain
    assert address == f"{reverse('login')}?next={NEW}"
    page = unescape(response.content.decode())
    assert "Your session ended before the form was sent, so your key was not sent to NSML" in page
    assert "paste your key again" in page
    assert line.split()[1] not in page
    assert not RegisteredKey.objects.exists()
    assert not any(line.split()[1] in str(session.get_decoded()) for session in Session.objects.all())


def test_the_log_in_page_says_it_in_korean(member_client, new_public_key):
    end_the_session(member_client)
    member_client.cookies["django_language"] = "ko"

    response = member_client.post(NEW, {"title": "laptop", "key": new_public_key()}, follow=True)

    page = response.content.decode()
    assert "세션이 끝나서 키가 NSML에 보내지지 않았고" in page
    assert "Your session ended" not in page


def test_a_form_without_a_key_says_nothing_was_changed(member_client):
    end_the_session(member_client)

    response = member_client.post(reverse("tokens"), {"name": "ci", "days": "30"}, follow=True)

    page = unescape(response.content.decode())
    assert "Your session ended before the form was sent, so nothing was changed." in page
    assert "paste your key" not in page


def test_opening_a_page_logged_out_says_nothing_about_a_lost_form(client):
    response = client.get(NEW, follow=True)

    assert response.redirect_chain[-1][0] == f"{reverse('login')}?next={NEW}"
    assert "Your session ended" not in response.content.decode()
