"""The admin's paginator for long lists: exact while a list is short, estimated past that on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from keys.models import AuditEvent
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
