"""GET /api/v1/keys: a member's keys filtered by state and read a page at a time, the next page's address in the
Link header. Found as a script that rotates its key daily sees it: hundreds of failed and revoked rows came back in
one answer, with no way to ask for the active ones or for less."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from keys.models import RegisteredKey

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/keys"
STATES = RegisteredKey.Status.values
numbers = count(1)


@pytest.fixture
def api(client, member, token_for):
    """GET (or HEAD) as alice, with a fresh token: api("get", "/api/v1/keys?limit=2")."""
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token_for(member, name='rotation')}"}

    def call(method: str, path: str, **extra):
        return getattr(client, method)(path, **bearer, **extra)

    return call


def keys_of(owner, statuses, *, at=None, apart=timedelta(minutes=1)) -> list[RegisteredKey]:
    """Rows of `owner`'s keys in `statuses`, oldest first, `apart` from each other (0: in the same moment, as keys
    written in one microsecond are). Stored straight away: listing them needs no NSML."""
    start = at or timezone.now() - timedelta(days=30)
    rows = []
    for offset, status in enumerate(statuses):
        n = next(numbers)
        rows.append(
            RegisteredKey(
                owner=owner,
                title=f"{owner.username}-{n}",
                status=status,
                fingerprint_sha256=f"SHA256:{owner.username}-{n}",
                fingerprint_md5=f"{n:032x}",
                nsml_name=f"{n:032x}",
                created_at=start + offset * apart,
            )
        )
    return RegisteredKey.objects.bulk_create(rows)


def newest_first(keys: list[RegisteredKey]) -> list[int]:
    return [key.pk for key in sorted(keys, key=lambda key: (key.created_at, key.pk), reverse=True)]


def next_page(response) -> str | None:
    """The URL in `Link: <URL>; rel="next"`, or None when the header is not there."""
    link = response.get("Link")
    if link is None:
        return None
    url, relation = link.split(">; ")
    assert relation == 'rel="next"'
    return url.removeprefix("<")


def walk(api, path: str) -> tuple[list[list[int]], list[str]]:
    """Every page, from `path` along the Link headers to the last: the ids of each, and the URLs followed."""
    pages, followed = [], []
    url = path
    while url is not None:
        response = api("get", url)
        assert response.status_code == 200, response.content
        pages.append([key["id"] for key in response.json()])
        url = next_page(response)
        if url is not None:
            followed.append(url)
        assert len(pages) < 50, "the Link headers never end"
    return pages, followed


def refusal(response, field: str) -> str:
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid", field)
    return error["message"]


def test_without_parameters_it_lists_every_key_in_every_state_newest_first_with_no_link(api, member):
    """What a client that knows nothing of pages reads: the whole list, as before (a member's list is far below a
    page), in the same shape."""
    keys = keys_of(member, STATES * 2)

    response = api("get", KEYS)

    assert response.status_code == 200
    assert [key["id"] for key in response.json()] == newest_first(keys)
    assert set(response.json()[0]) == {
        "id",
        "title",
        "key_type",
        "bits",
        "comment",
        "fingerprint_sha256",
        "fingerprint_md5",
        "status",
        "created_at",
        "expires_at",
    }
    assert "Link" not in response


def test_it_lists_only_the_keys_in_the_state_asked_for(api, member):
    keys = keys_of(member, ["active", "revoked", "failed", "active", "revoked", "pending"])

    listed = api("get", f"{KEYS}?status=active").json()

    assert [key["id"] for key in listed] == newest_first([key for key in keys if key.status == "active"])
    assert {key["status"] for key in listed} == {"active"}


def test_two_states_list_the_keys_in_either(api, member):
    keys = keys_of(member, ["active", "revoked", "failed", "pending", "revoking", "active"])

    listed = api("get", f"{KEYS}?status=active&status=pending").json()

    assert [key["id"] for key in listed] == newest_first([key for key in keys if key.status in ("active", "pending")])


def test_a_state_asked_for_that_no_key_is_in_lists_none(api, member):
    keys_of(member, ["active", "revoked"])

    response = api("get", f"{KEYS}?status=revoking")

    assert (response.status_code, response.json()) == (200, [])
    assert "Link" not in response


@pytest.mark.parametrize("sent", ["expired", "Active", "", "active,pending", "ACTIVE"])
def test_a_state_that_is_not_one_is_refused_naming_the_states(api, member, sent):
    keys_of(member, ["active"])

    message = refusal(api("get", f"{KEYS}?status=active&status={sent}"), "status")

    assert message == "status must be one of: pending, active, failed, revoking, revoked."


def test_the_refusal_is_in_the_callers_language(api):
    message = refusal(api("get", f"{KEYS}?status=expired", HTTP_ACCEPT_LANGUAGE="ko"), "status")

    assert message == "status는 다음 중 하나여야 합니다: pending, active, failed, revoking, revoked."


def test_the_link_walks_every_key_once_newest_first_until_the_last_page_which_has_none(api, member):
    # Four keys written in the same moment, the first page ending among them: the order breaks the tie by id, so
    # the next page starts with the fourth rather than skipping it (or repeating the three).
    keys = keys_of(member, ["active", "revoked", "failed", "revoked"])
    keys += keys_of(member, ["revoked", "failed", "active", "revoked"], at=timezone.now(), apart=timedelta(0))

    pages, followed = walk(api, f"{KEYS}?limit=3")

    assert [len(page) for page in pages] == [3, 3, 2]
    assert sum(pages, []) == newest_first(keys)
    assert all(url.startswith("http://testserver/api/v1/keys?") and "limit=3" in url for url in followed)


def test_a_page_that_ends_with_the_last_key_has_no_link(api, member):
    keys = keys_of(member, ["active"] * 4)

    first = api("get", f"{KEYS}?limit=2")
    last = api("get", next_page(first))

    assert [key["id"] for key in first.json() + last.json()] == newest_first(keys)
    assert "Link" not in last


def test_the_link_keeps_the_states_asked_for(api, member):
    # A rotation's history: a failed or revoked key for each active one, and the page asked for the active ones.
    keys = keys_of(member, ["revoked", "failed", "active"] * 5)

    pages, followed = walk(api, f"{KEYS}?status=active&status=failed&limit=4")

    assert sum(pages, []) == newest_first([key for key in keys if key.status in ("active", "failed")])
    assert [len(page) for page in pages] == [4, 4, 2]
    assert all("status=active&status=failed" in url for url in followed)


def test_a_list_longer_than_the_default_page_comes_in_pages_of_100(api, member):
    keys = keys_of(member, ["revoked", "failed"] * 60 + ["active"])

    pages, followed = walk(api, KEYS)

    assert [len(page) for page in pages] == [100, 21]
    assert sum(pages, []) == newest_first(keys)
    assert "limit=100" in followed[0]


def test_the_next_page_is_on_the_address_the_client_called(api, member):
    """Behind the TLS proxy a script calls https://: the Link is an absolute URL it can call as it is."""
    keys_of(member, ["active"] * 3)

    response = api("get", f"{KEYS}?limit=2", secure=True)

    assert next_page(response).startswith("https://testserver/api/v1/keys?")


@pytest.mark.parametrize("limit", [1, 500])
def test_a_limit_from_1_to_500_is_the_size_of_a_page(api, member, limit):
    keys = keys_of(member, ["active", "revoked"] * 251)

    response = api("get", f"{KEYS}?limit={limit}")

    assert [key["id"] for key in response.json()] == newest_first(keys)[:limit]
    assert next_page(response) is not None


@pytest.mark.parametrize("limit", ["0", "501", "-1", "1000", "ten", "", "2.5"])
def test_a_limit_outside_1_to_500_is_refused_not_clamped(api, member, limit):
    keys_of(member, ["active"])

    message = refusal(api("get", f"{KEYS}?limit={limit}"), "limit")

    assert message == "limit must be a whole number from 1 to 500."


@pytest.mark.parametrize("before", ["abc", "0", "-3", "999999", "1.5", ""])
def test_a_cursor_that_is_not_one_of_your_keys_is_refused(api, member, before):
    keys_of(member, ["active"])

    message = refusal(api("get", f"{KEYS}?before={before}"), "before")

    assert "the id of one of your keys" in message


def test_another_members_key_as_the_cursor_is_refused_as_any_unknown_id_is(api, member, other_member):
    """The same answer as for an id nobody has: the cursor does not tell whether another member's key exists."""
    keys_of(member, ["active"])
    (theirs,) = keys_of(other_member, ["active"])

    assert refusal(api("get", f"{KEYS}?before={theirs.pk}"), "before") == refusal(
        api("get", f"{KEYS}?before=999999"), "before"
    )


def test_another_members_keys_never_appear_on_any_page(api, member, other_member):
    # Their keys written in between: in the same moments, and in the same states.
    start = timezone.now() - timedelta(days=1)
    mine = keys_of(member, ["active", "revoked"] * 4, at=start)
    keys_of(other_member, ["active", "revoked"] * 4, at=start)
    keys_of(other_member, ["active", "revoked"] * 4, at=start + timedelta(seconds=30))

    pages, _ = walk(api, f"{KEYS}?limit=3")
    filtered, _ = walk(api, f"{KEYS}?status=active&limit=2")

    assert sum(pages, []) == newest_first(mine)
    assert sum(filtered, []) == newest_first([key for key in mine if key.status == "active"])


def test_head_answers_as_get_does_with_the_same_link(api, member):
    keys_of(member, ["active"] * 3)
    path = f"{KEYS}?status=active&limit=2"

    got, head = api("get", path), api("head", path)

    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head["Link"] == got["Link"]
    assert head["Content-Length"] == str(len(got.content))
    assert api("head", f"{KEYS}?limit=0").status_code == 422
    assert "Link" not in api("head", next_page(got))


def test_a_page_is_one_read_of_the_keys_and_never_a_count(api, member):
    keys_of(member, ["active", "revoked"] * 30)
    key_reads = []

    for path in (f"{KEYS}?limit=5", f"{KEYS}?status=revoked&limit=5"):
        with CaptureQueriesContext(connection) as queries:
            next_path = next_page(api("get", path))
        with CaptureQueriesContext(connection) as later:
            api("get", next_path)
        for captured in (queries, later):
            sql = [query["sql"] for query in captured.captured_queries]
            assert not any("COUNT(" in each.upper() for each in sql)
            key_reads.append([each for each in sql if "LIMIT 6" in each])

    assert [len(reads) for reads in key_reads] == [1, 1, 1, 1]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans; SQLite's differ")
def test_postgresql_reads_a_page_along_the_owners_index_without_sorting(api, member, other_member):
    keys_of(member, ["active", "revoked"] * 50)
    keys_of(other_member, ["active", "revoked"] * 50)
    second_page = next_page(api("get", f"{KEYS}?limit=10"))
    with CaptureQueriesContext(connection) as queries:
        api("get", second_page)
    (page,) = [query["sql"] for query in queries.captured_queries if "LIMIT 11" in query["sql"]]

    with connection.cursor() as cursor:
        # A table of 200 rows is read whole at less cost; what matters is that the index serves the order.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {page}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "key_owner_created" in plan, plan
    assert "Sort" not in plan, plan


@pytest.mark.parametrize("query", ["statuses=active", "state=revoked", "page=2", "status=active&offset=100"])
def test_a_parameter_the_list_does_not_take_is_refused_not_ignored(api, member, query):
    """A misspelt filter listed every key: a script acting on what `?statuses=active` returned acted on every key,
    the failed and revoked ones too. Refused with the parameter named, as a body's unknown field is."""
    keys_of(member, ["active", "revoked"])

    response = api("get", f"{KEYS}?{query}")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_field"
    assert error["field"] == query.split("&")[-1].split("=")[0]
    assert error["message"] == "The key list takes no such parameter: it takes status, limit and before."
