"""The log-in and confirm-password forms are checked by the portal, in its language, as the key and token forms are:
an empty box was stopped by the browser's own "Please fill out this field" bubble, in the browser's language. An
empty box is no password tried: it never counts toward the lock-out, nor is it audited as a failed log-in."""

from __future__ import annotations

import re
import time

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from keys.models import AuditEvent
from keys.reauth import SESSION_CONFIRMED_AT

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
CONFIRM = reverse("confirm_password")
PASSWORD = "alice-password-1"
SAYS = {
    "en": {"username": "Enter your username.", "password": "Enter your password."},
    "ko": {"username": "사용자 이름을 입력하세요.", "password": "비밀번호를 입력하세요."},
}


def _form_tag(page: str) -> str:
    return re.search(r'<form method="post"[^>]*class="card narrow"[^>]*>', page).group(0)


def _no_failure_counted() -> bool:
    failures = AuditEvent.objects.filter(action__in=[AuditEvent.Action.LOGIN_FAILED, AuditEvent.Action.LOCKOUT])
    return not AccessAttempt.objects.exists() and not failures.exists()


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_log_in_form_leaves_empty_boxes_to_the_portal(client, member, language):
    client.cookies["django_language"] = language
    page = client.get(LOGIN).content.decode()
    assert " novalidate" in _form_tag(page)

    refused = client.post(LOGIN, {"username": "", "password": ""})

    assert refused.status_code == 200
    assert refused.context["form"].errors == {
        "username": [SAYS[language]["username"]],
        "password": [SAYS[language]["password"]],
    }
    # The cursor goes to the first empty box, with JavaScript off too.
    assert 'data-focus-on-error="id_username"' in refused.content.decode()


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_name_without_a_password_is_asked_for_the_password_and_never_locks_out(client, member, settings, language):
    client.cookies["django_language"] = language
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        refused = client.post(LOGIN, {"username": "alice", "password": ""}, REMOTE_ADDR="10.9.8.7")
        assert refused.status_code == 200
        assert refused.context["form"].errors == {"password": [SAYS[language]["password"]]}

    page = refused.content.decode()
    assert 'data-focus-on-error="id_password"' in page and 'value="alice"' in page
    assert _no_failure_counted()
    logged_in = client.post(LOGIN, {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.9.8.7")
    assert logged_in.status_code == 302 and logged_in["Location"] == reverse("keys:list")


@pytest.mark.parametrize("data", [{}, {"username": "   "}, {"password": ""}, {"username": "\t", "password": ""}])
def test_a_log_in_with_missing_or_blank_boxes_is_refused_calmly(client, member, data):
    refused = client.post(LOGIN, data)

    assert refused.status_code == 200 and "username" in refused.context["form"].errors
    assert _no_failure_counted()


@pytest.fixture
def stale_client(member_client):
    session = member_client.session
    session[SESSION_CONFIRMED_AT] = time.time() - 16 * 60
    session.save()
    return member_client


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_confirm_password_form_leaves_an_empty_box_to_the_portal_and_never_locks_out(
    stale_client, nsml, new_public_key, settings, language
):
    stale_client.post(reverse("keys:new"), {"title": "laptop", "key": new_public_key()})
    stale_client.cookies["django_language"] = language
    page = stale_client.get(CONFIRM).content.decode()
    assert " novalidate" in _form_tag(page)

    for data in [{"password": ""}, {}] * settings.AXES_FAILURE_LIMIT:
        refused = stale_client.post(CONFIRM, data)
        assert refused.status_code == 200
        assert refused.context["form"].errors == {"password": [SAYS[language]["password"]]}

    field = re.search(r'<input[^>]*name="password"[^>]*>', refused.content.decode()).group(0)
    assert "autofocus" in field and 'aria-invalid="true"' in field
    assert _no_failure_counted()
    confirmed = stale_client.post(CONFIRM, {"password": PASSWORD})
    assert confirmed.status_code == 302 and nsml.held_keys()[0]["title"] == "laptop"
