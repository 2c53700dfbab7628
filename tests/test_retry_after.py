"""No header NSML sends may crash a call: a Retry-After nobody can parse is ignored, and the member,
the admin and the operator get the same clear answer as for any busy NSML, with an audit row."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from nsml.simulator import Faults
from nsml.simulator.faults import BAD_RETRY_AFTERS

pytestmark = pytest.mark.django_db


@pytest.fixture(params=BAD_RETRY_AFTERS, ids=["impossible-date", "non-ascii-digits"])
def bad_retry_after(request) -> str:
    return request.param


def test_a_submission_gets_a_page_and_an_audit_row(member_client, nsml, new_public_key, bad_retry_after, event):
    nsml.set_faults(Faults(fail_status=503, retry_after=bad_retry_after))

    response = member_client.post(reverse("keys:new"), {"title": "laptop", "key": new_public_key()})

    assert response.status_code in (200, 302)
    assert event(action="register").upstream_status == 503


def test_a_revocation_gets_a_page_and_an_audit_row(member_client, member, nsml, register, bad_retry_after, event):
    key = register(member)
    nsml.set_faults(Faults(fail_status=429, retry_after=bad_retry_after, fail_methods=frozenset({"DELETE"})))

    response = member_client.post(reverse("keys:revoke", args=[key.pk]), follow=True)

    assert response.status_code == 200
    assert "try again in a minute" in response.content.decode()
    assert event(action="revoke").upstream_status == 429


def test_nsml_check_reports_it_without_a_traceback(nsml, bad_retry_after):
    nsml.set_faults(Faults(fail_status=503, retry_after=bad_retry_after))

    with pytest.raises(CommandError) as raised:
        call_command("nsml_check", stdout=io.StringIO(), stderr=io.StringIO())

    assert "503" in str(raised.value)
