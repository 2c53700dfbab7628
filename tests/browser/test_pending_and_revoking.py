"""What a member sees while NSML's answer is unknown: a submission checking with NSML until a reconcile
pass settles it, a revoke button that sends once, and a key left being revoked."""

from __future__ import annotations

import re
import time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from keys.models import AuditEvent, RegisteredKey
from nsml.simulator import Faults
from tests.helpers import generate_private_key, nsml_sync, public_line

pytestmark = pytest.mark.browser


def switch_to(page, code: str) -> None:
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/i18n/setlang/")) as answer:
        page.locator(f'header button[name="language"][value="{code}"]').click()
    assert answer.value.status == 302
    expect(page.locator("html")).to_have_attribute("lang", code)


# Watches the revoke form: on submit, notes the button's state (in sessionStorage, which outlives the
# page) and submits once more, as an impatient second click would; the page must ignore that one.
WATCH_SECOND_SUBMIT = """() => {
  const form = document.querySelector("form[data-busy-form]");
  const button = form.querySelector("button[type=submit]");
  let tried = false;
  form.addEventListener("submit", () => {
    const state = {disabled: button.disabled, label: button.textContent.trim(), busy: form.getAttribute("aria-busy")};
    sessionStorage.setItem("busy-state", JSON.stringify(state));
    if (!tried) {
      tried = true;
      setTimeout(() => form.requestSubmit(), 100);
    }
  });
}"""


def deletes_seen(nsml) -> int:
    return sum(1 for method, _ in nsml.requests_seen if method == "DELETE")


def test_a_submission_nsml_did_not_answer_shows_checking_until_a_pass_settles_it(
    page, log_in, browser_member, nsml, settings, check_page
):
    settings.NSML_TIMEOUT = 1.0
    log_in(page)
    # NSML stores the key, then the connection closes; the lookup that should settle it is lost too.
    nsml.set_faults(Faults(fault_rate=1.0, fault_kinds=("drop-after",), seed=1))
    page.goto("/keys/new/")
    page.get_by_label("Title", exact=True).fill("kim-minsu-laptop")
    page.get_by_label("Public key", exact=True).fill(public_line(generate_private_key()))
    page.get_by_role("button", name="Register key").click()

    page.wait_for_url(re.compile(r"/keys/\d+/$"), timeout=10_000)
    expect(page.locator(".status.pending")).to_have_text("Checking with NSML")
    expect(page.get_by_role("status").filter(has_text="There is no need to submit it again")).to_be_visible()
    expect(page.get_by_label("Public key")).to_have_count(0)  # no form to submit it again
    expect(page.get_by_role("button", name="Register key")).to_have_count(0)
    expect(page.get_by_role("link", name="Revoke")).to_have_count(0)
    check_page(page, "key-pending")
    key = RegisteredKey.objects.get()
    assert key.status == RegisteredKey.Status.PENDING

    nsml.set_faults(Faults())
    status, out = nsml_sync("--apply")
    assert "now active: kim-minsu-laptop" in out, out

    page.reload()
    expect(page.locator(".status.active")).to_have_text("Active")
    expect(page.get_by_text("Checking with NSML")).to_have_count(0)
    expect(page.get_by_role("link", name="Revoke")).to_be_visible()
    check_page(page, "key-pending-settled")


def test_a_pending_key_renders_in_korean(page, log_in, browser_member, nsml, settings, check_page):
    settings.NSML_TIMEOUT = 1.0
    log_in(page)
    nsml.set_faults(Faults(drop=True))
    page.goto("/keys/new/")
    page.get_by_label("Title", exact=True).fill("kim-minsu-laptop")
    page.get_by_label("Public key", exact=True).fill(public_line(generate_private_key()))
    page.get_by_role("button", name="Register key").click()
    page.wait_for_url(re.compile(r"/keys/\d+/$"), timeout=10_000)
    key = RegisteredKey.objects.get()
    assert key.status == RegisteredKey.Status.PENDING

    switch_to(page, "ko")

    expect(page.locator(".status.pending")).to_be_visible()
    expect(page.get_by_role("link", name="Revoke")).to_have_count(0)
    check_page(page, "key-pending")
    page.goto("/keys/")
    expect(page.locator(".status.pending")).to_be_visible()
    check_page(page, "keys-list-pending")


def test_the_revoke_button_sends_once(page, log_in, register, browser_member, nsml, check_page, settings):
    # Time for both calls: the confirming list gets what the DELETE left of NSML_TIMEOUT (keys.upstream).
    settings.NSML_TIMEOUT = 5.0
    key = register(browser_member, "kim-minsu-laptop")
    log_in(page)
    page.goto(f"/keys/{key.pk}/revoke/")
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    nsml.set_faults(Faults(latency=1.0))  # the DELETE and the confirming list take a second each

    page.evaluate(WATCH_SECOND_SUBMIT)

    page.get_by_role("button", name="Revoke").click()

    page.wait_for_url(f"**/keys/{key.pk}/", timeout=10_000)
    expect(page.get_by_role("status").filter(has_text="is revoked")).to_be_visible()
    check_page(page, "key-revoked")

    state = page.evaluate("JSON.parse(sessionStorage.getItem('busy-state'))")
    assert state == {"disabled": True, "label": "Revoking…", "busy": "true"}
    assert [url for url in posts if url.endswith(f"/keys/{key.pk}/revoke/")] == [posts[0]]
    assert deletes_seen(nsml) == 1
    assert nsml.held_keys() == []


def test_my_keys_shows_a_key_left_being_revoked(page, log_in, register, browser_member, nsml, check_page):
    key = register(browser_member, "kim-minsu-laptop")
    log_in(page)
    nsml.set_faults(Faults(drop=True, fail_methods=frozenset({"DELETE"})))
    page.goto(f"/keys/{key.pk}/revoke/")
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_url(f"**/keys/{key.pk}/", timeout=10_000)
    expect(page.get_by_role("status").filter(has_text="has not confirmed yet")).to_be_visible()
    key.refresh_from_db()
    assert key.status == RegisteredKey.Status.REVOKING
    since = key.status_changed_at

    page.get_by_role("link", name="Back to my keys").click()

    page.wait_for_url("**/keys/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="kim-minsu-laptop"))
    expect(row.locator(".status.revoking")).to_have_text("Being revoked")
    expect(row).to_contain_text(f"since {timezone.localtime(since):%Y-%m-%d %H:%M:%S}")
    check_page(page, "keys-list-revoking")

    switch_to(page, "ko")

    expect(row.locator(".status.revoking")).to_be_visible()
    check_page(page, "keys-list-revoking")


def test_a_submission_a_pass_settles_while_nsml_answers_reads_registered(page, log_in, browser_member, nsml):
    """Found in the browser with a slow NSML: a reconcile pass found the member's key in NSML while their
    request still waited for NSML's answer, and activated it; the request came back to "NSML has not
    confirmed the registration yet" above the status *Active*, and the audit added "not settled yet"."""
    log_in(page)
    nsml.set_faults(Faults(slow_commit=3.0))  # NSML holds the key at once, and answers 201 3 s later
    page.goto("/keys/new/")
    page.get_by_label("Title", exact=True).fill("kim-minsu-laptop")
    page.get_by_label("Public key", exact=True).fill(public_line(generate_private_key()))
    page.get_by_role("button", name="Register key").click(no_wait_after=True)
    deadline = time.monotonic() + 5
    while not nsml.held_keys():
        assert time.monotonic() < deadline, "the member's key never reached NSML"
        page.wait_for_timeout(20)
    nsml_sync("--apply")  # the pass, while the member's request waits for NSML's 201

    page.wait_for_url(re.compile(r"/keys/\d+/$"), timeout=10_000)
    expect(page.locator(".status.active")).to_have_text("Active")
    expect(page.get_by_text("Your key “kim-minsu-laptop” is registered with NSML.")).to_be_visible()
    expect(page.get_by_text("has not confirmed")).to_have_count(0)
    rows = AuditEvent.objects.filter(registered_key=RegisteredKey.objects.get(), action="register")
    assert [(row.outcome, row.reason) for row in rows] == [("success", "found_upstream")]
