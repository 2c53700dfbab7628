"""A key's page while NSML cannot be reached: after a couple of minutes it stops saying "in a minute" and says
since when the portal has not been able to check, in the member's language."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from keys.models import ReconcilePass, RegisteredKey
from nsml.simulator import Faults
from tests.helpers import nsml_sync

pytestmark = pytest.mark.django_db

QUIET = "has not been able to check with NSML since"
USUAL = "reload this page in a minute"


def pending_key(member_client, nsml, new_public_key) -> RegisteredKey:
    nsml.set_faults(Faults(drop=True))  # NSML gone: no answer to the POST, nor to the lookup after it
    member_client.post(reverse("keys:new"), {"title": "kim-laptop", "key": new_public_key()})
    key = RegisteredKey.objects.get()
    assert key.status == RegisteredKey.Status.PENDING
    return key


def minutes_pass(key: RegisteredKey, minutes: int) -> None:
    # The key started waiting that long ago, and no pass has reached NSML since (the failed ones do not count).
    key.refresh_from_db()
    RegisteredKey.objects.filter(pk=key.pk).update(status_changed_at=key.status_changed_at - timedelta(minutes=minutes))


def page_of(member_client, key, **headers) -> str:
    return member_client.get(reverse("keys:detail", args=[key.pk]), **headers).content.decode()


def test_a_key_waiting_on_an_unreachable_nsml_says_since_when(member_client, nsml, new_public_key):
    last_reached = timezone.now() - timedelta(minutes=30)
    ReconcilePass.objects.create(started_at=last_reached, finished_at=last_reached, succeeded=True)
    key = pending_key(member_client, nsml, new_public_key)
    assert nsml_sync("--apply")[0] != 0  # the reconciler cannot list NSML either
    assert USUAL in page_of(member_client, key)  # at first, the usual short wait

    minutes_pass(key, 5)

    page = page_of(member_client, key)
    assert QUIET in page and USUAL not in page
    assert timezone.localtime(last_reached).strftime("%Y-%m-%d %H:%M") in page
    assert "there is no need to send anything again" in page
    korean = page_of(member_client, key, HTTP_ACCEPT_LANGUAGE="ko")
    assert "이후로 NSML에 확인하지 못하고 있어" in korean


def test_a_key_being_revoked_while_nsml_is_unreachable_says_so_too(member_client, member, nsml, register):
    key = register(member, "kim-laptop")
    nsml.set_faults(Faults(drop=True))
    member_client.post(reverse("keys:revoke", args=[key.pk]))
    key.refresh_from_db()
    assert key.status == RegisteredKey.Status.REVOKING

    minutes_pass(key, 5)

    assert QUIET in page_of(member_client, key)


def test_once_a_pass_reaches_nsml_the_page_tells_the_result(member_client, nsml, new_public_key):
    key = pending_key(member_client, nsml, new_public_key)
    minutes_pass(key, 5)
    assert QUIET in page_of(member_client, key)

    nsml.set_faults(Faults())
    nsml_sync("--apply")

    page = page_of(member_client, key)
    key.refresh_from_db()
    assert key.status == RegisteredKey.Status.FAILED  # NSML never got it: the page says so, and to add it again
    assert QUIET not in page and "You can add it again" in page


def test_my_keys_says_it_above_the_list_too(member_client, nsml, new_public_key):
    key = pending_key(member_client, nsml, new_public_key)
    listed = member_client.get(reverse("keys:list")).content.decode()
    assert QUIET not in listed

    minutes_pass(key, 5)

    listed = member_client.get(reverse("keys:list")).content.decode()
    assert "has not been able to check with NSML since" in listed
    assert "확인하지 못하고 있어" in member_client.get(reverse("keys:list"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
