"""A deactivated member who types their right password (at the portal's log-in, or a staff member at the admin's) is
told their account is deactivated; anyone else (a wrong password for that account) gets the usual refusal, so the
message tells nothing to someone without the password."""

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
# Each log-in page's own refusal of a wrong password: the portal's, and the admin's ("...for a staff account").
GENERIC = {"portal": "Please enter a correct username and password", "admin": "Please enter the correct username"}
LOG_IN_PAGES = {"portal": LOGIN, "admin": reverse("admin:login")}


@pytest.fixture(params=["portal", "admin"])
def page(request) -> str:
    """Which log-in page the deactivated account tries: the portal's (a member) or the admin's (a staff member)."""
    return request.param


@pytest.fixture
def deactivated(member, page):
    member.is_active = False
    member.is_staff = page == "admin"
    member.save(update_fields=["is_active", "is_staff"])
    return member


@pytest.fixture
def attempt(page):
    def send(client, password: str, language: str = "en", ip: str = "10.9.8.7"):
        return client.post(
            LOG_IN_PAGES[page],
            {"username": "alice", "password": password},
            REMOTE_ADDR=ip,
            HTTP_ACCEPT_LANGUAGE=language,
        )

    return send


@pytest.mark.parametrize(("language", "says"), [("en", DEACTIVATED), ("ko", "이 계정은 비활성화되어")])
def test_the_right_password_of_a_deactivated_account_says_it_is_deactivated(
    client, deactivated, attempt, page, language, says
):
    answer = attempt(client, RIGHT, language).content.decode()

    assert says in answer
    assert GENERIC[page] not in answer and "tries are left" not in answer and "try is left" not in answer
    assert client.get(reverse("keys:list")).status_code == 302  # still not logged in
    assert client.get(reverse("admin:index")).status_code == 302


def test_a_wrong_password_for_a_deactivated_account_gets_the_usual_refusal(client, deactivated, attempt, page):
    answer = attempt(client, "not-the-password").content.decode()

    assert GENERIC[page] in answer
    assert DEACTIVATED not in answer


def test_the_right_password_of_a_deactivated_account_is_audited_and_not_counted_toward_the_lock_out(
    client, deactivated, attempt, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        answer = attempt(client, RIGHT).content.decode()

    assert DEACTIVATED in answer  # never "log-in paused": the member is not guessing
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


def test_a_locked_out_name_is_not_told_its_account_is_deactivated(client, deactivated, attempt, settings):
    """The lock-out answers first: no password is checked while it lasts, so it cannot tell a right one."""
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "not-the-password")

    response = attempt(client, RIGHT)

    assert response.status_code == 429
    assert DEACTIVATED not in response.content.decode()


@pytest.mark.parametrize("page", ["portal"])
def test_a_deactivated_account_is_still_authenticated_nowhere_else(deactivated):
    """Only the log-in form hears of a deactivated account's right password; the password check again before a change,
    and a session, still find no user (the API's tokens: tests/test_api_auth.py)."""
    request = RequestFactory().post(LOGIN, REMOTE_ADDR="10.9.8.7")
    assert authenticate(request, username="alice", password=RIGHT) is None
    session = Client()
    session.force_login(deactivated, backend="keys.oidc.PasswordBackend")
    assert session.get(reverse("keys:list")).status_code == 302
