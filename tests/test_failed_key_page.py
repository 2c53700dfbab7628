"""A key NSML did not register: its page says why, in the sentence the form showed when it failed, and in the
member's language; NSML's own words stay in the audit log."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from keys.models import RegisteredKey
from nsml.simulator import Faults
from tests.helpers import nsml_sync

pytestmark = pytest.mark.django_db

NEW = reverse("keys:new")
POST = frozenset({"POST"})


def form_error(response) -> str:
    form = response.context["form"]
    return " ".join(str(error) for error in [*form.non_field_errors(), *form["title"].errors, *form["key"].errors])


def key_page(client, key, language: str = "en") -> str:
    client.cookies["django_language"] = language
    return unescape(client.get(reverse("keys:detail", args=[key.pk])).content.decode())


@pytest.mark.parametrize(
    "faults",
    [
        Faults(fail_status=401, fail_code="200"),
        Faults(fail_status=403),
        Faults(fail_status=404),
        Faults(fail_status=413),
        Faults(fail_status=429, fail_code="420"),
        Faults(fail_methods=POST, fail_status=503),
        Faults(fail_methods=POST, drop=True),
    ],
    ids=lambda faults: faults.describe(),
)
def test_the_page_of_a_failed_key_repeats_why_the_form_said_it_failed(member_client, nsml, new_public_key, faults):
    nsml.set_faults(faults)
    said = form_error(member_client.post(NEW, {"title": "laptop", "key": new_public_key()}))
    key = RegisteredKey.objects.get()
    assert key.status == "failed"

    page = key_page(member_client, key)

    assert said and "simulated fault" not in page
    if key.failure in ("throttled", "unavailable"):
        # Found in QA pass 3: the page, read any time later, repeated "right now ... try again in a minute".
        assert said not in page and "right now" not in page and "in a minute" not in page
        assert "when this key was submitted, so it was not registered. You can add it again." in page
    else:
        assert said in page


def test_a_title_nsml_already_holds_is_named_on_the_failed_key_page(member_client, nsml, new_public_key):
    # Added in the NCP console since the portal last looked: NSML refuses the title, a lookup says why.
    nsml.add_key("laptop", new_public_key())

    said = form_error(member_client.post(NEW, {"title": "laptop", "key": new_public_key()}))

    assert "NSML already holds a key titled “laptop”" in said
    assert said in key_page(member_client, RegisteredKey.objects.get())


def test_the_reason_is_in_korean_on_a_korean_page(member_client, nsml, new_public_key):
    nsml.set_faults(Faults(fail_status=429, fail_code="420"))
    member_client.post(NEW, {"title": "laptop", "key": new_public_key()})

    page = key_page(member_client, RegisteredKey.objects.get(), "ko")

    assert "NSML is busy" not in page
    assert "NSML" in page and "이 키를 제출했을 때 NSML에 요청이 많아" in page and "다시 추가할 수 있습니다" in page


def test_a_key_the_reconciler_found_missing_says_so(member_client, nsml, new_public_key, settings):
    nsml.set_faults(Faults(drop=True))  # the create and the lookup that should settle it are both lost
    member_client.post(NEW, {"title": "laptop", "key": new_public_key()})
    key = RegisteredKey.objects.get()
    assert key.status == "pending"
    nsml.set_faults(Faults())
    settings.NSML_PENDING_GRACE_SECONDS = 0
    RegisteredKey.objects.filter(pk=key.pk).update(status_changed_at=timezone.now() - timedelta(minutes=1))

    nsml_sync("--apply")

    page = key_page(member_client, key)
    assert "NSML never confirmed this key, and a later check found that NSML does not hold it" in page
    assert "이후 확인해 보니 NSML에 이 키가 없으므로" in key_page(member_client, key, "ko")
