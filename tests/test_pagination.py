"""The admin's paginator for long lists: exact while a list is short, estimated past that on PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from keys.admin_filters import audit_search
from keys.models import AuditEvent, RegisteredKey
from keys.pagination import EstimatedCountPaginator

pytestmark = pytest.mark.django_db


def add_events(count: int, action: str = "login") -> None:
    AuditEvent.objects.bulk_create(AuditEvent(action=action, outcome="success") for _ in range(count))


class SmallCap(EstimatedCountPaginator):
    exact_up_to = 5


def test_it_counts_a_short_list_exactly():
    add_events(4)
    add_events(2, action="logout")

    paginator = SmallCap(AuditEvent.objects.filter(action="login"), per_page=2)

    assert paginator.count == 4
    assert paginator.num_pages == 2


def test_it_counts_past_the_cap_without_losing_rows():
    add_events(12)

    paginator = SmallCap(AuditEvent.objects.all(), per_page=5)

    if connection.vendor == "postgresql":
        assert paginator.count >= 6  # the planner's estimate, never below what was counted
    else:
        assert paginator.count == 12
    assert list(paginator.page(1).object_list) == list(AuditEvent.objects.all()[:5])


def test_it_never_counts_the_whole_table_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the estimate is PostgreSQL's")
    add_events(12)

    with CaptureQueriesContext(connection) as captured:
        SmallCap(AuditEvent.objects.all(), per_page=5).count  # noqa: B018

    counts = [query["sql"] for query in captured.captured_queries if "COUNT(*)" in query["sql"]]
    assert counts and all("LIMIT 6" in sql for sql in counts)


# The admin prints a count in the list's foot, the select-all link, the note once all are selected and the search's
# result count: past the cap on PostgreSQL each says it is approximate, as the estimate is.


@pytest.fixture
def estimated_past_five(monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 5)
    AuditEvent.objects.bulk_create(AuditEvent(action="register", outcome="success", title="laptop") for _ in range(150))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE keys_auditevent")  # the statistics a loaded database has


def audit_list(client, language="en", **params):
    response = client.get(reverse("admin:keys_auditevent_changelist"), params, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response


def test_the_audit_list_says_an_estimated_count_is_approximate(admin_client, estimated_past_five):
    if connection.vendor != "postgresql":
        pytest.skip("the estimate is PostgreSQL's")

    response = audit_list(admin_client)
    count = response.context["cl"].result_count
    page = " ".join(response.content.decode().split())

    assert f"about {count} audit events" in page
    assert f"Select all audit events (about {count})" in page
    assert response.context["selection_note_all"] == f"All selected (about {count})"
    assert f"Select all {count}" not in page
    searched = " ".join(audit_list(admin_client, q="laptop").content.decode().split())
    assert "about" in searched and re.search(r"about \d+ results", searched)


def test_the_audit_list_says_so_in_korean(admin_client, estimated_past_five):
    if connection.vendor != "postgresql":
        pytest.skip("the estimate is PostgreSQL's")
    response = audit_list(admin_client, "ko")
    count = response.context["cl"].result_count
    page = " ".join(response.content.decode().split())

    assert f"약 {count}개" in page  # the foot
    assert f"모두를 선택합니다 (약 {count}개)" in page
    assert response.context["selection_note_all"] == f"모두 선택되었습니다 (약 {count}개)."
    assert re.search(r"결과 약 \d+개", " ".join(audit_list(admin_client, "ko", q="laptop").content.decode().split()))


def test_the_key_list_never_counts_every_key_on_postgresql(admin_client, member, monkeypatch):
    """Found at 100,000 keys: the admin's key list counted every key on each view, 75 to 100 ms of a 110 ms page,
    and growing with the keys. It is counted as the audit list is, and says its count is approximate."""
    if connection.vendor != "postgresql":
        pytest.skip("the estimate is PostgreSQL's")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 5)
    RegisteredKey.objects.bulk_create(
        RegisteredKey(owner=member, title=f"laptop-{n}", fingerprint_md5=f"md5-{n}", nsml_name=f"name-{n}")
        for n in range(150)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE keys_registeredkey")

    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(reverse("admin:keys_registeredkey_changelist"))

    counts = [query["sql"] for query in captured.captured_queries if "COUNT(*)" in query["sql"]]
    assert counts and all("LIMIT 6" in sql for sql in counts)
    count = response.context["cl"].result_count
    assert count >= 6
    assert f"about {count} registered keys" in " ".join(response.content.decode().split())


def test_a_list_sorted_by_a_column_is_counted_without_sorting_it(admin_client, member):
    """Found at 100,000 keys: the key list sorted by title, type, status or expiry counted its rows in that order,
    sorting every key first (150 to 230 ms of a 450 to 550 ms page); a count needs no order."""
    RegisteredKey.objects.create(owner=member, title="laptop", fingerprint_md5="md5", nsml_name="name")

    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(reverse("admin:keys_registeredkey_changelist"), {"o": "1"})

    assert response.context["cl"].result_count == 1
    counts = [query["sql"] for query in captured.captured_queries if "COUNT(*)" in query["sql"]]
    assert counts and not any("ORDER BY" in sql for sql in counts)


def test_an_exact_count_stays_exact(admin_client, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 500)
    add_events(150)

    response = audit_list(admin_client)
    count = response.context["cl"].result_count
    page = " ".join(response.content.decode().split())

    assert count == AuditEvent.objects.count()
    assert "about" not in page
    assert f"{count} audit events" in page
    assert f"Select all {count} audit events" in page
    assert re.search(r"\d+ results", " ".join(audit_list(admin_client, q="laptop").content.decode().split()))


@pytest.fixture
def overestimated(monkeypatch):
    """A filter PostgreSQL's estimate overshoots: action and outcome are far from independent here, and the planner
    multiplies their shares (about 58 rows expected, 11 there). Five to a page, so the estimate promises 12 pages."""
    from keys.admin import AuditEventAdmin

    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 5)
    monkeypatch.setattr(AuditEventAdmin, "list_per_page", 5)
    AuditEvent.objects.bulk_create(AuditEvent(action="register", outcome="failed") for _ in range(100))
    add_events(100, action="login")
    add_events(11, action="register")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE keys_auditevent")
    return {"action__exact": "register", "outcome__exact": "success"}


def test_a_page_past_the_end_of_an_overestimated_list_shows_its_last_page(admin_client, overestimated):
    """Found at 1,000,000 audit rows: a search's estimate promised more pages than there were, and the last page's
    link led to an empty list."""
    if connection.vendor != "postgresql":
        pytest.skip("the estimate is PostgreSQL's")
    first = audit_list(admin_client, **overestimated)
    assert first.context["cl"].paginator.num_pages > 3  # the estimate, as the links offer it

    response = audit_list(admin_client, p=first.context["cl"].paginator.num_pages, **overestimated)

    changelist = response.context["cl"]
    assert [row.action for row in changelist.result_list] == ["register"]  # the 11th row, alone on page 3
    assert changelist.result_count == 11 and changelist.page_num == 3
    page = " ".join(response.content.decode().split())
    assert "11 audit events" in page and "about" not in page
    assert 'href="?action__exact=register&amp;outcome__exact=success&amp;p=4"' not in page


def test_a_short_page_makes_an_estimated_count_exact(admin_client, overestimated):
    if connection.vendor != "postgresql":
        pytest.skip("the estimate is PostgreSQL's")

    response = audit_list(admin_client, p=3, **overestimated)

    assert response.context["cl"].result_count == 11
    assert "about" not in " ".join(response.content.decode().split())


@pytest.fixture
def reachable_four_pages(monkeypatch):
    """A list of 12 pages of five rows whose pages reach 20 rows in: four pages."""
    from keys.admin import AuditEventAdmin

    monkeypatch.setattr(EstimatedCountPaginator, "reachable_rows", 20)
    monkeypatch.setattr(AuditEventAdmin, "list_per_page", 5)
    add_events(60)


def test_a_long_list_links_no_page_past_the_reachable_rows(admin_client, reachable_four_pages):
    """Found at 1,000,000 audit rows: the list's foot linked page 10,001, which PostgreSQL reads by skipping every row
    before it (1.2 to 1.6 s; some 15 s at 10,000,000 rows)."""
    response = audit_list(admin_client)

    assert response.context["cl"].paginator.num_pages == 4
    page = " ".join(response.content.decode().split())
    assert 'href="?p=4"' in page and 'href="?p=12"' not in page
    assert "Pages past 4 are not listed: narrow the list with a filter or a search, or reverse the order." in page
    korean = " ".join(audit_list(admin_client, "ko").content.decode().split())
    assert "4쪽 뒤로는 목록에 나오지 않습니다." in korean


def test_a_page_past_the_reachable_rows_shows_the_deepest_one(admin_client, reachable_four_pages):
    response = audit_list(admin_client, p=12)

    changelist = response.context["cl"]
    assert changelist.page_num == 4
    assert list(changelist.result_list) == list(AuditEvent.objects.order_by("-created_at", "-id")[15:20])
    assert "Pages past 4 are not listed" in " ".join(response.content.decode().split())


def test_a_list_within_reach_says_nothing_of_it(admin_client, reachable_four_pages):
    add_events(7, action="logout")

    response = audit_list(admin_client, action__exact="logout")

    assert response.context["cl"].paginator.num_pages == 2
    assert "Pages past" not in response.content.decode()
    # Past the end of a list within reach: Django's answer, the whole list and why.
    past = admin_client.get(reverse("admin:keys_auditevent_changelist"), {"action__exact": "logout", "p": 3})
    assert past.status_code == 302 and past["Location"].endswith("?e=1")


# A short list (a search, a filter) is read in an order no index gives: found at 1,000,000 audit rows, a search for a
# user name with a few old rows took a second, PostgreSQL walking the newest-first index of every row to meet them.


def old_matches_among_new_rows() -> None:
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(action="login", outcome="success", actor_username=f"member{number}", created_at=now)
        for number in range(3000)
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(action="login", outcome="success", actor_username="carol", created_at=now - timedelta(days=day))
        for day in (300, 200, 100)
    )


def test_a_short_list_is_shown_in_its_order():
    old_matches_among_new_rows()
    carol = AuditEvent.objects.filter(actor_username="carol").order_by("-created_at", "-id")

    page = EstimatedCountPaginator(carol, per_page=2).page(1)

    assert [event.created_at for event in page.object_list] == [event.created_at for event in carol[:2]]
    assert page.object_list[0].created_at > page.object_list[1].created_at


def test_a_few_old_matches_are_not_met_by_walking_every_newer_row():
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    old_matches_among_new_rows()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE keys_auditevent")
    found = AuditEvent.objects.filter(audit_search("carol")).order_by("-created_at", "-id")

    page = EstimatedCountPaginator(found, per_page=100).page(1)

    sql, params = page.object_list.query.sql_with_params()
    with connection.cursor() as cursor:
        # What the planner chose at 1,000,000 rows, made its only choice here: no scan of the whole table, no bitmap
        # of the matches, no sort. Only an order no index gives still leaves it none but sorting the matches.
        for switch in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {switch} = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan Backward" not in plan, plan
    assert [event.actor_username for event in page.object_list] == ["carol"] * 3
