"""nsml_sync compares NSML with the portal, reports drift in a table, and repairs it with --apply."""

from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from keys import services
from keys.audit import Origin
from keys.management.commands.nsml_sync import EXIT_STATUS, USAGE_STATUS
from keys.models import AuditEvent, RegisteredKey, UnmanagedKey
from keys.services import RegistrationFailed, register_key
from nsml.simulator import Faults
from tests.helpers import (
    command_help,
    delete_answered_then_refused,
    free_port,
    nsml_sync,
    readme_command_row,
    shell_in_fresh_process,
)
from tests.live_portal import manage, portal_database, portal_env

pytestmark = pytest.mark.django_db


def sync(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("nsml_sync", *args, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


def test_it_reports_no_drift_when_nsml_and_the_portal_agree(member, nsml, register):
    register(member)

    status, out = sync()

    assert status == 0
    assert "In sync" in out


def test_it_reports_unmanaged_and_missing_keys(member, nsml, register, new_public_key):
    kept = register(member, "kept")
    gone = register(member, "gone")
    nsml.remove_key("gone", gone.nsml_name)
    console = nsml.add_key("console-key", new_public_key())

    status, out = sync()

    assert status == 1
    lines = out.splitlines()
    assert any(line.startswith("unmanaged") and "console-key" in line and console["name"] in line for line in lines)
    assert any(line.startswith("missing") and "gone" in line and "alice" in line for line in lines)
    assert not any("kept" in line for line in lines)
    assert "Drift found: 1 unmanaged, 1 missing." in out
    # Reporting changes nothing.
    gone.refresh_from_db()
    assert gone.is_active and kept.is_active
    assert not UnmanagedKey.objects.exists()


def test_a_report_names_the_active_keys_of_deactivated_members_that_a_pass_would_revoke(
    member, nsml, register, django_user_model
):
    """Found in QA: a pass revokes the active keys of members deactivated without it (a queryset update, a
    directory sync), but the report without --apply said "In sync" about them."""
    key = register(member, "alice-laptop")
    django_user_model.objects.filter(pk=member.pk).update(is_active=False)  # no signal: the keys stay active

    status, out = sync()

    assert status == 1
    assert any(line.startswith("departed") and "alice-laptop" in line and "alice" in line for line in out.splitlines())
    assert "1 active for a deactivated member (a pass revokes them)" in out
    key.refresh_from_db()
    assert key.is_active and len(nsml.held_keys()) == 1  # reporting changes nothing
    status, _out = sync("--apply")
    assert status == 1 and nsml.held_keys() == []
    status, out = sync()
    assert (status, "In sync" in out) == (0, True)


def test_a_report_does_not_call_keys_still_pending_or_being_revoked_in_sync(member, nsml, register, new_public_key):
    """Found in fault QA: NSML stored a submission whose answer and lookup were both lost, so the key stayed
    pending, and a revocation's DELETE was dropped, so that key stayed being revoked; the report without --apply
    said "In sync: NSML and the portal hold the same keys." while the member's list showed *Checking with NSML* and
    *Being revoked*, and the pass right after it activated and revoked them."""
    revoking = register(member, "old-laptop")
    nsml.set_faults(Faults(drop=True, fail_methods=frozenset({"DELETE"})))
    services.revoke_key(key=revoking, actor=member, origin=Origin(ip="10.0.0.7"))
    nsml.set_faults(Faults(fault_rate=1.0, fault_kinds=("drop-after",)))  # NSML stores it; the lookup is lost too
    pending = register_key(owner=member, title="laptop", key_text=new_public_key(), origin=Origin(ip="10.0.0.7"))
    nsml.set_faults(Faults())
    assert (pending.status, RegisteredKey.objects.get(pk=revoking.pk).status) == ("pending", "revoking")

    status, out = sync()

    assert status == 0  # nothing to repair, as a pass that leaves keys unsettled says
    assert "In sync" not in out
    assert "Not settled yet: 2 key(s) pending or being revoked; a pass (nsml_sync --apply) settles them." in out
    assert RegisteredKey.objects.get(pk=pending.pk).status == "pending"  # reporting changes nothing
    sync("--apply")
    assert RegisteredKey.objects.get(pk=pending.pk).status == "active"
    assert RegisteredKey.objects.get(pk=revoking.pk).status == "revoked"
    status, out = sync()
    assert (status, "In sync" in out) == (0, True)


def test_a_report_with_drift_counts_the_keys_still_pending_too(member, nsml, new_public_key):
    nsml.set_faults(Faults(fault_rate=1.0, fault_kinds=("drop-after",)))
    register_key(owner=member, title="laptop", key_text=new_public_key(), origin=Origin(ip="10.0.0.7"))
    nsml.set_faults(Faults())
    nsml.add_key("console-key", new_public_key())

    status, out = sync()

    assert status == 1
    assert "Not settled yet: 1 key(s) pending or being revoked" in out
    assert "Drift found: 1 unmanaged, 0 missing." in out


def test_apply_repairs_drift_and_is_idempotent(member, nsml, register, new_public_key):
    gone = register(member, "gone")
    nsml.remove_key("gone", gone.nsml_name)
    nsml.add_key("console-key", new_public_key())

    first, _ = sync("--apply")
    second, out = sync("--apply")

    gone.refresh_from_db()
    assert (first, second) == (1, 1)  # the unmanaged key is still drift until an admin acts
    assert gone.status == RegisteredKey.Status.REVOKED
    assert not any(line.startswith("missing") for line in out.splitlines())
    record = UnmanagedKey.objects.get()
    assert (record.title, record.status) == ("console-key", "open")
    events = AuditEvent.objects.exclude(action__in=["register", "user_create"])
    assert sorted((event.action, event.reason) for event in events) == [
        ("drift", "unmanaged"),
        ("revoke", "missing_upstream"),
    ]
    assert all(event.actor_username == "manage.py nsml_sync" for event in events)


def test_an_admin_revokes_an_unmanaged_key(admin_client, admin_user, nsml, new_public_key, event):
    nsml.add_key("console-key", new_public_key())
    sync("--apply")
    record = UnmanagedKey.objects.get()

    selection = {"action": "revoke_selected", "_selected_action": [record.pk]}

    confirmation = admin_client.post(reverse("admin:keys_unmanagedkey_changelist"), selection)
    assert nsml.held_keys() != []  # nothing is revoked before the admin confirms, with a reason
    page = confirmation.content.decode()
    assert "console-key" in page and 'name="reason"' in page
    admin_client.post(reverse("admin:keys_unmanagedkey_changelist"), {**selection, "post": "yes", "reason": "not ours"})

    assert nsml.held_keys() == []
    record.refresh_from_db()
    assert record.status == "revoked"
    assert sync()[0] == 0
    row = event(action="revoke")
    assert (row.actor, row.reason, row.detail) == (admin_user, "unmanaged", "reason given: not ours")


def test_many_unmanaged_keys_nsml_will_not_revoke_are_a_page_of_messages_and_a_count(
    admin_client, nsml, new_public_key
):
    """As for members' keys: NSML refusing every DELETE was one message per key. The first 20 keep theirs."""
    for number in range(25):
        nsml.add_key(f"console-key-{number:02d}", new_public_key())
    sync("--apply")
    nsml.set_faults(Faults(fail_status=403, fail_methods={"DELETE"}))
    selection = {
        "action": "revoke_selected",
        "_selected_action": list(UnmanagedKey.objects.values_list("pk", flat=True)),
        "post": "yes",
        "reason": "not ours",
    }

    response = admin_client.post(reverse("admin:keys_unmanagedkey_changelist"), selection, follow=True)

    messages = [str(message) for message in response.context["messages"]]
    assert len(messages) == 21, messages
    assert messages[-1] == "5 more keys were not revoked; the audit log lists each."
    assert len(nsml.held_keys()) == 25


def test_an_unmanaged_key_is_not_revoked_without_a_reason(admin_client, nsml, new_public_key):
    """Found in the admin: the unmanaged keys' revoke ran at once, without the confirmation and the reason
    the same action asks for on members' keys."""
    nsml.add_key("console-key", new_public_key())
    sync("--apply")
    record = UnmanagedKey.objects.get()

    page = admin_client.post(
        reverse("admin:keys_unmanagedkey_changelist"),
        {"action": "revoke_selected", "_selected_action": [record.pk], "post": "yes", "reason": ""},
    ).content.decode()

    assert "This field is required." in page
    assert [held["title"] for held in nsml.held_keys()] == ["console-key"]


def _revoke_unmanaged(admin_client, record) -> str:
    """The admin's revoke action on one unmanaged key, confirmed with a reason: the messages page it ends on."""
    selection = {"action": "revoke_selected", "_selected_action": [record.pk], "post": "yes", "reason": "not ours"}
    return admin_client.post(reverse("admin:keys_unmanagedkey_changelist"), selection, follow=True).content.decode()


def test_an_unmanaged_key_nsml_deleted_without_answering_in_time_is_not_called_still_active(
    admin_client, nsml, new_public_key, event
):
    """Found in the admin against a slow NSML: the DELETE ran out of time while NSML went on to delete the key,
    and the admin read "the key is still active", which was false."""
    nsml.add_key("console-key", new_public_key())
    sync("--apply")
    record = UnmanagedKey.objects.get()
    nsml.set_faults(Faults(latency=2.5))  # past the tests' NSML_TIMEOUT (2 s); NSML deletes it after 2.5 s

    page = _revoke_unmanaged(admin_client, record)

    assert "still active" not in page
    assert "NSML did not confirm that the key is revoked; it may be gone already." in page
    row = event(action="revoke")
    assert (row.outcome, row.reason) == ("unknown", "unconfirmed")
    nsml.set_faults(Faults())
    assert nsml.held_keys() == []
    sync("--apply")
    record.refresh_from_db()
    assert record.status == "gone"


def test_an_unmanaged_key_is_revoked_when_nsml_answers_503_but_no_longer_lists_it(
    admin_client, nsml, new_public_key, event
):
    held = nsml.add_key("console-key", new_public_key())
    sync("--apply")
    record = UnmanagedKey.objects.get()
    nsml.remove_key("console-key", held["name"])  # gone already (another console, an earlier DELETE)
    nsml.set_faults(Faults(fail_status=503, fail_methods={"DELETE"}))

    page = _revoke_unmanaged(admin_client, record)

    assert "1 key revoked." in page and "still active" not in page
    record.refresh_from_db()
    assert record.status == "revoked"
    assert (event(action="revoke").outcome, event(action="revoke").reason) == ("success", "unmanaged")


def test_an_unmanaged_key_deleted_by_a_delete_whose_answer_was_lost_is_not_called_still_active(
    admin_client, nsml, new_public_key, event
):
    """As for a member's key: NSML deleted it and the answer was lost, the gateway throttled both retries, and the
    admin read "NSML is busy right now, so the key is still active" about a key NSML no longer held."""
    nsml.add_key("console-key", new_public_key())
    sync("--apply")
    record = UnmanagedKey.objects.get()
    nsml.set_faults(delete_answered_then_refused())

    page = _revoke_unmanaged(admin_client, record)

    assert nsml.held_keys() == []
    assert "1 key revoked." in page and "still active" not in page
    record.refresh_from_db()
    assert record.status == "revoked"


def test_an_unmanaged_key_nsml_still_lists_after_a_503_is_still_active(admin_client, nsml, new_public_key):
    nsml.add_key("console-key", new_public_key())
    sync("--apply")
    record = UnmanagedKey.objects.get()
    nsml.set_faults(Faults(fail_status=503, fail_methods={"DELETE"}))

    page = _revoke_unmanaged(admin_client, record)

    assert "so it is still active" in page
    record.refresh_from_db()
    assert record.status == "open"
    assert [key["title"] for key in nsml.held_keys()] == ["console-key"]


def test_an_admin_assigns_an_unmanaged_key_to_a_member(admin_client, admin_user, member, nsml, new_public_key, event):
    nsml.add_key("console-key", new_public_key())
    sync("--apply")
    record = UnmanagedKey.objects.get()

    response = admin_client.post(
        reverse("admin:keys_unmanagedkey_change", args=[record.pk]), {"assigned_to": member.pk}
    )

    assert response.status_code == 302
    record.refresh_from_db()
    assert record.assigned_to == member
    row = event(action="assign")
    assert (row.actor, row.subject) == (admin_user, member)


def test_a_refused_assignment_stays_on_the_page_and_says_only_why(
    admin_client, member, other_member, nsml, register, new_public_key
):
    """Found in the admin: assigning an unmanaged key whose title a member's key now holds showed the
    refusal and, beside it, "The unmanaged key ... was changed successfully", with a history line."""
    held = nsml.add_key("console-key", new_public_key())
    sync("--apply")
    record = UnmanagedKey.objects.get()
    nsml.remove_key("console-key", held["name"])
    register(member, "console-key")  # the list the admin looks at has not been refreshed since
    change = reverse("admin:keys_unmanagedkey_change", args=[record.pk])

    response = admin_client.post(change, {"assigned_to": other_member.pk})

    assert response.status_code == 200  # the change page again, with the refusal on the field
    page = response.content.decode()
    assert "A key of the portal already has this title or this key, so it cannot be assigned." in page
    assert "changed successfully" not in page
    record.refresh_from_db()
    assert (record.status, record.assigned_to) == ("open", None)
    assert not RegisteredKey.objects.filter(owner=other_member).exists()
    history = admin_client.get(reverse("admin:keys_unmanagedkey_history", args=[record.pk])).content.decode()
    assert "Changed" not in history


def test_an_unmanaged_key_is_not_assigned_to_a_deactivated_member(admin_client, member, nsml, new_public_key):
    """Found in the Korean admin: the owner box suggested offboarded users too, and choosing one made the key
    NSML holds their *active* key, which nobody could use or revoke from the member's side, while offboarding
    promises that a deactivated user holds no working key."""
    nsml.add_key("console-key", new_public_key())
    sync("--apply")
    record = UnmanagedKey.objects.get()
    member.is_active = False
    member.save()
    change = reverse("admin:keys_unmanagedkey_change", args=[record.pk])

    response = admin_client.post(change, {"assigned_to": member.pk}, headers={"Accept-Language": "ko"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "alice 계정은 비활성화되어 키를 가질 수 없습니다." in page
    record.refresh_from_db()
    assert (record.status, record.assigned_to) == ("open", None)
    assert not RegisteredKey.objects.exists()


def test_an_unmanaged_key_is_not_assigned_to_a_member_offboarded_while_the_admin_assigned_it(
    admin_user, member, nsml, new_public_key
):
    """Found reviewing c35d111: the deactivated-member check read the member as the admin's form had loaded
    them, outside the assignment's transaction. Another admin's offboarding committed in between (its
    revocations already done) left the key NSML holds active for a deactivated user, which offboarding
    promises never happens."""
    nsml.add_key("console-key", new_public_key())
    sync("--apply")
    record = UnmanagedKey.objects.get()
    loaded = type(member).objects.get(pk=member.pk)  # as the admin's form read it: still active
    type(member).objects.filter(pk=member.pk).update(is_active=False)  # another admin's offboarding commits

    with pytest.raises(ValidationError) as refusal:
        services.assign_unmanaged_key(record=record, member=loaded, actor=admin_user, origin=Origin(ip="10.0.0.9"))

    assert refusal.value.code == "inactive"
    assert not RegisteredKey.objects.exists()
    record.refresh_from_db()
    assert (record.status, record.assigned_to) == ("open", None)


def test_a_key_that_left_nsml_is_marked_gone(nsml, new_public_key):
    held = nsml.add_key("console-key", new_public_key())
    sync("--apply")
    nsml.remove_key("console-key", held["name"])

    assert sync("--apply")[0] == 0
    assert UnmanagedKey.objects.get().status == "gone"


@pytest.mark.parametrize("left_by", ["gone", "revoked"])
def test_a_key_back_in_nsml_is_open_again_and_drift(admin_client, nsml, new_public_key, event, left_by):
    """Found by deleting an unmanaged key in NSML, then adding it back as the NCP console would: the pass
    kept it "Gone from NSML" (or "Revoked"), exited 0 as in sync, and the admin had no action for it, while
    nsml_sync without --apply reported it unmanaged."""
    public_key = new_public_key()
    held = nsml.add_key("console-key", public_key)
    sync("--apply")
    if left_by == "gone":
        nsml.remove_key("console-key", held["name"])
        sync("--apply")
    else:
        record = UnmanagedKey.objects.get()
        admin_client.post(
            reverse("admin:keys_unmanagedkey_changelist"),
            {"action": "revoke_selected", "_selected_action": [record.pk], "post": "yes", "reason": "not ours"},
        )
    assert UnmanagedKey.objects.get().status == left_by
    nsml.add_key("console-key", public_key)

    status, out = sync("--apply")

    assert status == 1 and "1 unmanaged key(s) open" in out
    assert UnmanagedKey.objects.get().status == "open"
    row = AuditEvent.objects.filter(action="drift", reason="unmanaged").order_by("-id").first()
    assert f"again (it was {left_by} here)" in row.detail
    page = admin_client.get(reverse("admin:keys_unmanagedkey_changelist")).content.decode()
    assert "console-key" in page and "revoke_selected" in page


def test_it_exits_2_when_nsml_cannot_be_asked(nsml):
    nsml.set_faults(Faults(fail_status=401))

    status, out = sync()

    assert status == 2
    assert "credentials" in out


def test_a_key_list_cut_short_changes_nothing_and_exits_2(member, nsml, register):
    """NSML's list held 1 of the 3 keys its totalCount named: read as the whole list, the pass marked the two
    left out as revoked ("NSML no longer had this key") and mailed their owner."""
    keys = [register(member, title) for title in ("first", "second", "third")]
    nsml.set_faults(Faults(short_list=1))

    status, out = sync("--apply")

    assert status == 2
    assert "totalCount says 3" in out
    for key in keys:
        key.refresh_from_db()
        assert key.status == "active"
    assert not AuditEvent.objects.filter(action__in=["revoke", "drift"]).exists()

    nsml.set_faults(Faults())
    assert sync("--apply")[0] == 0


def test_an_interval_past_a_day_is_refused_before_the_first_pass():
    """Found with --every 9999999999: one pass ran, then the wait crashed with OverflowError."""
    status, said = nsml_sync("--apply", "--every", "86401")

    assert status == USAGE_STATUS
    assert "at most 86400 seconds (a day)" in said


def test_one_pass_with_the_database_away_says_so_and_exits_3():
    """Found by running the pass by hand during an outage: psycopg's traceback, status 1."""
    answered = shell_in_fresh_process(
        "from django.core.management import call_command, CommandError\n"
        "try:\n    call_command('nsml_sync', '--apply')\n"
        "except CommandError as error:\n    print('status', error.returncode, error)\n",
        DATABASE_URL=f"postgres://portal@127.0.0.1:{free_port()}/portal",
    )

    assert "status 3 The database could not be reached (OperationalError)" in answered


@pytest.mark.parametrize(
    ("command", "consequence"),
    [
        (("nsml_sync", "--apply"), "nothing was checked or changed."),
        (("ensure_admin",), "no administrator was created."),
        (("create_api_token", "alice", "--name", "ci"), "no token was created."),
    ],
)
def test_a_database_without_the_portals_tables_is_named_as_such_not_as_unreachable(tmp_path, command, consequence):
    """Found by pointing a one-shot reconciler at a database that exists but where migrate had not run (the
    release's cron before its migrate, a DATABASE_URL naming another database): "The database could not be
    reached (ProgrammingError)", sending the operator to the network and the server, which were fine;
    ensure_admin and create_api_token answered with psycopg's traceback."""
    with portal_database(tmp_path, migrated=False) as empty:
        result = manage(empty, *command, check=False)

    assert result.returncode == 3, result.stderr
    said = result.stderr.strip()
    assert "Traceback" not in said and len(said.splitlines()) == 1, said
    assert "could not be reached" not in said
    assert f"The database has none of the portal's tables: {consequence}" in said
    assert "python manage.py migrate" in said and "DATABASE_URL" in said


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--apply", "--every", "2"), "--every must be at least 5"),
        (("--every", "60"), "--every repeats the reconciler, so it needs --apply."),
        (("--accept-missing",), "--accept-missing is for one pass"),
        (("--apply", "--every", "soon"), "argument --every: invalid int value: 'soon'"),
        (("--aply",), "unrecognized arguments: --aply"),
    ],
)
@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_command_line_it_cannot_use_exits_64_not_a_pass_s_status(tmp_path, args, said, log_format):
    """Found scripting cron's alerts: a typo (--aply) exited 2, which says NSML could not be listed, and a bad
    --every exited 1, which says drift was found; a usage error now has a status of its own, 64 (EX_USAGE)."""
    database_url = f"sqlite:///{tmp_path / 'never-opened.sqlite3'}"
    result = manage(database_url, "nsml_sync", *args, env=portal_env(database_url, LOG_FORMAT=log_format), check=False)

    assert result.returncode == USAGE_STATUS == 64
    assert said in result.stderr + result.stdout
    if log_format == "json":
        [line] = [json.loads(line) for line in (result.stdout + result.stderr).splitlines()]
        assert (line["level"], line["logger"]) == ("ERROR", "keys.reconcile")


def test_its_help_lists_the_exit_statuses_as_the_readme_does():
    """Found running it: `nsml_sync --help` said nothing of what cron's exit status would mean."""
    shown = command_help("nsml_sync")

    for status in (
        "0 in sync (also after a pass that only settled the portal's own submissions and revocations",
        "not settled yet",
        "1 drift found: NSML lacks an active key",
        "2 NSML could not be listed",
        "3 the database could not be reached",
        "64 the command line could not be used",
    ):
        assert status in shown
    assert EXIT_STATUS in shown
    assert EXIT_STATUS.rstrip(".") in readme_command_row("nsml_sync")


@pytest.mark.parametrize("sent", ["abc", "1.5", "x" * 300])
def test_an_assignment_to_no_user_id_is_refused_on_the_page(admin_client, nsml, new_public_key, sent):
    """Found in the admin: a change form sent with an owner that is no user id (edited by hand) was a 500, as
    Django's owner box looked the value up to show it again; it is the field's own refusal."""
    nsml.add_key("console-key", new_public_key())
    sync("--apply")
    record = UnmanagedKey.objects.get()
    change = reverse("admin:keys_unmanagedkey_change", args=[record.pk])

    response = admin_client.post(change, {"assigned_to": sent}, headers={"Accept-Language": "ko"})

    assert response.status_code == 200
    assert "올바르게 선택해 주세요." in response.content.decode()
    record.refresh_from_db()
    assert (record.status, record.assigned_to) == ("open", None)


def test_a_report_names_a_key_a_pass_would_attach_to_its_member_not_an_unmanaged_one(member, nsml, new_public_key):
    """Found by the convergence QA pass: without --apply, a key NSML holds that a member's failed submission
    sent was listed as unmanaged with no owner, while --apply made it that member's active key."""
    line = new_public_key()
    nsml.set_faults(Faults(fail_status=503, fail_methods=frozenset({"POST"})))
    with pytest.raises(RegistrationFailed):
        register_key(owner=member, title="laptop", key_text=line, origin=Origin(ip="10.0.0.7"))
    nsml.set_faults(Faults())
    held = nsml.add_key("laptop", line)  # NSML got it after all
    nsml.add_key("console-key", new_public_key())

    status, out = sync()

    assert status == 1
    lines = out.splitlines()
    assert any(line.startswith("attach") and held["name"] in line and "alice" in line for line in lines), out
    assert not any(line.startswith("unmanaged") and "laptop" in line for line in lines), out
    assert "Drift found: 1 unmanaged, 0 missing, 1 sent by a member's failed submission" in out
    assert RegisteredKey.objects.get().status == RegisteredKey.Status.FAILED  # reporting changes nothing

    status, out = sync("--apply")

    assert RegisteredKey.objects.get().status == RegisteredKey.Status.ACTIVE
    assert "attached to the member who submitted them: laptop (alice)" in out
