"""A key's expiry on the add-key form and on its page: the default, the allowed range, the end of the day in
TIME_ZONE, and a member shortening (not lengthening past the maximum) their own key's lifetime."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from keys.audit import Origin
from keys.models import AuditEvent, RegisteredKey
from keys.services import change_expiry
from keys.services.lifetimes import local_today
from nsml.simulator import Faults

pytestmark = pytest.mark.django_db

NEW = reverse("keys:new")
SEOUL = ZoneInfo("Asia/Seoul")


def day(offset: int) -> str:
    return (local_today() + dt.timedelta(days=offset)).isoformat()


def submit(client, key_line: str, expires_at: str, title: str = "laptop"):
    return client.post(NEW, {"title": title, "key": key_line, "expires_at": expires_at})


def test_the_form_offers_today_plus_the_default_lifetime(member_client):
    page = member_client.get(NEW).content.decode()

    assert f'name="expires_at" value="{day(90)}"' in page
    assert f'min="{day(0)}"' in page and f'max="{day(365)}"' in page
    assert "At most 365 days from today" in page


def test_it_follows_the_lifetime_settings(member_client, settings):
    settings.KEYS_DEFAULT_LIFETIME_DAYS, settings.KEYS_MAX_LIFETIME_DAYS = 30, 60

    page = member_client.get(NEW).content.decode()

    assert f'value="{day(30)}"' in page and f'max="{day(60)}"' in page


def test_a_key_expires_at_the_end_of_its_day_in_seoul(member_client, member, nsml, new_public_key):
    submit(member_client, new_public_key(), day(10))

    key = RegisteredKey.objects.get(owner=member)
    assert key.is_active
    local = key.expires_at.astimezone(SEOUL)
    assert local.date().isoformat() == day(10)
    assert (local.hour, local.minute, local.second, local.microsecond) == (23, 59, 59, 999999)


@pytest.mark.parametrize(
    ("chosen", "code"),
    [
        (day(-1), "expiry_past"),
        (day(366), "expiry_too_late"),
        ("", "expiry_required"),
        ("31/12/2026", "expiry_invalid"),
    ],
)
def test_a_date_out_of_range_is_refused_naming_the_range(member_client, nsml, new_public_key, event, chosen, code):
    response = submit(member_client, new_public_key(), chosen)

    page = response.content.decode()
    assert response.status_code == 200
    assert f"Choose an expiry date from {day(0)} to {day(365)}." in page
    assert 'id="id_expires_at_error"' in page
    assert not RegisteredKey.objects.exists()
    assert nsml.requests_seen == []
    assert event(action="register").reason == code


def test_today_and_the_last_day_are_allowed(member_client, member, nsml, new_public_key):
    submit(member_client, new_public_key(), day(0), title="today")
    submit(member_client, new_public_key(), day(365), title="last")

    assert RegisteredKey.objects.filter(owner=member, status="active").count() == 2


def test_with_no_maximum_an_empty_date_means_never(member_client, member, nsml, new_public_key, settings):
    settings.KEYS_MAX_LIFETIME_DAYS = 0

    page = member_client.get(NEW).content.decode()
    submit(member_client, new_public_key(), "")

    assert "Leave it empty: never" in page and 'max="' not in page
    key = RegisteredKey.objects.get(owner=member)
    assert key.is_active and key.expires_at is None


def test_with_no_maximum_a_past_date_is_still_refused(member_client, nsml, new_public_key, settings):
    settings.KEYS_MAX_LIFETIME_DAYS = 0

    page = submit(member_client, new_public_key(), day(-3)).content.decode()

    assert f"Choose an expiry date from {day(0)} on, or leave it empty for a key that never expires." in page


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Seoul"])
def test_with_no_maximum_the_last_day_of_9999_is_refused_not_a_server_error(
    member_client, member, nsml, new_public_key, settings, zone
):
    # The end of 9999-12-31 west of Greenwich is in the year 10000, past any moment the database can hold.
    settings.KEYS_MAX_LIFETIME_DAYS, settings.TIME_ZONE = 0, zone

    response = submit(member_client, new_public_key(), "9999-12-31")
    submit(member_client, new_public_key(), "9999-12-30", title="far")

    assert response.status_code == 200
    assert f"Choose an expiry date from {day(0)} to 9999-12-30." in response.content.decode()
    assert list(RegisteredKey.objects.values_list("title", flat=True)) == ["far"]


def test_a_private_key_still_wins_over_a_bad_date(member_client, nsml):
    from tests.helpers import generate_private_key, private_text

    page = submit(member_client, private_text(generate_private_key()), "not a date").content.decode()

    assert "This is your private key" in page
    assert "PRIVATE KEY" not in page.split("<textarea", 1)[1].split("</textarea>", 1)[0]


def test_a_submission_without_the_field_gets_the_default_lifetime(member, nsml, new_public_key):
    from keys.audit import Origin
    from keys.services import register_key

    key = register_key(owner=member, title="laptop", key_text=new_public_key(), origin=Origin())

    assert key.expires_at.astimezone(SEOUL).date().isoformat() == day(90)


def test_a_member_shortens_their_key(member_client, member, nsml, register, event):
    key = register(member)

    response = member_client.post(reverse("keys:expiry", args=[key.pk]), {"expires_at": day(5)}, follow=True)

    key.refresh_from_db()
    assert key.expires_at.astimezone(SEOUL).date().isoformat() == day(5)
    assert f"now expires at the end of {day(5)}" in response.content.decode()
    row = event(action=AuditEvent.Action.SET_EXPIRY)
    assert (row.actor, row.registered_key, row.detail) == (member, key, f"expiry {day(90)} -> {day(5)}")


def test_a_member_cannot_lengthen_past_the_maximum(member_client, member, nsml, register):
    key = register(member)

    response = member_client.post(reverse("keys:expiry", args=[key.pk]), {"expires_at": day(400)})

    assert response.status_code == 400
    assert f"Choose an expiry date from {day(0)} to {day(365)}." in response.content.decode()
    key.refresh_from_db()
    assert key.expires_at.astimezone(SEOUL).date().isoformat() == day(90)


def test_a_member_cannot_change_another_members_key(client, other_member, member, nsml, register):
    key = register(member)
    client.force_login(other_member)

    response = client.post(reverse("keys:expiry", args=[key.pk]), {"expires_at": day(1)})

    assert response.status_code == 404
    key.refresh_from_db()
    assert key.expires_at.astimezone(SEOUL).date().isoformat() == day(90)


def test_switching_language_after_a_refused_expiry_shows_the_keys_page(member_client, member, nsml, register):
    """Found in a browser pass: a refused expiry is shown at /keys/<id>/expiry/, a POST-only address. The
    language switch (and a reload from the address bar) then asked for it with a GET, and the member got
    the browser's bare "HTTP ERROR 405" page."""
    key = register(member)
    expiry = reverse("keys:expiry", args=[key.pk])
    refused = member_client.post(expiry, {"expires_at": day(400)})
    assert refused.status_code == 400

    response = member_client.post(reverse("set_language"), {"language": "ko", "next": expiry}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("keys:detail", args=[key.pk])
    assert '<html lang="ko">' in response.content.decode()


def test_the_expiry_address_does_not_show_another_members_key(client, other_member, member, nsml, register):
    key = register(member)
    client.force_login(other_member)

    assert client.get(reverse("keys:expiry", args=[key.pk])).status_code == 404


def test_a_key_being_revoked_offers_no_expiry_change(member_client, member, nsml, register, settings):
    """Found in a browser: a key NSML had not yet confirmed gone still offered "Change this key's expiry"."""
    settings.NSML_TIMEOUT = 1.0
    key = register(member)
    nsml.set_faults(Faults(fail_status=503, fail_methods=frozenset({"DELETE"})))
    member_client.post(reverse("keys:revoke", args=[key.pk]))
    key.refresh_from_db()
    assert key.status == "revoking"
    before = key.expires_at

    page = member_client.get(reverse("keys:detail", args=[key.pk])).content.decode()
    refused = member_client.post(reverse("keys:expiry", args=[key.pk]), {"expires_at": day(5)}, follow=True)

    assert reverse("keys:expiry", args=[key.pk]) not in page
    assert "can no longer change: the key is revoked or being revoked" in refused.content.decode()
    assert reverse("keys:expiry", args=[key.pk]) not in refused.content.decode()
    key.refresh_from_db()
    assert key.expires_at == before
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.SET_EXPIRY).exists()


def test_an_expiry_change_on_a_key_the_job_moved_on_meanwhile_is_refused(member, nsml, register):
    """Read in the code after a race with the expiry job: the change updated the row whatever its state, so
    a set_expiry row could land after the key's revocation had begun."""
    key = register(member)
    RegisteredKey.objects.filter(pk=key.pk).update(status="revoking")  # the job, between the page and the save
    before = RegisteredKey.objects.get(pk=key.pk).expires_at

    with pytest.raises(ValidationError) as refused:
        change_expiry(key=key, value=day(5), actor=member, origin=Origin.command("test"))

    assert refused.value.code == "expiry_fixed"
    assert RegisteredKey.objects.get(pk=key.pk).expires_at == before
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.SET_EXPIRY).exists()


@pytest.mark.parametrize("status", ["revoking", "revoked", "failed"])
def test_the_key_list_and_the_keys_page_agree_on_a_key_past_its_expiry_mattering(
    member_client, member, nsml, register, status
):
    """Found in a browser: a key being revoked showed "–" under Expires on /keys/ but "in 90 days" and a date
    on its own page, which also contradicted its state (the portal is taking it away now, not then)."""
    key = register(member)
    RegisteredKey.objects.filter(pk=key.pk).update(status=status)
    exact = key.expires_at.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M:%S")

    listed = member_client.get(reverse("keys:list")).content.decode()
    own = member_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    for page in (listed, own):
        assert "in 90 days" not in page and exact not in page and 'class="expiry' not in page


def test_the_key_list_and_the_keys_page_both_show_a_pending_keys_expiry(member_client, member, nsml, register):
    key = register(member)
    RegisteredKey.objects.filter(pk=key.pk).update(status="pending")

    listed = member_client.get(reverse("keys:list")).content.decode()
    own = member_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    assert "in 90 days" in listed and "in 90 days" in own


def test_an_expiry_change_that_loses_a_race_with_a_revocation_says_so_on_the_keys_page(
    member_client, member, nsml, register
):
    """Read in the view: when the key was revoked between the view reading it and the save (the expiry job,
    or Revoke in another tab), the refusal had no field, the page showed only the field's errors, and the
    member got the key's page, answered 400, saying nothing, the key still "Active" with its expiry form."""
    key = register(member)
    before = key.expires_at

    def revoked_just_before_the_save(execute, sql, params, many, context):
        if 'UPDATE "keys_registeredkey"' in sql and "expires_at" in sql:  # PostgreSQL's is inside a WITH
            RegisteredKey.objects.filter(pk=key.pk).update(status="revoking")  # another request, committed first
        return execute(sql, params, many, context)

    with connection.execute_wrapper(revoked_just_before_the_save):
        response = member_client.post(reverse("keys:expiry", args=[key.pk]), {"expires_at": day(5)}, follow=True)

    page = response.content.decode()
    assert response.status_code == 200
    assert "can no longer change: the key is revoked or being revoked" in page
    assert '<span class="status revoking">Being revoked</span>' in page
    assert reverse("keys:expiry", args=[key.pk]) not in page
    assert RegisteredKey.objects.get(pk=key.pk).expires_at == before


def test_the_keys_page_leaves_the_date_to_the_portal_in_its_language(member_client, member, nsml, register):
    """Found in a browser set to English with the portal in Korean: a day out of the date box's min and max was
    refused by the browser's own bubble, in English. The form has novalidate (as the add-key form), keeps min and
    max for the date picker, and the portal names the range itself, in Korean."""
    key = register(member)
    member_client.cookies["django_language"] = "ko"
    page = member_client.get(reverse("keys:detail", args=[key.pk])).content.decode()
    assert " novalidate" in re.search(r'<form[^>]*class="card expiry-form"[^>]*>', page).group(0)
    assert f'min="{day(0)}"' in re.search(r'<input type="date" name="expires_at"[^>]*>', page).group(0)

    refused = member_client.post(reverse("keys:expiry", args=[key.pk]), {"expires_at": day(-1)})

    assert "만료일은" in str(refused.context["expiry_form"].errors)
