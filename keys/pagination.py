"""A paginator for the admin's long lists: it never counts a million rows to show a hundred.

Django's paginator runs `SELECT COUNT(*)` over the whole (filtered) list on every page; on the
audit log that read grows with every year of history. This one counts exactly up to `exact_up_to`
rows, which an index answers in a few milliseconds, and past that takes PostgreSQL's planner
estimate of the filtered list, so the page count is approximate only when it is large anyway.
Measured by `make bench` (bench/results.md, "Scale").

Nor does it walk a million rows to find a hundred: a list of at most `exact_up_to` rows (a search, a filter) is read
in an order no index gives. PostgreSQL otherwise walked the newest-first index of the whole audit table and kept the
rows that matched, a few old rows of a user name costing a second at 1,000,000 rows; now it reads the matches
through the same indexes that counted them and sorts them.

Nor does it skip a million rows to show a page: a page is read by skipping every row before it (OFFSET), and the
last page of 1,000,000 audit rows took 1.2 to 1.6 s. Its pages reach `reachable_rows` into a list and no further;
past them a filter, the search or the other order reaches the rows, as the list's foot says.
"""

from __future__ import annotations

from django.core.paginator import EmptyPage, Paginator
from django.db import connections
from django.db.models import F, OrderBy
from django.db.models.functions import Coalesce
from django.utils.functional import cached_property

# An action's confirmation lists this many keys and names this many users, and counts the rest: "Select all 9,999
# users", Offboard listed all 80,000 of their keys, a 10 MB page that took 11 s.
LISTED_ON_A_CONFIRMATION = 200


class EstimatedCountPaginator(Paginator):
    exact_up_to = 10_000
    # Page 500 of the audit list at 100 a page: about 50 ms of skipping rows, where page 10,000 took over a second.
    reachable_rows = 50_000
    # True once the list has more pages than reach `reachable_rows`: the admin's foot says how to reach the rest.
    cut_short = False
    # True once `count` is the planner's estimate: the admin then says "about" before it (templates/admin).
    count_is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        # Counted in no order: the list's own (by title, say) sorted every row of the table first, only to count them.
        counted = queryset.order_by()[: self.exact_up_to + 1].count()
        if counted <= self.exact_up_to:
            return counted
        estimate = planner_estimate(queryset)
        # Another database (SQLite in development) has no estimate to offer; its lists are small.
        if estimate is None:
            return queryset.count()
        self.count_is_estimate = True
        return max(counted, estimate)

    @cached_property
    def num_pages(self) -> int:
        every_page = super().num_pages
        reachable = max(1, self.reachable_rows // self.per_page)
        self.cut_short = every_page > reachable
        return min(every_page, reachable)

    def validate_number(self, number) -> int:
        """A page past the reachable ones (an old link, a typed address) is the deepest reachable one, whose foot
        says why; Django's answer would be the whole list and "a filter could not be used"."""
        try:
            return super().validate_number(number)
        except EmptyPage:
            if self.cut_short and int(number) > self.num_pages:
                return self.num_pages
            raise

    def page(self, number):
        """A page of the list. Under an estimate, a short page is where the list ends: the count becomes exact
        there. A page the estimate promised past the end is the list's last page, found by counting the rows
        before it (no more than the page's offset)."""
        if not self.count_is_estimate and self.count <= self.exact_up_to:
            self.object_list = in_unindexed_order(self.object_list)
        page = super().page(number)
        if not self.count_is_estimate:
            return page
        shown = len(page.object_list)  # read once: a queryset keeps its rows for the page to show
        if shown >= self.per_page:
            return page
        offset = (page.number - 1) * self.per_page
        self._settle(offset + shown if shown else self.object_list[:offset].count())
        return page if shown or page.number == 1 else self.page(self.num_pages)

    def _settle(self, count: int) -> None:
        self.count_is_estimate = False
        self.cut_short = False  # the list ends on a page within reach
        self.__dict__["count"] = count
        self.__dict__.pop("num_pages", None)


def in_unindexed_order(queryset):
    """`queryset` in the same order, by expressions no index answers (COALESCE(created_at, created_at)): the
    planner sorts the rows the filter finds instead of walking an index of every row to meet them in order."""
    if not hasattr(queryset, "query") or not queryset.ordered:
        return queryset
    ordering = []
    for term in queryset.query.order_by or queryset.model._meta.ordering:
        if not isinstance(term, str) or term == "?":
            ordering.append(term)
            continue
        name = term.removeprefix("-")
        ordering.append(OrderBy(Coalesce(F(name), F(name)), descending=term.startswith("-")))
    return queryset.order_by(*ordering)


def planner_estimate(queryset) -> int | None:
    """The rows PostgreSQL expects `queryset` to return, from its statistics; None elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return int(plan[0]["Plan"]["Plan Rows"])
