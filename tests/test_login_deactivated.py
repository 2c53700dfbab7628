"""A deactivated member who types their right password is told their account is deactivated; anyone else (a wrong
password for that account) gets the usual refusal, so the message tells nothing to someone without the password."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.test import Client, RequestFactory
from django.urls import reverse

from keys.models import AuditEvent, RefusalWindow

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
RIGHT = "alice-password-1"
DEACTIVATED = "This account is deactivated"
GENERIC = "Please enter a correct username and password"


@pytest.fixture
def deactivated(member):
    member.is_active = False
    member.save(update_fields=["is_active"])
    return member


def attempt(client, password: str, language: str = "en", ip: str = "10.9.8.7"):
    return client.post(
        LOGIN, {"username": "alice", "password": password}, REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE=language
    )


@pytest.mark.parametrize(("language", "says"), [("en", DEACTIVATED), ("ko", "이 계정은 비활성화되어")])
def test_the_right_password_of_a_deactivated_account_says_it_is_deactivated(client, deactivated, language, says):
    page = attempt(client, RIGHT, language).content.decode()

    assert says in page
    assert GENERIC not in page and "tries are left" not in page and "try is left" not in page
    assert client.get(reverse("keys:list")).status_code == 302  # still not logged in


def test_a_wrong_password_for_a_deactivated_account_gets_the_usual_refusal(client, deactivated):
    page = attempt(client, "not-the-password").content.decode()

    assert GENERIC in page
    assert DEACTIVATED not in page


def test_the_right_password_of_a_deactivated_account_is_audited_and_not_counted_toward_the_lock_out(
    client, deactivated, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        page = attempt(client, RIGHT).content.decode()

    assert DEACTIVATED in page  # never "log-in paused": the member is not guessing
    assert not AccessAttempt.objects.exists()
    # One audit row however often they retry; the retries are counted in its refused log-ins window.
    row = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN_FAILED)
    assert (row.outcome, row.reason, row.actor_username, row.client_ip) == (
        AuditEvent.Outcome.REFUSED,
        "inactive_user",
        "alice",
        "10.9.8.7",
    )
    assert RefusalWindow.objects.get(first_event=row).count == settings.AXES_FAILURE_LIMIT + 1
    assert RIGHT not in str(list(AuditEvent.objects.values()))


def test_a_locked_out_name_is_not_told_its_account_is_deactivated(client, deactivated, settings):
    """The lock-out answers first: no password is checked while it lasts, so it cannot tell a right one."""
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "not-the-password")

    response = attempt(client, RIGHT)

    assert response.status_code == 429
    assert DEACTIVATED not in response.content.decode()


def test_a_deactivated_account_is_still_authenticated_nowhere_else(deactivated):
    """Only the log-in form hears of a deactivated account's right password; the password check again before a change,
    and a session, still find no user (the API's tokens: tests/test_api_auth.py)."""
    request = RequestFactory().post(LOGIN, REMOTE_ADDR="10.9.8.7")
    assert authenticate(request, username="alice", password=RIGHT) is None
    session = Client()
    session.force_login(deactivated, backend="keys.oidc.PasswordBackend")
    assert session.get(reverse("keys:list")).status_code == 302
