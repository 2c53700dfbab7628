from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from keys import selectors, services
from keys.admin_export import AuditCsvExportMixin, export_audit_csv
from keys.admin_filters import AuditSearchMixin, KeyTypeFilter, OwnerFilter
from keys.audit import Origin
from keys.models import AuditEvent, RegisteredKey, UnmanagedKey
from keys.offboarding import deactivate_as
from keys.pagination import EstimatedCountPaginator
from nsml.client import NsmlError

User = get_user_model()


def _report(modeladmin: admin.ModelAdmin, request, report: services.RevocationReport) -> None:
    if report.revoked:
        modeladmin.message_user(
            request, ngettext("%d key revoked.", "%d keys revoked.", report.revoked) % report.revoked, messages.SUCCESS
        )
    if report.unconfirmed:
        modeladmin.message_user(
            request,
            ngettext(
                "%d revocation is not confirmed by NSML yet; the reconciler finishes it.",
                "%d revocations are not confirmed by NSML yet; the reconciler finishes them.",
                report.unconfirmed,
            )
            % report.unconfirmed,
            messages.WARNING,
        )
    for failure in report.failures:
        modeladmin.message_user(request, failure, messages.ERROR)
    if not report.revoked and not report.failures and not report.unconfirmed:
        modeladmin.message_user(request, _("There was no active key to revoke."), messages.INFO)


class CheckNsmlMixin:
    """A *Check NSML now* button on the change list: one reconcile pass, and a message saying what it changed."""

    change_list_template = "admin/keys/check_nsml_change_list.html"

    def get_urls(self):
        opts = self.model._meta
        check = path(
            "check-nsml/",
            self.admin_site.admin_view(self.check_nsml_view),
            name=f"{opts.app_label}_{opts.model_name}_check_nsml",
        )
        return [check, *super().get_urls()]

    def check_nsml_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            report = services.reconcile(origin=Origin.from_request(request))
        except services.ReconcileBusy:
            self.message_user(request, _("A reconcile pass is running already; look again in a moment."), messages.INFO)
        except NsmlError as error:
            self.message_user(
                request,
                _("NSML could not be listed, so nothing was changed: %(failure)s (%(detail)s).")
                % {"failure": error.failure, "detail": error.reply.detail},
                messages.ERROR,
            )
        else:
            if report.changes or report.retrying:
                for line in report.lines():
                    self.message_user(request, line, messages.SUCCESS)
            else:
                self.message_user(request, _("Checked NSML: the portal and NSML agree."), messages.SUCCESS)
            if report.open_unmanaged:
                self.message_user(
                    request,
                    ngettext(
                        "%d unmanaged key awaits an admin.", "%d unmanaged keys await an admin.", report.open_unmanaged
                    )
                    % report.open_unmanaged,
                    messages.WARNING,
                )
        opts = self.model._meta
        return redirect(f"admin:{opts.app_label}_{opts.model_name}_changelist")


@admin.register(RegisteredKey)
class RegisteredKeyAdmin(CheckNsmlMixin, admin.ModelAdmin):
    list_display = ["title", "owner", "key_type", "bits", "fingerprint_sha256", "status", "status_changed_at"]
    list_filter = ["status", "source", KeyTypeFilter, OwnerFilter, "created_at"]
    search_fields = ["title", "owner__username", "owner__email", "fingerprint_sha256", "fingerprint_md5", "nsml_name"]
    list_select_related = ["owner"]
    # No date_hierarchy and one count: at 100,000 keys they read every row (bench/results.md, Scale).
    show_full_result_count = False
    readonly_fields = [field.name for field in RegisteredKey._meta.fields]
    actions = ["revoke_selected"]

    def has_add_permission(self, request) -> bool:
        # Keys are added through NSML by the register service, never typed into the database.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Revoke selected keys in NSML"), permissions=["change"])
    def revoke_selected(self, request, queryset) -> None:
        keys = queryset.filter(status=RegisteredKey.Status.ACTIVE).select_related("owner")
        _report(self, request, services.revoke_keys(keys, actor=request.user, origin=Origin.from_request(request)))

    def has_change_permission(self, request, obj=None) -> bool:
        # Nothing on a key is edited by hand; "change" permission gates the revoke action only.
        return super().has_change_permission(request, obj) if obj is None else False


@admin.register(UnmanagedKey)
class UnmanagedKeyAdmin(CheckNsmlMixin, admin.ModelAdmin):
    list_display = ["title", "fingerprint_md5", "nsml_create_time", "assigned_to", "status", "first_seen", "last_seen"]
    list_filter = ["status", "first_seen"]
    search_fields = ["title", "fingerprint_md5", "nsml_name", "assigned_to__username"]
    list_select_related = ["assigned_to"]
    fields = [
        "title",
        "nsml_name",
        "fingerprint_md5",
        "nsml_create_time",
        "status",
        "first_seen",
        "last_seen",
        "assigned_to",
    ]
    readonly_fields = ["title", "nsml_name", "fingerprint_md5", "nsml_create_time", "status", "first_seen", "last_seen"]
    autocomplete_fields = ["assigned_to"]
    actions = ["revoke_selected"]

    def has_add_permission(self, request) -> bool:
        return False  # found by `manage.py nsml_sync --apply`

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj: UnmanagedKey, form, change: bool) -> None:
        if "assigned_to" in form.changed_data and obj.assigned_to is not None:
            try:
                key = services.assign_unmanaged_key(
                    record=obj, member=obj.assigned_to, actor=request.user, origin=Origin.from_request(request)
                )
            except ValidationError as refusal:
                self.message_user(request, " ".join(refusal.messages), messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("“%(title)s” is now %(member)s's key; it shows in their list.")
                    % {"title": key.title, "member": key.owner.get_username()},
                    messages.SUCCESS,
                )

    def get_readonly_fields(self, request, obj=None):
        # Once assigned, revoked or gone, the record is history.
        if obj is not None and obj.status != UnmanagedKey.Status.OPEN:
            return [*self.readonly_fields, "assigned_to"]
        return self.readonly_fields

    @admin.action(description=_("Revoke selected keys in NSML"), permissions=["change"])
    def revoke_selected(self, request, queryset) -> None:
        origin = Origin.from_request(request)
        report = services.RevocationReport()
        for record in queryset.filter(status=UnmanagedKey.Status.OPEN):
            try:
                services.revoke_unmanaged_key(record=record, actor=request.user, origin=origin)
                report.revoked += 1
            except services.RevocationFailed as failure:
                report.failures.append(f"{record.title}: {failure.message}")
        _report(self, request, report)


@admin.register(AuditEvent)
class AuditEventAdmin(AuditSearchMixin, AuditCsvExportMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "actor_username",
        "action",
        "outcome",
        "subject",
        "title",
        "fingerprint",
        "reason",
        "upstream_status",
        "client_ip",
    ]
    list_filter = ["action", "outcome", "created_at"]
    search_fields = ["actor_username", "subject__username", "title", "fingerprint", "trace_id", "request_id"]
    list_select_related = ["subject"]
    # No date_hierarchy: its DISTINCT over dates and the exact page count read every row of a
    # million-row log (bench/results.md). The created_at filter narrows by time through the index.
    paginator = EstimatedCountPaginator
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    actions = [export_audit_csv]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# The index shows what needs attention (templates/admin/portal_index.html, keys/templatetags/attention.py).
admin.site.index_template = "admin/portal_index.html"

admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's user admin, plus offboarding: revoke a leaver's keys in one action."""

    actions = ["revoke_all_keys"]

    @admin.action(description=_("Revoke all keys of the selected users"), permissions=["change"])
    def revoke_all_keys(self, request, queryset) -> None:
        keys = selectors.active_keys(owners=queryset)
        _report(self, request, services.revoke_keys(keys, actor=request.user, origin=Origin.from_request(request)))

    def save_model(self, request, obj, form, change: bool) -> None:
        # The deactivation receiver (keys.offboarding) revokes the keys; the admin names itself as actor.
        deactivating = change and "is_active" in form.changed_data and not obj.is_active
        if deactivating:
            deactivate_as(obj, actor=request.user, origin=Origin.from_request(request))
        super().save_model(request, obj, form, change)
        report = getattr(obj, "offboarding_report", None)
        if deactivating and report is not None:
            _report(self, request, report)
