"""The admin at years of history: the audit and key searches find what an admin looks for through indexes (on
PostgreSQL), and the key list's owner filter is a search box with suggestions, not a list of every owner."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from keys.admin_filters import MAX_MATCHING_USERS, audit_search, key_search
from keys.audit import Origin, record_event
from keys.models import AuditEvent, RegisteredKey
from tests.helpers import generate_private_key, private_text

pytestmark = pytest.mark.django_db

AUDIT = reverse("admin:keys_auditevent_changelist")
KEYS = reverse("admin:keys_registeredkey_changelist")


@pytest.fixture
def history(member, other_member):
    rows = {
        "login": record_event(action="login", outcome="success", origin=Origin(ip="10.0.0.1"), actor=member),
        "revoked_by_admin": record_event(
            action="revoke",
            outcome="success",
            origin=Origin(ip="10.0.0.2"),
            actor_username="ops-admin",
            subject=other_member,
            title="bob-laptop",
            fingerprint="AbCdEf0123456789abcdefGHIJKLMNOPQRSTUVWXYZ01234",
            trace_id="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        ),
        "failed": record_event(
            action="login_failed", outcome="failed", origin=Origin(ip="10.0.0.3"), actor_username="mallory"
        ),
    }
    return rows


def found(admin_client, term: str) -> set[int]:
    response = admin_client.get(AUDIT, {"q": term})
    assert response.status_code == 200
    # Creating the test's users is audited too (user_create): those rows are not what is searched for here.
    return {row.pk for row in response.context["cl"].result_list if row.action != "user_create"}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("alice", {"login"}),  # the actor's user name
        ("ALI", {"login"}),  # its start, any case
        ("bob", {"revoked_by_admin"}),  # the member whose key it was (subject), and the title's start
        ("ops-", {"revoked_by_admin"}),  # a name typed by someone with no account
        ("bob-lap", {"revoked_by_admin"}),  # a title's start
        ("AbCdEf01", {"revoked_by_admin"}),  # a fingerprint's start
        ("0f1e2d3c4b5a69788796a5b4c3d2e1f0", {"revoked_by_admin"}),  # an NSML trace id, whole
        ("mallory", {"failed"}),
        ("nobody", set()),
        ("MD5:", set()),  # a fingerprint's label alone matched every row with a fingerprint
        ("SHA256:", set()),
    ],
)
def test_it_finds_what_an_admin_searches_for(admin_client, history, term, expected):
    assert found(admin_client, term) == {history[name].pk for name in expected}


def test_it_matches_starts_not_middles(admin_client, history):
    # The price of an index: "lice" is in "alice" but starts nothing; "0f1e2d3c" is only part of a trace id.
    assert found(admin_client, "lice") == set()
    assert found(admin_client, "0f1e2d3c") == set()


def test_it_says_how_it_searches(admin_client, history):
    page = admin_client.get(AUDIT).content.decode()

    # What the search does that a substring box would not suggest: prefixes in any case, several words, exact ids.
    assert "Starts with, in any case: a user name or a title." in page
    assert "Exactly: an NSML trace id or a request id." in page
    assert "Several words: the rows that match every word" in page


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the search indexes are PostgreSQL's")
@pytest.mark.parametrize(
    "term",
    [
        "alice",
        "bob-lap",
        "AbCdEf01",
        "SHA256:AbCdEf01",  # what an admin pastes: the start of what ssh-keygen -l prints
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "some-request-id",
        "MD5:0a:1b",
        "0A1B2C3D",
    ],
)
def test_every_part_of_the_search_can_use_an_index(history, term):
    sql, params = AuditEvent.objects.filter(audit_search(term)).order_by("-created_at")[:100].query.sql_with_params()
    with connection.cursor() as cursor:
        # Tiny test tables are cheaper to scan; forbidding the scan shows whether an index could answer. Plain index
        # scans too: a walk of the time index, filtering every row, would answer any search, and the planner takes
        # it for a tiny table whose statistics are fresh (an earlier test's rows analysed, then flushed). A bitmap
        # of every part's index is the only plan left when each part has one.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Seq Scan on keys_auditevent" not in plan, plan
    for index in ("audit_actor_username_prefix", "audit_title_prefix", "audit_fingerprint_prefix"):
        assert index in plan, plan
    assert "audit_trace_id" in plan and "audit_request_id" in plan, plan


FINGERPRINT = "SHA256:Q2xvdmFOU01MIGtleSBwb3J0YWwgdGVzdCBrZXkgZmluZ2Vy"


def test_a_fingerprint_is_found_as_an_admin_pastes_it(admin_client, member):
    """Found searching the audit list with what ssh-keygen -l printed, and with the part after SHA256: alone:
    nothing was found, though the row was there."""
    row = record_event(action="register", outcome="success", origin=Origin(), actor=member, fingerprint=FINGERPRINT)

    for pasted in (
        FINGERPRINT,
        FINGERPRINT[:16],
        FINGERPRINT.removeprefix("SHA256:")[:12],
        f"256 {FINGERPRINT} a@b (ED25519)",
    ):
        assert found(admin_client, pasted) == {row.pk}, pasted


def test_an_md5_fingerprint_is_found_as_ssh_keygen_prints_it(admin_client, member):
    """Found in the browser: an unmanaged key's rows (drift, assign) hold its MD5 fingerprint, as NSML gives it;
    what `ssh-keygen -l -E md5` prints, or its `MD5:` part, found nothing."""
    md5 = "0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9"
    row = record_event(action="assign", outcome="success", origin=Origin(), actor=member, fingerprint=md5)

    for pasted in (md5, f"MD5:{md5}", f"MD5:{md5[:8]}", f"256 MD5:{md5} a@b (ED25519)", f"md5:{md5.upper()}"):
        assert found(admin_client, pasted) == {row.pk}, pasted


def test_an_md5_fingerprint_is_found_as_nsml_lists_it_in_any_case(admin_client, member):
    """Found in the admin: the NSML name `nsml_sync` prints for an unmanaged key (its MD5 without colons), or its
    fingerprint in capitals, found none of the key's audit rows; the key search finds both."""
    md5 = "0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9"
    row = record_event(action="assign", outcome="success", origin=Origin(), actor=member, fingerprint=md5)

    for pasted in (md5.replace(":", ""), md5.replace(":", "")[:9], md5.upper(), md5.upper()[:7], "0A1B2C3D"):
        assert found(admin_client, pasted) == {row.pk}, pasted
    assert found(admin_client, "0a1b2c3e") == set()


def test_a_long_run_of_hex_that_is_no_fingerprint_is_searched_at_once(admin_client, member):
    """Found reviewing the MD5 search: its pattern could split a run of hex digits into pairs and single digits
    in every way before it gave up on a term that went on past them (a pasted hash and more), twice the time for
    each digit more: 36 digits and a "!" held the worker 3 s, 64 would hold it for days."""
    row = record_event(action="assign", outcome="success", origin=Origin(), actor=member, title="a" * 36 + "!")
    started = time.perf_counter()

    assert found(admin_client, "a" * 36 + "!") == {row.pk}
    assert time.perf_counter() - started < 1.0


@pytest.fixture
def keys(member, other_member):
    other_member.email = "bob.kim@example.com"
    other_member.save()
    laptop = RegisteredKey.objects.create(
        owner=member,
        title="alice-laptop",
        fingerprint_sha256=FINGERPRINT,
        fingerprint_md5="0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9",
        nsml_name="0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    )
    desktop = RegisteredKey.objects.create(
        owner=other_member, title="work-desktop", fingerprint_md5="ff:ee", nsml_name="ffee"
    )
    return {"laptop": laptop, "desktop": desktop}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("ALI", {"laptop"}),  # the owner's user name, any case
        ("bob.kim@", {"desktop"}),  # the owner's email
        ("work-", {"desktop"}),  # a title's start
        ("SHA256:Q2xvdmFO", {"laptop"}),  # a fingerprint's start
        ("Q2xvdmFOU01M", {"laptop"}),  # the part after SHA256:
        (f"256 {FINGERPRINT} alice@laptop (ED25519)", {"laptop"}),  # what ssh-keygen -l prints
        ("MD5:0a:1b:2c", {"laptop"}),  # ssh-keygen -E md5
        # what ssh-keygen -l -E md5 prints (found in the browser: nothing matched the whole line)
        ("256 MD5:0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9 alice@laptop (ED25519)", {"laptop"}),
        ("md5:0A:1B:2C", {"laptop"}),
        ("0A:1B", {"laptop"}),
        ("0a1b2c3d", {"laptop"}),  # the NSML name's start
        ("laptop", set()),  # in the middle of a title: starts only, as the audit search
        ("nobody", set()),
        # a fingerprint's label alone is no fingerprint (found in the admin: `MD5:` listed every key)
        ("MD5:", set()),
        ("SHA256:", set()),
        ("sha", set()),
        # colons alone are no fingerprint (found in the admin: `:` listed every key, the start of every NSML name)
        (":", set()),
        ("::", set()),
    ],
)
def test_the_key_search_finds_what_an_admin_searches_for(admin_client, keys, term, expected):
    response = admin_client.get(KEYS, {"q": term})

    assert response.status_code == 200
    assert {key.pk for key in response.context["cl"].result_list} == {keys[name].pk for name in expected}


def test_the_key_search_says_how_it_searches(admin_client, keys):
    page = admin_client.get(KEYS).content.decode()

    assert "Starts with, in any case: an owner&#x27;s user name or email, or a title." in page
    assert "Starts with: a fingerprint (SHA256 or MD5) or an NSML name." in page
    assert "Several words: the keys that match every word" in page


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the search indexes are PostgreSQL's")
@pytest.mark.parametrize(
    "term", ["alice", "work-", "SHA256:Q2xvdmFO", "Q2xvdmFOU01M", "0a:1b", "256 MD5:0a:1b:2c a@b (ED25519)"]
)
def test_every_part_of_the_key_search_can_use_an_index(keys, term):
    """Without them, a search of 100,000 keys read every row: 300 to 450 ms (bench/results.md has it now)."""
    query = RegisteredKey.objects.filter(key_search(term)).order_by("-created_at", "-id")[:100].query
    sql, params = query.sql_with_params()
    with connection.cursor() as cursor:
        # As for the audit search: no scan of the table, and no walk of another index filtering every row.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Seq Scan on keys_registeredkey" not in plan, plan
    for index in ("key_title_prefix", "key_fingerprint_sha256_prefix", "key_fingerprint_md5_prefix"):
        assert index in plan, plan
    assert "key_nsml_name_prefix" in plan, plan


def test_the_owner_filter_lists_no_owners_and_narrows_to_one(admin_client, member, other_member, django_user_model):
    for number in range(30):
        django_user_model.objects.create_user(username=f"bystander{number:02d}")
    for owner, title in ((member, "alice-laptop"), (other_member, "bob-laptop")):
        RegisteredKey.objects.create(owner=owner, title=title, fingerprint_md5="aa", nsml_name=title)

    everything = admin_client.get(KEYS).content.decode()
    narrowed = admin_client.get(KEYS, {"owner": "bob", "status__exact": "active"})

    assert "bystander" not in everything
    assert 'id="owner-filter-input"' in everything and "portal/owner-filter.js" in everything
    assert [key.title for key in narrowed.context["cl"].result_list] == ["bob-laptop"]
    page = narrowed.content.decode()
    # The filter's form keeps the other filters when it is sent again.
    assert '<input type="hidden" name="status__exact" value="active">' in page
    assert 'value="bob"' in page


def test_the_owner_suggestions_come_from_the_admin_s_autocomplete(admin_client, member, other_member):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "keys", "model_name": "registeredkey", "field_name": "owner", "term": "bo"},
    )

    assert response.status_code == 200
    assert [result["text"] for result in response.json()["results"]] == ["bob"]


def test_the_key_type_filter_offers_the_accepted_types_and_narrows(admin_client, member):
    RegisteredKey.objects.create(owner=member, title="rsa", key_type="ssh-rsa", fingerprint_md5="a", nsml_name="a")
    RegisteredKey.objects.create(owner=member, title="ed", key_type="ssh-ed25519", fingerprint_md5="b", nsml_name="b")

    page = admin_client.get(KEYS).content.decode()
    narrowed = admin_client.get(KEYS, {"key_type": "ssh-rsa"})

    assert "?key_type=ecdsa-sha2-nistp384" in page  # offered though no key has it: the list is the portal's
    assert [key.title for key in narrowed.context["cl"].result_list] == ["rsa"]


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        (KEYS, "q"),
        (KEYS, "owner"),
        (AUDIT, "q"),
        (reverse("admin:keys_unmanagedkey_changelist"), "q"),
        (reverse("admin:auth_user_changelist"), "q"),
    ],
)
def test_a_private_key_pasted_into_a_search_is_not_echoed(admin_client, path, parameter):
    """Found in the browser: a private key pasted into the key or audit search (a browser joins its lines) came back
    in the search box, the result count and the export link; exporting from there kept it in the audit log."""
    secret = " ".join(private_text(generate_private_key()).splitlines())

    response = admin_client.get(path, {parameter: secret}, follow=True)

    page = response.content.decode()
    assert response.redirect_chain and response.redirect_chain[-1][0].endswith("?e=1")
    assert secret.split()[4] not in page
    assert "This is your private key" in page


def test_a_private_key_in_the_export_s_search_exports_nothing(admin_client):
    secret = " ".join(private_text(generate_private_key()).splitlines())

    response = admin_client.get(reverse("admin:keys_auditevent_export"), {"q": secret})

    assert response.status_code == 302 and not response.streaming
    assert not AuditEvent.objects.filter(action="export").exists()


def test_a_name_many_members_start_with_finds_every_one_of_them(admin_client, django_user_model):
    """Found with 10,000 members: the key list searched for "member" said 1,040 results of 100,000 keys (and
    the audit list left out the rows about all but 100 of them as subjects): the owners were cut at 100."""
    crew = django_user_model.objects.bulk_create(
        django_user_model(username=f"crew{number:03d}") for number in range(MAX_MATCHING_USERS + 20)
    )
    RegisteredKey.objects.bulk_create(
        RegisteredKey(owner=user, title=f"laptop-{user.pk}", fingerprint_md5=str(user.pk), nsml_name=str(user.pk))
        for user in crew
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(action="revoke", outcome="success", actor_username="ops-admin", subject=user) for user in crew
    )

    key_page = admin_client.get(KEYS, {"q": "crew"})
    audit_page = admin_client.get(AUDIT, {"q": "crew"})

    assert key_page.context["cl"].result_count == len(crew)
    assert audit_page.context["cl"].result_count == len(crew)


def test_the_owner_filter_finds_the_owner_as_an_admin_types_the_name(admin_client, member, other_member):
    """Found at 10,000 members: the filter matched the user name exactly, in its case, so "Alice" (or "alice "
    from a paste) for alice found no key."""
    RegisteredKey.objects.create(owner=member, title="alice-laptop", fingerprint_md5="aa", nsml_name="aa")
    RegisteredKey.objects.create(owner=other_member, title="bob-laptop", fingerprint_md5="bb", nsml_name="bb")

    for typed in ("Alice", "ALICE", " alice "):
        narrowed = admin_client.get(KEYS, {"owner": typed})
        assert [key.title for key in narrowed.context["cl"].result_list] == ["alice-laptop"], typed


def test_the_owner_filter_prefers_the_name_in_its_own_case(admin_client, member, django_user_model):
    """User names are unique as typed, so "Alice" and "alice" can both exist: the one typed exactly is meant."""
    capital = django_user_model.objects.create_user(username="Alice")
    RegisteredKey.objects.create(owner=member, title="alice-laptop", fingerprint_md5="aa", nsml_name="aa")
    RegisteredKey.objects.create(owner=capital, title="Alice-laptop", fingerprint_md5="bb", nsml_name="bb")

    assert [key.title for key in admin_client.get(KEYS, {"owner": "Alice"}).context["cl"].result_list] == [
        "Alice-laptop"
    ]
    assert [key.title for key in admin_client.get(KEYS, {"owner": "alice"}).context["cl"].result_list] == [
        "alice-laptop"
    ]


def test_the_token_list_s_user_filter_finds_the_user_in_any_case(admin_client, member, token_for):
    token_for(member)

    narrowed = admin_client.get(reverse("admin:keys_apitoken_changelist"), {"user": "ALICE"})

    assert [token.user for token in narrowed.context["cl"].result_list] == [member]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the indexes are PostgreSQL's")
@pytest.mark.parametrize(
    ("users", "index"),
    [
        (lambda users: users.filter(username__iexact="Alice"), "user_username_upper"),
        (lambda users: users.filter(username__istartswith="Ali"), "user_username_upper"),
        (lambda users: users.filter(email__istartswith="Ali"), "user_email_upper"),
    ],
)
def test_a_user_name_in_any_case_is_found_through_an_index(django_user_model, users, index):
    """The owner filter and the key search look members up by name in any case: at 10,000 members each read
    every member without these indexes."""
    sql, params = users(django_user_model.objects.values("pk")).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Seq Scan on auth_user" not in plan and index in plan, plan


@pytest.mark.parametrize("term", ["'", '"', "''", '""'])
def test_a_quote_typed_alone_is_searched_for_as_itself(admin_client, member, django_user_model, term):
    """Found in the admin: `'` in the user search (and the owner suggestions) listed every user, Django reading it
    as an empty quoted phrase."""
    quoted = django_user_model.objects.create_user(username=f"o{term}brien")

    response = admin_client.get(reverse("admin:auth_user_changelist"), {"q": term})
    suggestions = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "keys", "model_name": "registeredkey", "field_name": "owner", "term": term},
    )

    assert {user.pk for user in response.context["cl"].result_list} == {quoted.pk}
    assert [result["text"] for result in suggestions.json()["results"]] == [quoted.username]


def test_a_quoted_phrase_is_still_one_term(admin_client, member, django_user_model):
    django_user_model.objects.create_user(username="ann", first_name="Ann", last_name="Lee")
    django_user_model.objects.create_user(username="lee", first_name="Lee", last_name="Ann")

    response = admin_client.get(reverse("admin:auth_user_changelist"), {"q": '"ann"'})

    assert [user.username for user in response.context["cl"].result_list] == ["ann", "lee"]


@pytest.mark.parametrize(
    "pasted",
    [
        "0F1E2D3C4B5A69788796A5B4C3D2E1F0",
        " 0f1e2d3c4b5a69788796a5b4c3d2e1f0 ",
        '"0F1E2D3C4B5A69788796A5B4C3D2E1F0"',
        "'0f1e2d3c4b5a69788796a5b4c3d2e1f0'",
    ],
)
def test_an_nsml_trace_id_is_found_in_capitals_or_between_quotes(admin_client, history, pasted):
    """Found in the admin: a trace id pasted in capitals (or quoted, from a log line) found nothing, the lower-case
    one the row. Trace ids are hex: their case means nothing."""
    assert found(admin_client, pasted) == {history["revoked_by_admin"].pk}


def test_a_request_id_is_found_as_sent_or_in_one_case(admin_client, member):
    """A request id is kept as its client sent it: found as typed, in capitals or small letters alone (the portal's
    own ids are lower-case hex; a log may print a proxy's in capitals), quoted or not."""
    for offered in ("A1B2C3D4E5F6", "Proxy-Req-42"):
        Client().post(
            reverse("login"), {"username": "alice", "password": "alice-password-1"}, HTTP_X_REQUEST_ID=offered
        )
    capitals, mixed = (AuditEvent.objects.get(request_id=offered).pk for offered in ("A1B2C3D4E5F6", "Proxy-Req-42"))
    Client().post(reverse("login"), {"username": "alice", "password": "wrong"})
    made = AuditEvent.objects.get(action="login_failed")

    for pasted in ("A1B2C3D4E5F6", "a1b2c3d4e5f6", ' "a1b2c3d4e5f6" '):
        assert found(admin_client, pasted) == {capitals}, pasted
    assert found(admin_client, "Proxy-Req-42") == {mixed}
    assert found(admin_client, made.request_id.upper()) == {made.pk}


@pytest.fixture
def laptops(member, other_member):
    """alice and bob each registered a laptop and a desktop key."""
    return {
        (user.username, title): record_event(
            action="register", outcome="success", origin=Origin(), actor=user, title=title
        )
        for user in (member, other_member)
        for title in ("laptop-home", "desktop")
    }


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("alice laptop", {("alice", "laptop-home")}),  # a user name and a title's start: both, in one row
        ("LAPTOP  Alice", {("alice", "laptop-home")}),  # in any order and case
        ("alice", {("alice", "laptop-home"), ("alice", "desktop")}),
        ("laptop bob desk", set()),  # every word must match
        ('alice "laptop"', {("alice", "laptop-home")}),
    ],
)
def test_the_audit_search_finds_the_rows_that_match_every_word(admin_client, laptops, term, expected):
    """Found in the admin: `alice laptop` found nothing, where Django's own search finds the rows that match each
    word in one of their fields."""
    login_rows = set(AuditEvent.objects.filter(action="login").values_list("pk", flat=True))
    assert found(admin_client, term) - login_rows == {laptops[name].pk for name in expected}


def test_the_key_search_finds_the_keys_that_match_every_word(admin_client, member, other_member):
    for owner, title in ((member, "laptop-home"), (member, "desktop"), (other_member, "laptop-work")):
        RegisteredKey.objects.create(owner=owner, title=title, fingerprint_md5=title, nsml_name=title)

    for term in ("alice laptop", "Laptop-h ALI"):
        listed = admin_client.get(KEYS, {"q": term}).context["cl"].result_list
        assert [(key.owner.username, key.title) for key in listed] == [("alice", "laptop-home")], term


@pytest.mark.parametrize("url", [AUDIT, KEYS])
def test_a_pasted_paragraph_is_searched_as_one_text_at_once(admin_client, member, url):
    """Each word costs its index reads (and SQLite takes at most 500 in one query): past a few words, which no row
    could all match, the text is searched as a whole, as one term was."""
    started = time.perf_counter()

    response = admin_client.get(url, {"q": " ".join(f"word{number}" for number in range(5000))})

    assert response.status_code == 200 and response.context["cl"].result_count == 0
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(("url", "word"), [(AUDIT, "alice"), (KEYS, "alice")])
def test_a_search_of_two_words_runs_as_many_queries_as_one_of_one(admin_client, member, url, word):
    RegisteredKey.objects.create(owner=member, title="laptop-home", fingerprint_md5="aa", nsml_name="aa")
    admin_client.get(url, {"q": word})  # first-use caches (the session, content types) are not the search

    with CaptureQueriesContext(connection) as one_word:
        admin_client.get(url, {"q": word})
    with CaptureQueriesContext(connection) as two_words:
        admin_client.get(url, {"q": f"{word} laptop"})

    assert len(two_words) == len(one_word)


def test_words_that_each_mean_too_many_users_are_not_looked_for_one_by_one(admin_client, django_user_model):
    """Every word's users found by a subquery, no index could answer the words together: PostgreSQL would read the
    whole audit table. The admin is told to type more of a name instead."""
    crew = django_user_model.objects.bulk_create(
        django_user_model(username=f"crew{number:03d}") for number in range(MAX_MATCHING_USERS + 20)
    )
    AuditEvent.objects.bulk_create(AuditEvent(action="revoke", outcome="success", subject=user) for user in crew)

    response = admin_client.get(AUDIT, {"q": "crew cre"}, follow=True)

    assert response.context["cl"].result_count == 0
    assert "Each word of the search starts the names of more than 100 users" in response.content.decode()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the search indexes are PostgreSQL's")
@pytest.mark.parametrize(
    ("url", "table", "indexes"),
    [
        (AUDIT, "keys_auditevent", ("audit_actor_username_prefix", "audit_title_prefix", "audit_trace_id")),
        (KEYS, "keys_registeredkey", ("key_title_prefix", "key_fingerprint_md5_prefix", "key_nsml_name_prefix")),
    ],
)
def test_a_search_of_several_words_can_use_the_indexes(admin_client, laptops, url, table, indexes):
    """Each word is the one-word search, which the indexes answer; PostgreSQL combines them (a BitmapAnd or the
    rarer word's rows, filtered), never reading the whole table. Asked as the page's count asks, in no order."""
    changelist = admin_client.get(url, {"q": "alice laptop 0A1B"}).context["cl"]
    sql, params = changelist.queryset.order_by().select_related(None).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        # As for the one-word search: no scan of the table, and no walk of an index filtering every row.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert f"Seq Scan on {table}" not in plan, plan
    for index in indexes:
        assert index in plan, plan
