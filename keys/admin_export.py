"""CSV export of the audit log for the admin: streamed row by row, so a million events never sit
in memory, and safe to open in a spreadsheet (no cell is read as a formula).

Two ways in, both over the same filtered list the admin shows:
- `export_audit_csv`, an admin action (tick "select all" to take every filtered event);
- `AuditCsvExportMixin`, which adds `<changelist>/export.csv?<the changelist's filters>`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied
from django.db.models import Max, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keys.audit import Origin, record_event
from keys.clock import format_moment
from keys.models import AuditEvent
from portal.logs import escape_unsafe

CHUNK_SIZE = 2000
# (CSV header, queryset value): the actor's and subject's names come along without a query per row.
COLUMNS = [
    ("id", "id"),
    ("time", "created_at"),
    ("actor", "actor_username"),
    ("subject", "subject__username"),
    ("action", "action"),
    ("outcome", "outcome"),
    ("key_id", "registered_key_id"),
    ("title", "title"),
    ("fingerprint", "fingerprint"),
    ("reason", "reason"),
    ("detail", "detail"),
    ("client_ip", "client_ip"),
    ("user_agent", "user_agent"),
    ("nsml_status", "upstream_status"),
    ("nsml_error_code", "upstream_error_code"),
    ("trace_id", "trace_id"),
    ("duration_ms", "duration_ms"),
    ("request_id", "request_id"),
]
# A spreadsheet runs a cell that begins with one of these as a formula (OWASP "CSV injection");
# a tab or a CR, which it would also read so, is escaped before this check (escape_unsafe).
FORMULA_PREFIXES = ("=", "+", "-", "@")


def safe_cell(value) -> str:
    """`value` as a CSV cell: control and bidirectional characters escaped, and never a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_moment(value)
    text = escape_unsafe(str(value))
    if isinstance(value, str) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    """csv.writer needs a file; this one hands each written line back instead of keeping it."""

    def write(self, line: str) -> str:
        return line


def csv_lines(queryset: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([header for header, _ in COLUMNS])
    rows: Iterable = queryset.values_list(*[field for _, field in COLUMNS]).iterator(chunk_size=CHUNK_SIZE)
    for row in rows:
        yield writer.writerow([safe_cell(value) for value in row])


def stream_audit_csv(queryset: QuerySet, request: HttpRequest, *, how: str) -> StreamingHttpResponse:
    """Audit the export, then stream it: every matching row older than the export's own audit row.

    The row is written before the first byte, so a download broken off halfway is audited too, and the
    count in it is the count streamed (rows added meanwhile come after it and are left out).
    """
    newest = queryset.model.objects.aggregate(newest=Max("pk"))["newest"] or 0
    exported = queryset.filter(pk__lte=newest)
    count = exported.count()
    filters = request.GET.urlencode() or "none"
    record_event(
        action=AuditEvent.Action.EXPORT,
        outcome=AuditEvent.Outcome.SUCCESS,
        actor=request.user,
        origin=Origin.from_request(request),
        reason="csv",
        detail=f"{count} rows; {how}; filters: {filters}",
    )
    filename = f"audit-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response = StreamingHttpResponse(csv_lines(exported), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@admin.action(description=_("Export the selected audit events as CSV"))
def export_audit_csv(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
    how = "all filtered rows" if request.POST.get("select_across") == "1" else "selected rows"
    return stream_audit_csv(queryset, request, how=f"admin action, {how}")


class AuditCsvExportMixin:
    """For AuditEventAdmin: `export.csv` beside the changelist, with the changelist's filters and search."""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_export"
        export = path("export.csv", self.admin_site.admin_view(self.export_csv_view), name=name)
        return [export, *super().get_urls()]

    def export_csv_view(self, request: HttpRequest) -> StreamingHttpResponse | HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # A filter the list cannot use: back to the whole list, as the list itself answers it.
            return redirect(
                f"{reverse(f'admin:{self.opts.app_label}_{self.opts.model_name}_changelist')}?{ERROR_FLAG}=1"
            )
        if request.method == "HEAD":
            # What GET would answer, without the export: nothing is read, so nothing is audited as exported.
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="audit.csv"'
            return response
        return stream_audit_csv(changelist.get_queryset(request), request, how="export link")
