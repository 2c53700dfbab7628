from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from dataclasses import replace
from itertools import groupby

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from keys import audit_display, lockouts, login_names, member_messages, outbox, selectors, services
from keys.admin_expiry import ExpiryFilter, SetExpiryMixin
from keys.admin_export import AuditCsvExportMixin, export_audit_csv
from keys.admin_filters import (
    AuditSearchMixin,
    KeySearchMixin,
    KeyTypeFilter,
    LiteralQuoteSearchMixin,
    OwnerFilter,
    TokenUserFilter,
    UnknownNameSearchMixin,
)
from keys.admin_permissions import PermissionNamesMixin, shown_permissions
from keys.audit import Origin
from keys.forms import (
    PasswordSummaryWidget,
    PortalAdminAuthenticationForm,
    PortalAdminPasswordChangeForm,
    RefusesPrivateKeys,
)
from keys.models import (
    EMAIL_NOTICE_WAITING,
    ApiToken,
    AuditEvent,
    EmailNotice,
    LoginLockout,
    RefusalWindow,
    RegisteredKey,
    UnmanagedKey,
)
from keys.offboarding import deactivate_as, offboard
from keys.pagination import LISTED_ON_A_CONFIRMATION, EstimatedCountPaginator
from keys.reauth import SESSION_ENDED
from keys.services import tokens
from keys.sshkeys import PRIVATE_KEY_MESSAGE, holds_private_key
from keys.upstream import NsmlWait
from nsml.client import NsmlError
from portal.logs import escape_unsafe

User = get_user_model()

admin.site.site_header = _("NSML Key Portal")
# The admin's log-in refuses a private key typed as the user name, and tells a deactivated account's right password
# so, as the portal's does (keys/forms.py).
admin.site.login_form = PortalAdminAuthenticationForm
admin.site.site_title = _("NSML Key Portal")
admin.site.index_title = _("Administration")
# At 1280 px the sidebar leaves the lists too little room; the breadcrumbs and the index lead everywhere.
admin.site.enable_nav_sidebar = False


def _saying_a_lost_form(admin_view):
    """The admin site's `admin_view`, except that a form sent after the session ended is not dropped in silence:
    the log-in page it leads to says that nothing was changed, as the portal's own log-in page does."""

    @functools.wraps(admin_view)
    def wrapped(view, cacheable=False):
        guarded = admin_view(view, cacheable)

        @functools.wraps(guarded)
        def inner(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            response = guarded(request, *args, **kwargs)
            lost = request.method == "POST" and not request.user.is_authenticated
            if lost and response.status_code == 302 and response["Location"].startswith(reverse("admin:login")):
                messages.error(request, gettext(SESSION_ENDED))
            return response

        return inner

    return wrapped


admin.site.admin_view = _saying_a_lost_form(admin.site.admin_view)


def _log_out_page_on_get(logout):
    """The admin's log-out address opened in the address bar: still a 405 (only a POST logs out), but with the
    portal's page that has the log-out button (as /accounts/logout/ answers), not the browser's empty error."""

    @functools.wraps(logout)
    def wrapped(request: HttpRequest, extra_context=None) -> HttpResponse:
        response = logout(request, extra_context)
        if response.status_code != 405 or request.method not in ("GET", "HEAD"):
            return response
        page = render(request, "registration/logout_get.html", status=405)
        page["Allow"] = response["Allow"]
        return page

    return wrapped


admin.site.logout = _log_out_page_on_get(admin.site.logout)


# One line under each model on the admin index (templates/admin/portal_index.html), by model label.
MODEL_DESCRIPTIONS = {
    "keys.registeredkey": _("Every key a member registered through the portal, and where it stands with NSML."),
    "keys.unmanagedkey": _("Keys NSML holds that nobody registered here: assign each to a member or revoke it."),
    "keys.auditevent": _("Who did what to which key, and what NSML answered; read-only, exportable as CSV."),
    "keys.loginlockout": _("Names and addresses with failed log-ins; unlock one before its lock-out ends."),
    "keys.refusalwindow": _(
        "Log-ins refused again and again (a lock-out, a single sign-on the portal refuses), counted here rather "
        "than each written to the audit log."
    ),
    "keys.apitoken": _("Members' personal access tokens for the API; revoke one a script should no longer use."),
    "keys.emailnotice": _(
        "The emails to members and security: what waits for the mail server (nsml_sync tries again), what went, what "
        "was given up on; read-only."
    ),
    "auth.user": _("Members and admins; offboard a leaver here (revoke every key and deactivate)."),
    "auth.group": _("Sets of admin permissions to give staff accounts."),
}

# Said wherever Django would refuse to delete a user with "permission to delete ... audit event".
KEPT_FOR_HISTORY = _(
    "Users who ever held a key or appear in the audit log are deactivated, not deleted, so their history stays."
)
ONLY_SUPERUSERS_MANAGE_STAFF = _(
    "Only a superuser may offboard, revoke the keys of, or delete a staff account (%(names)s)."
)


class RevocationReasonForm(RefusesPrivateKeys, forms.Form):
    # Kept on each key, in the append-only audit log, on the member's page and in their email: never a private key.
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Stored on each key and in the audit log, e.g. “left the team on 30 November”."),
    )


def _confirm_revocation(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset,
    *,
    title: str,
    keys: QuerySet,
    users: Iterable | None = None,
    deactivating: bool = False,
) -> tuple[str | None, TemplateResponse]:
    """Django's delete-confirmation pattern for revocations: the first POST shows the keys (the first
    LISTED_ON_A_CONFIRMATION, and how many in all) and asks for a reason; the second (with `post`) returns the
    reason. Nothing is revoked before it."""
    form = RevocationReasonForm(request.POST if "post" in request.POST else None)
    if form.is_bound and form.is_valid():
        return form.cleaned_data["reason"], None
    listed = list(keys[:LISTED_ON_A_CONFIRMATION])
    users = list(users) if users is not None else []
    # Only users' keys are asked for with their users (an unmanaged key has no owner).
    owners_with_keys = set(keys.order_by().values_list("owner_id", flat=True).distinct()) if users else set()
    users_without_keys = [user for user in users if user.pk not in owners_with_keys]
    key_count = len(listed) if len(listed) < LISTED_ON_A_CONFIRMATION else keys.count()
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "queryset": queryset,
        "keys": listed,
        "key_count": key_count,
        "more_keys": key_count - len(listed),
        "users": users[:LISTED_ON_A_CONFIRMATION],
        "user_count": len(users),
        "more_users": max(0, len(users) - LISTED_ON_A_CONFIRMATION),
        "users_without_keys": users_without_keys[:LISTED_ON_A_CONFIRMATION],
        "more_users_without_keys": max(0, len(users_without_keys) - LISTED_ON_A_CONFIRMATION),
        "deactivating": deactivating,
        "form": form,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return None, TemplateResponse(request, "admin/keys/confirm_revocation.html", context)


def _report_owner(
    modeladmin: admin.ModelAdmin, request, owner, report: services.RevocationReport, *, offboarded: bool = False
) -> None:
    """The messages after revoking one member's keys, naming the member and counting the keys."""
    name = owner.get_username()
    if offboarded:
        modeladmin.message_user(
            request,
            ngettext(
                "Offboarded %(user)s: deactivated, %(count)d key revoked.",
                "Offboarded %(user)s: deactivated, %(count)d keys revoked.",
                report.revoked,
            )
            % {"user": name, "count": report.revoked},
            messages.SUCCESS,
        )
    elif report.revoked:
        modeladmin.message_user(
            request,
            ngettext("%(count)d key of %(user)s revoked.", "%(count)d keys of %(user)s revoked.", report.revoked)
            % {"user": name, "count": report.revoked},
            messages.SUCCESS,
        )
    if report.unconfirmed:
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d revocation of %(user)s's keys is not confirmed by NSML yet; the reconciler finishes it.",
                "%(count)d revocations of %(user)s's keys are not confirmed by NSML yet; the reconciler finishes them.",
                report.unconfirmed,
            )
            % {"user": name, "count": report.unconfirmed},
            messages.WARNING,
        )
    for failure in report.failures:
        modeladmin.message_user(
            request,
            _("A key of %(user)s was not revoked: %(failure)s") % {"user": name, "failure": failure},
            messages.ERROR,
        )
    if not offboarded and not report.revoked and not report.failures and not report.unconfirmed:
        modeladmin.message_user(request, _("No active key to revoke for %(user)s.") % {"user": name}, messages.INFO)


# Past this many members, one action's outcome is a summary: 100 offboarded members were 100 messages or more.
MEMBERS_REPORTED_ONE_BY_ONE = 5
# Past this many keys NSML would not revoke, the rest are counted: NSML refusing every DELETE of thousands of keys
# was a message per key (the audit log has each).
FAILURES_REPORTED_ONE_BY_ONE = 20


def _report_failures(modeladmin: admin.ModelAdmin, request, failures: list[str]) -> None:
    """A message per key NSML would not revoke, the first FAILURES_REPORTED_ONE_BY_ONE; the rest counted."""
    for failure in failures[:FAILURES_REPORTED_ONE_BY_ONE]:
        modeladmin.message_user(request, failure, messages.ERROR)
    if len(failures) > FAILURES_REPORTED_ONE_BY_ONE:
        more = len(failures) - FAILURES_REPORTED_ONE_BY_ONE
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d more key was not revoked; the audit log lists each.",
                "%(count)d more keys were not revoked; the audit log lists each.",
                more,
            )
            % {"count": more},
            messages.ERROR,
        )


def _named_up_to_a_page(names: list[str]) -> str:
    """The first LISTED_ON_A_CONFIRMATION names, and how many more: "Select all" of thousands named every one."""
    listed = ", ".join(names[:LISTED_ON_A_CONFIRMATION])
    if len(names) <= LISTED_ON_A_CONFIRMATION:
        return listed
    return f"{listed} {_and_more_users(len(names) - LISTED_ON_A_CONFIRMATION)}"


def _report_owners(modeladmin: admin.ModelAdmin, request, reports: list, *, offboarded: bool = False) -> None:
    """The messages after revoking the keys of several members: one by one for a few, else a summary.

    `reports` holds (owner, RevocationReport) pairs. A summary counts members and keys and names the members
    whose revocations wait on NSML or had none to revoke; every failure keeps its own message.
    """
    if len(reports) <= MEMBERS_REPORTED_ONE_BY_ONE:
        for owner, report in reports:
            _report_owner(modeladmin, request, owner, report, offboarded=offboarded)
        return
    revoked = sum(report.revoked for _owner, report in reports)
    keys_revoked = ngettext("%(count)d key revoked.", "%(count)d keys revoked.", revoked) % {"count": revoked}
    if offboarded:
        members = ngettext(
            "Offboarded %(count)d member: deactivated.", "Offboarded %(count)d members: deactivated.", len(reports)
        ) % {"count": len(reports)}
        modeladmin.message_user(request, f"{members} {keys_revoked}", messages.SUCCESS)
    elif revoked:
        modeladmin.message_user(request, keys_revoked, messages.SUCCESS)
    waiting = [(owner, report.unconfirmed) for owner, report in reports if report.unconfirmed]
    if waiting:
        count = sum(unconfirmed for _owner, unconfirmed in waiting)
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d revocation is not confirmed by NSML yet; the reconciler finishes it. Members: %(users)s",
                "%(count)d revocations are not confirmed by NSML yet; the reconciler finishes them. Members: %(users)s",
                count,
            )
            % {"count": count, "users": _named_up_to_a_page([owner.get_username() for owner, _unconfirmed in waiting])},
            messages.WARNING,
        )
    _report_failures(
        modeladmin,
        request,
        [
            _("A key of %(user)s was not revoked: %(failure)s") % {"user": owner.get_username(), "failure": failure}
            for owner, report in reports
            for failure in report.failures
        ],
    )
    idle = [
        owner.get_username()
        for owner, report in reports
        if not (report.revoked or report.unconfirmed or report.failures)
    ]
    if idle and not offboarded:
        modeladmin.message_user(
            request, _("No active key to revoke for: %(users)s.") % {"users": _named_up_to_a_page(idle)}, messages.INFO
        )


def _revoke_by_owner(
    request, keys: Iterable[RegisteredKey], reason: str, *, owners: Iterable | None = None
) -> list[tuple]:
    """Revoke `keys`, member by member; (owner, RevocationReport) for each, `owners` without keys included."""
    origin = Origin.from_request(request)
    ordered = sorted(keys, key=lambda key: (key.owner.get_username(), key.pk))
    wait = NsmlWait.of_admin()  # one wait for the whole selection, not one per member
    reports = {}
    for _owner_id, owned in groupby(ordered, key=lambda key: key.owner_id):
        owned = list(owned)
        report = services.revoke_keys(owned, actor=request.user, origin=origin, given_reason=reason, wait=wait)
        reports[owned[0].owner_id] = (owned[0].owner, report)
    for owner in owners or ():
        reports.setdefault(owner.pk, (owner, services.RevocationReport()))
    return sorted(reports.values(), key=lambda pair: pair[0].get_username())


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
    _report_failures(modeladmin, request, report.failures)
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

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # The button only for those it would not answer with a 403: a staff user who may change keys.
        extra_context = {**(extra_context or {}), "may_check_nsml": self.has_change_permission(request)}
        return super().changelist_view(request, extra_context)

    def check_nsml_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            # The admin waits for it: about one NSML_TIMEOUT in all, what is left over goes to the next pass.
            # Its rows with no account as their actor name the admin, as nsml_sync's name the command.
            origin = replace(
                Origin.from_request(request), run_by=login_names.check_nsml_runner(request.user.get_username())
            )
            report = services.reconcile(origin=origin, within=settings.NSML_TIMEOUT)
        except services.ReconcileBusy:
            self.message_user(request, _("A reconcile pass is running already; look again in a moment."), messages.INFO)
        except NsmlError as error:
            self.message_user(
                request,
                _("NSML could not be listed, so nothing was changed: %(failure)s (%(detail)s).")
                % {
                    "failure": member_messages.FAILURE_NAMES[error.failure],
                    # The client's own words about the call (nsml/client.py), translated; NSML's stay as sent.
                    "detail": audit_display.detail_shown(error.reply.detail),
                },
                messages.ERROR,
            )
        else:
            # Missing keys held back changed nothing, and want an admin's look: not a success's green.
            held = services.held_back_line(report.held_missing) if report.held_missing else None
            for line in report.lines(most=services.TITLES_ON_A_PAGE):
                self.message_user(request, line, messages.WARNING if line == held else messages.SUCCESS)
            # As nsml_sync says it: keys still pending or being revoked are not "in sync", whatever the lists hold.
            if report.unsettled:
                self.message_user(
                    request,
                    ngettext(
                        "Not settled yet: %d key pending or being revoked; later passes settle it.",
                        "Not settled yet: %d keys pending or being revoked; later passes settle them.",
                        report.unsettled,
                    )
                    % report.unsettled,
                    messages.WARNING,
                )
            elif report.outcome == "in_sync":
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


class SortableOnlyChangeList(ChangeList):
    def get_ordering_field(self, field_name):
        return super().get_ordering_field(field_name) if field_name in self.sortable_by else None

    def get_results(self, request):
        super().get_results(request)
        # Django read the count before the page: EstimatedCountPaginator may have made it exact on a short page, or
        # served the last page in place of one the estimate promised past the end.
        if self.paginator.count != self.result_count:
            self.result_count = self.paginator.count
            self.multi_page = self.result_count > self.list_per_page
            self.can_show_all = self.result_count <= self.list_max_show_all
        # It serves the deepest page it reaches in place of one past it, too (keys/pagination.py).
        self.page_num = min(self.page_num, self.paginator.num_pages)


class ChangeListInputMixin:
    """What a list is sent that no row could match gets Django's answer to a bad filter, not a 500.

    A filter value no date can hold (`created_at__year=99999`) fails only when the list is counted, after
    Django has checked the filters: it sends the admin back to the whole list (`?e=1`), as an unknown
    filter does. An action on a row id no checkbox could have sent (not a number, or beyond the database's
    integers) changes nothing and says so; Django's own action handling would fail on it.

    Django's whole list after a bad filter says nothing of why the filter went: this one says so.

    An order by a column the list does not offer to sort (`?o=3` on the audit list, whose `sortable_by` is the time
    alone) is left out, as Django leaves out an order by a column that does not exist: Django sorted by it all the
    same, every row of years of history (0.8 s at 1,000,000 rows).

    A private key pasted into the search or a filter box (a browser joins its lines) goes the same way, with the
    private-key message: the list would show it again in the box, the count's link and the export link, and an
    export would keep it in the audit log. An access token's secret (an admin looking up a leaked token) is
    searched for as its prefix, which the token list shows and the token's audit rows keep; anywhere else (an
    action's or the export's address) it goes the private key's way.
    """

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if request.method == "GET" and _holds_token_secret(request.GET):
            self.message_user(request, gettext(TOKEN_SECRET_SEARCHED), messages.WARNING)
            cut = request.GET.copy()
            for name, values in request.GET.lists():
                cut.setlist(name, [tokens.cut_to_prefixes(value) for value in values])
            return redirect(f"{request.path}?{cut.urlencode()}")
        if request.method == "GET" and request.GET.get(ERROR_FLAG) == "1":
            self.message_user(
                request,
                gettext("A filter or search in the address could not be used, so the whole list is shown."),
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    def get_changelist(self, request: HttpRequest, **kwargs):
        return SortableOnlyChangeList

    def get_changelist_instance(self, request: HttpRequest):
        if any(holds_private_key(value) for _name, values in request.GET.lists() for value in values):
            self.message_user(request, gettext(PRIVATE_KEY_MESSAGE), messages.ERROR)
            raise IncorrectLookupParameters("a private key in the address")
        if _holds_token_secret(request.GET):
            self.message_user(request, gettext(TOKEN_SECRET_IN_ADDRESS), messages.ERROR)
            raise IncorrectLookupParameters("a token's secret in the address")
        try:
            return super().get_changelist_instance(request)
        except (ValueError, OverflowError) as unusable:  # raised by the filters' values, as the list is read
            raise IncorrectLookupParameters(unusable) from unusable

    def response_action(self, request: HttpRequest, queryset):
        pk = self.model._meta.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                pk.run_validators(pk.to_python(value))  # a number, and one the database's integers hold
        except ValidationError:
            self.message_user(
                request,
                gettext("The selection was not valid, so nothing was changed. Select the rows again."),
                messages.WARNING,
            )
            return redirect(request.get_full_path())
        return super().response_action(request, queryset)


TOKEN_SECRET_SEARCHED = _(
    "That was an access token's secret, which the admin neither shows nor keeps: the list is searched for the "
    "token's prefix instead."
)
TOKEN_SECRET_IN_ADDRESS = _(
    "The address held an access token's secret, which the admin neither shows nor keeps, so it was not used."
)


def _holds_token_secret(query) -> bool:
    return any(tokens.holds_token_secret(value) for _name, values in query.lists() for value in values)


class EstimatedCountMixin:
    """A long list counted by EstimatedCountPaginator, its count said to be approximate where the admin prints it.

    Past `exact_up_to` rows the count is PostgreSQL's estimate; the list's foot, the select-all link and the
    search's result count (templates/admin/pagination.html, actions.html, search_form.html) and the note once all
    are selected (here) say "about" before it, where Django's said "1000000 audit events" as if counted.
    """

    paginator = EstimatedCountPaginator

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        changelist = context.get("cl")
        if getattr(getattr(changelist, "paginator", None), "count_is_estimate", False):
            context["selection_note_all"] = gettext("All selected (about %(total_count)s)") % {
                "total_count": changelist.result_count
            }
        return response


def _listed_up_to_a_page(nested: list, and_more) -> list:
    """Django's nested list of what a delete takes (each object, then a list of what goes with it), cut after
    LISTED_ON_A_CONFIRMATION objects at each level, with `and_more(count)` for the rest."""
    objects = [index for index, item in enumerate(nested) if not isinstance(item, list)]
    cut = objects[LISTED_ON_A_CONFIRMATION] if len(objects) > LISTED_ON_A_CONFIRMATION else len(nested)
    listed = [_listed_up_to_a_page(item, _and_more) if isinstance(item, list) else item for item in nested[:cut]]
    if len(objects) > LISTED_ON_A_CONFIRMATION:
        listed.append(and_more(len(objects) - LISTED_ON_A_CONFIRMATION))
    return listed


def _and_more(count: int) -> str:
    return ngettext("and %(count)d more", "and %(count)d more", count) % {"count": count}


def _and_more_users(count: int) -> str:
    return ngettext("and %(counter)s more user", "and %(counter)s more users", count) % {"counter": count}


class ListsAPageToDeleteMixin:
    """Django's delete confirmations (one object's, and Delete selected) list everything the delete takes: a group of
    10,000 members was a line per membership, a 625 KB page; "Select all" of users, every user and everything of
    theirs. They list the first LISTED_ON_A_CONFIRMATION at each level and how many more; the summary above the
    list still counts them all."""

    and_more = staticmethod(_and_more)

    def get_deleted_objects(self, objs, request):
        deletable, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        return (
            _listed_up_to_a_page(deletable, self.and_more),
            model_count,
            perms_needed,
            _listed_up_to_a_page(protected, self.and_more),
        )


class RowCheckboxMixin:
    """Each row's action checkbox as one format_html, the markup Django's ModelAdmin.action_checkbox renders.

    Django renders it as a form widget, through the template engine, once per row: at 100 rows a quarter
    of the key list's time (bench/results.md, Scale). tests/test_admin_index.py holds the two the same.
    """

    def action_checkbox(self, obj) -> str:
        label = format_html(gettext("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )


class ReadOnlyMixin:
    """A record the portal writes and no one edits (the audit trail, refusal windows, the email outbox): viewed only."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AuditHistoryMixin:
    """History lists the object's newest audit events, linked to the audit log: keys and users change through
    services, which write the audit log, so Django's admin log alone said they had no change history."""

    object_history_template = "admin/keys/audit_history.html"
    audit_field = ""  # the AuditEvent field that points at this model's objects
    audit_rows = 50

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and request.user.has_perm("keys.view_auditevent"):
            events = AuditEvent.objects.filter(**{self.audit_field: obj}).order_by("-created_at", "-id")
            changelist = reverse("admin:keys_auditevent_changelist")
            extra_context = {
                **(extra_context or {}),
                "audit_events": list(events[: self.audit_rows]),
                "audit_url": f"{changelist}?{self.audit_field}__id__exact={obj.pk}",
            }
        return super().history_view(request, object_id, extra_context)


# Fields the portal may fill in English: a key's page shows each through the method <name>_shown, translated.
_SHOWN_KEY_FIELDS = ("revoked_note", "revoke_reason")


class RegisteredKeyForm(forms.ModelForm):
    """Nothing on it is edited; it keeps the fields' help beside what those methods show."""

    class Meta:
        help_texts = {f"{name}_shown": RegisteredKey._meta.get_field(name).help_text for name in _SHOWN_KEY_FIELDS}


@admin.register(RegisteredKey)
class RegisteredKeyAdmin(
    ChangeListInputMixin,
    EstimatedCountMixin,
    RowCheckboxMixin,
    AuditHistoryMixin,
    SetExpiryMixin,
    CheckNsmlMixin,
    KeySearchMixin,
    admin.ModelAdmin,
):
    # Six columns fit 1280 px; fingerprints, bits and the rest are on the key's page.
    list_display = ["title", "owner", "key_type", "status", "status_changed_at", "expires_at"]
    # Filters that scale to 100,000 keys: the owner by autocomplete, the key types from the portal's list.
    list_filter = ["status", "source", KeyTypeFilter, OwnerFilter, "created_at", ExpiryFilter]
    # What the search looks in (keys/admin_filters.py, KeySearchMixin: prefixes, each on an index).
    search_fields = ["title", "owner__username", "owner__email", "fingerprint_sha256", "fingerprint_md5", "nsml_name"]
    list_select_related = ["owner"]
    # No date_hierarchy, and the page count is EstimatedCountMixin's: at 100,000 keys each read every row, the
    # count alone 75 to 100 ms of a 110 ms page (bench/results.md, Scale). No facet counts either ("Show counts"):
    # one count per filter choice over every key, 1.2 s at 100,000.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    # Every field, read-only; the revocation note and the portal's own revocation reason in the reader's language,
    # as the member's page shows them.
    form = RegisteredKeyForm
    fields = readonly_fields = [
        f"{field.name}_shown" if field.name in _SHOWN_KEY_FIELDS else field.name for field in RegisteredKey._meta.fields
    ]
    actions = ["revoke_selected", "set_expiry"]  # set_expiry: keys/admin_expiry.py
    audit_field = "registered_key"

    @admin.display(description=RegisteredKey._meta.get_field("revoked_note").verbose_name)
    def revoked_note_shown(self, obj: RegisteredKey) -> str:
        # The one note there is (keys/services), stored in English; templates/keys/key_detail.html says it too.
        return gettext("NSML no longer had this key") if obj.revoked_note else self.get_empty_value_display()

    @admin.display(description=RegisteredKey._meta.get_field("revoke_reason").verbose_name)
    def revoke_reason_shown(self, obj: RegisteredKey) -> str:
        return obj.revoke_reason_shown or self.get_empty_value_display()

    def has_add_permission(self, request) -> bool:
        # Keys are added through NSML by the register service, never typed into the database.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Revoke selected keys in NSML"), permissions=["change"])
    def revoke_selected(self, request, queryset) -> TemplateResponse | None:
        keys = queryset.filter(status=RegisteredKey.Status.ACTIVE).select_related("owner").order_by("owner", "title")
        if not keys.exists():
            self.message_user(request, _("There was no active key to revoke."), messages.INFO)
            return None
        reason, confirmation = _confirm_revocation(self, request, queryset, title=_("Revoke these keys?"), keys=keys)
        if confirmation is not None:
            return confirmation
        _report_owners(self, request, _revoke_by_owner(request, keys, reason))
        return None

    def has_change_permission(self, request, obj=None) -> bool:
        # Nothing on a key is edited by hand; "change" permission gates the revoke action only.
        return super().has_change_permission(request, obj) if obj is None else False


@admin.register(ApiToken)
class ApiTokenAdmin(ChangeListInputMixin, RowCheckboxMixin, LiteralQuoteSearchMixin, admin.ModelAdmin):
    """Members' access tokens: seen and revoked here, never made or edited (the secret is nowhere)."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = [TokenUserFilter, "revoked_at", "expires_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    readonly_fields = [field.name for field in ApiToken._meta.fields if field.name != "secret_sha256"]
    exclude = ["secret_sha256"]
    actions = ["revoke_selected"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) if obj is None else False

    @admin.action(description=_("Revoke selected tokens"), permissions=["change"])
    def revoke_selected(self, request, queryset) -> TemplateResponse | None:
        """As for keys, a page listing the tokens first: a revoked token stops a member's scripts at once."""
        live = queryset.filter(revoked_at__isnull=True).select_related("user").order_by("user__username", "name")
        if not live.exists():
            self.message_user(request, _("There was no token left to revoke."), messages.INFO)
            return None
        if "post" not in request.POST:
            opts = self.model._meta
            listed = list(live[:LISTED_ON_A_CONFIRMATION])  # and how many in all, as the key confirmation
            token_count = len(listed) if len(listed) < LISTED_ON_A_CONFIRMATION else live.count()
            context = {
                **self.admin_site.each_context(request),
                "title": _("Revoke these tokens?"),
                "opts": opts,
                "queryset": queryset,
                "tokens": listed,
                "token_count": token_count,
                "more_tokens": token_count - len(listed),
                "action": request.POST.get("action", ""),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            request.current_app = self.admin_site.name
            return TemplateResponse(request, "admin/keys/confirm_token_revocation.html", context)
        origin = Origin.from_request(request)
        revoked = sum(tokens.revoke_token(token=token, actor=request.user, origin=origin) for token in live)
        self.message_user(request, ngettext("%d token revoked.", "%d tokens revoked.", revoked) % revoked)
        return None


class UnmanagedKeyForm(forms.ModelForm):
    def clean_assigned_to(self):
        member = self.cleaned_data["assigned_to"]
        # A refusal on the field keeps the page open: nothing saved, no "changed successfully", no history line.
        if member is not None and "assigned_to" in self.changed_data:
            services.check_assignable(self.instance, member)
        return member


class MemberAutocomplete(AutocompleteSelect):
    """Django's autocomplete box, saying what to type while it is empty; static/portal/autocomplete-names.js names
    it by its label too (select2 names it only by the text it shows, and an empty one had no name: axe's
    aria-input-field-name)."""

    def build_attrs(self, base_attrs, extra_attrs=None):
        attrs = super().build_attrs(base_attrs, extra_attrs=extra_attrs)
        attrs["data-placeholder"] = gettext("Type a member's user name")
        return attrs

    @property
    def media(self):
        return super().media + forms.Media(js=["portal/autocomplete-names.js"])

    def optgroups(self, name, value, attr=None):
        """Django looks the chosen value up to show its name again: a value that is no user's id (a form sent by
        hand, an edited page) made that lookup raise, a 500, where the field's own error says it is no choice."""
        remote = self.field.remote_field
        to_field = remote.model._meta.get_field(getattr(remote, "field_name", None) or remote.model._meta.pk.name)
        return super().optgroups(name, [choice for choice in value if _readable_as(to_field, choice)], attr)


def _readable_as(field, value) -> bool:
    try:
        field.to_python(value)
    except ValidationError:
        return False
    return True


@admin.register(UnmanagedKey)
class UnmanagedKeyAdmin(
    ChangeListInputMixin, RowCheckboxMixin, CheckNsmlMixin, LiteralQuoteSearchMixin, admin.ModelAdmin
):
    list_display = ["title", "status", "assigned_to", "first_seen", "last_seen"]
    list_filter = ["status", "first_seen"]
    search_fields = ["title", "fingerprint_md5", "nsml_name", "assigned_to__username"]
    list_select_related = ["assigned_to"]
    form = UnmanagedKeyForm
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

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assigned_to":
            kwargs["widget"] = MemberAutocomplete(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

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
    def revoke_selected(self, request, queryset) -> TemplateResponse | None:
        """As for members' keys: a confirmation page that lists the keys and asks for a reason first."""
        records = queryset.filter(status=UnmanagedKey.Status.OPEN).order_by("title")
        if not records.exists():
            self.message_user(request, _("There was no open unmanaged key to revoke."), messages.INFO)
            return None
        reason, confirmation = _confirm_revocation(self, request, queryset, title=_("Revoke these keys?"), keys=records)
        if confirmation is not None:
            return confirmation
        origin = Origin.from_request(request)
        report = services.RevocationReport()
        for record in records:
            try:
                services.revoke_unmanaged_key(record=record, actor=request.user, origin=origin, given_reason=reason)
                report.revoked += 1
            except services.RevocationFailed as failure:
                report.failures.append(f"“{record.title}”: {failure.message}")
        _report(self, request, report)


def _shown_text(name: str):
    """An admin column for a text field, with control and bidirectional characters shown escaped."""
    field = AuditEvent._meta.get_field(name)

    @admin.display(description=field.verbose_name, ordering=name)
    def shown(modeladmin, obj: AuditEvent) -> str:
        return escape_unsafe(getattr(obj, name))

    return shown


def _shown_user(name: str):
    """The actor's or subject's username, escaped: single sign-on creates users with names as the proxy sent them."""
    field = AuditEvent._meta.get_field(name)

    @admin.display(description=field.verbose_name, ordering=f"{name}__username")
    def shown(modeladmin, obj: AuditEvent) -> str:
        user = getattr(obj, name)
        # "-" for nobody: a read-only field on the row's page would show None.
        return escape_unsafe(user.get_username()) if user is not None else modeladmin.get_empty_value_display()

    return shown


# What a user, a proxy or NSML wrote: names, titles as typed, agents, NSML's codes.
ESCAPED_TEXT = ["actor_username", "title", "reason", "detail", "user_agent", "upstream_error_code", "trace_id"]


@admin.register(AuditEvent)
class AuditEventAdmin(
    ReadOnlyMixin,
    ChangeListInputMixin,
    EstimatedCountMixin,
    RowCheckboxMixin,
    AuditSearchMixin,
    AuditCsvExportMixin,
    admin.ModelAdmin,
):
    # Fits 1280 px; fingerprint, NSML's answer, the address and the rest are on the event's page.
    list_display = ["created_at", "actor_username_shown", "action", "outcome", "subject_shown", "title_shown"]
    # Sorted by time only: by any other column every row of years of history is sorted (no index serves it; 1 to
    # 2 s at 200,000 rows, growing with them). The filters and the search narrow by the others.
    sortable_by = ["created_at"]
    list_filter = ["action", "outcome", "created_at"]
    search_fields = ["actor_username", "subject__username", "title", "fingerprint", "trace_id", "request_id"]
    list_select_related = ["subject"]
    # No date_hierarchy: its DISTINCT over dates and the exact page count read every row of a
    # million-row log (bench/results.md). The created_at filter narrows by time through the index.
    # The page count: EstimatedCountMixin.
    # Every column, in the model's order, with the ones people type shown escaped (never raw).
    fields = readonly_fields = [
        f"{field.name}_shown" if field.name in [*ESCAPED_TEXT, "actor", "subject"] else field.name
        for field in AuditEvent._meta.fields
    ]
    # The count of the refusals a first refused log-in stands for (keys.auth, RefusalWindow).
    fields = readonly_fields = [*fields, "refused_in_window"]
    actions = [export_audit_csv]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice over every row: 1.6 s at 1,000,000 rows

    actor_shown = _shown_user("actor")
    subject_shown = _shown_user("subject")

    @admin.display(description=AuditEvent._meta.get_field("actor_username").verbose_name, ordering="actor_username")
    def actor_username_shown(self, obj: AuditEvent) -> str:
        return escape_unsafe(login_names.shown_name(obj.actor_username))

    title_shown = _shown_text("title")

    @admin.display(description=AuditEvent._meta.get_field("reason").verbose_name, ordering="reason")
    def reason_shown(self, obj: AuditEvent) -> str:
        # Stored as a code; its name in the reader's language before it (keys/audit_display.py).
        name = audit_display.reason_name(obj.reason)
        code = escape_unsafe(obj.reason)
        return f"{name} ({code})" if name else code

    @admin.display(description=AuditEvent._meta.get_field("detail").verbose_name, ordering="detail")
    def detail_shown(self, obj: AuditEvent) -> str:
        # Stored in English and never rewritten: shown in the reader's language, and as recorded below it.
        recorded = escape_unsafe(obj.detail)
        shown = escape_unsafe(audit_display.detail_shown(obj.detail))
        if shown == recorded:
            return recorded
        return format_html('{}<br><span class="quiet">{} {}</span>', shown, gettext("As recorded:"), recorded)

    user_agent_shown = _shown_text("user_agent")
    upstream_error_code_shown = _shown_text("upstream_error_code")
    trace_id_shown = _shown_text("trace_id")

    @admin.display(description=_("refused log-ins in its window"))
    def refused_in_window(self, obj: AuditEvent) -> int | str:
        count = RefusalWindow.objects.filter(first_event=obj).values_list("count", flat=True).first()
        return self.get_empty_value_display() if count is None else count  # "-", not "None"


@admin.register(RefusalWindow)
class RefusalWindowAdmin(
    ReadOnlyMixin, ChangeListInputMixin, UnknownNameSearchMixin, LiteralQuoteSearchMixin, admin.ModelAdmin
):
    """How many log-ins were refused in each lock-out (or for an inactive SSO user); read-only."""

    list_display = ["started_at", "last_at", "reason", "username_shown", "client_ip", "count", "first_event"]
    list_filter = ["reason", "started_at"]
    search_fields = ["username", "client_ip"]
    list_select_related = ["first_event"]
    fields = readonly_fields = [
        "reason",
        "username_shown",
        "client_ip",
        "started_at",
        "last_at",
        "count",
        "first_event",
    ]

    @admin.display(description=_("username"), ordering="username")
    def username_shown(self, obj: RefusalWindow) -> str:
        return escape_unsafe(login_names.shown_name(obj.username))


NOTICE_STATES = {
    "waiting": pgettext_lazy("email notice", "waiting"),
    "sent": pgettext_lazy("email notice", "sent"),
    "given_up": pgettext_lazy("email notice", "given up"),
    "dropped": pgettext_lazy("email notice", "dropped"),
}
# Why a reminder was dropped, as keys/outbox.py records it (in English), in the reader's language.
DROPPED_REASONS = {
    outbox.DROPPED_NOT_ACTIVE: _(
        "dropped: the key is no longer active (revoked or rotated) since the reminder was written"
    ),
    outbox.DROPPED_EXPIRY_CHANGED: _(
        "dropped: the key's expiry changed since the reminder was written (the new one has its own)"
    ),
    outbox.DROPPED_EXPIRED: _("dropped: the key's expiry passed before the reminder could go"),
}


class EmailNoticeStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(state, label) for state, label in NOTICE_STATES.items()]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.filter(EMAIL_NOTICE_WAITING)
        if self.value() == "sent":
            return queryset.filter(sent_at__isnull=False)
        if self.value() == "given_up":
            return queryset.filter(gave_up_at__isnull=False)
        if self.value() == "dropped":
            return queryset.filter(dropped_at__isnull=False)
        return queryset


@admin.register(EmailNotice)
class EmailNoticeAdmin(ReadOnlyMixin, ChangeListInputMixin, RowCheckboxMixin, admin.ModelAdmin):
    """The outbox (keys/outbox.py): what waits for the mail server, what went, what was given up on or dropped;
    read-only."""

    list_display = ["created_at", "kind", "registered_key", "to_shown", "state", "attempts", "last_error_shown"]
    list_filter = [EmailNoticeStateFilter, "kind", "created_at"]
    search_fields = ["registered_key__title", "registered_key__owner__username"]
    list_select_related = ["registered_key"]
    fields = readonly_fields = [
        "kind",
        "registered_key",
        "state",
        "to_shown",
        "bcc_shown",
        "subject",
        "headers",
        "body_shown",
        "created_at",
        "attempts",
        "last_error_shown",
        "next_attempt_at",
        "sent_at",
        "gave_up_at",
        "dropped_at",
    ]

    @admin.display(description=_("state"))
    def state(self, obj: EmailNotice) -> str:
        if obj.sent_at is not None:
            return str(NOTICE_STATES["sent"])
        if obj.gave_up_at is not None:
            return str(NOTICE_STATES["given_up"])
        if obj.dropped_at is not None:
            return str(NOTICE_STATES["dropped"])
        return str(NOTICE_STATES["waiting"])

    @admin.display(description=EmailNotice._meta.get_field("last_error").verbose_name)
    def last_error_shown(self, obj: EmailNotice) -> str:
        # The mail server's own words stay as it said them; the portal's own reasons are translated.
        return str(DROPPED_REASONS.get(obj.last_error, obj.last_error)) or self.get_empty_value_display()

    @admin.display(description=EmailNotice._meta.get_field("to").verbose_name)
    def to_shown(self, obj: EmailNotice) -> str:
        return escape_unsafe(", ".join(obj.to))

    @admin.display(description=EmailNotice._meta.get_field("bcc").verbose_name)
    def bcc_shown(self, obj: EmailNotice) -> str:
        return escape_unsafe(", ".join(obj.bcc)) or self.get_empty_value_display()

    @admin.display(description=EmailNotice._meta.get_field("body").verbose_name)
    def body_shown(self, obj: EmailNotice) -> str:
        # The key's title as its member typed it is in the body: each line escaped, as the other columns.
        return format_html_join(mark_safe("<br>"), "{}", ((escape_unsafe(line),) for line in obj.body.splitlines()))


# The index shows what needs attention (templates/admin/portal_index.html, keys/templatetags/attention.py).
admin.site.index_template = "admin/portal_index.html"


@admin.register(LoginLockout)
class LoginLockoutAdmin(
    ChangeListInputMixin, RowCheckboxMixin, UnknownNameSearchMixin, LiteralQuoteSearchMixin, admin.ModelAdmin
):
    """django-axes' failure counts (settings.AXES_ENABLE_ADMIN is off, so this is their only page)."""

    list_display = ["username_shown", "ip_address", "lockout_status", "failures_since_start", "attempt_time"]
    search_fields = ["username", "ip_address"]
    list_filter = ["attempt_time"]
    fields = ["username_shown", "ip_address", "failures_since_start", "attempt_time", "user_agent", "path_info"]
    readonly_fields = fields

    @admin.display(description=_("username"), ordering="username")
    def username_shown(self, obj: LoginLockout) -> str:
        return escape_unsafe(login_names.shown_name(obj.username or ""))

    actions = ["unlock_selected"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # "change" gates the Unlock action; a record itself is never edited.
        return super().has_change_permission(request, obj) if obj is None else False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # Unlock removes the records, and audits it

    @admin.display(description=_("status"))
    def lockout_status(self, obj: LoginLockout) -> str:
        left = settings.AXES_FAILURE_LIMIT - obj.failures_since_start
        if left <= 0:
            return _("Locked out")
        return ngettext("%d try left", "%d tries left", left) % left

    @admin.action(
        description=_("Unlock: forget the failed log-ins of the selected names and addresses"), permissions=["change"]
    )
    def unlock_selected(self, request, queryset) -> None:
        origin = Origin.from_request(request)
        unlocked = []
        for attempt in queryset:
            lockouts.unlock(username=attempt.username or "", ip=attempt.ip_address, actor=request.user, origin=origin)
            unlocked.append(login_names.shown_name(attempt.username) if attempt.username else attempt.ip_address)
        # A guessing run leaves thousands: the first page of them named, the rest counted.
        names = ", ".join(unlocked[:LISTED_ON_A_CONFIRMATION])
        if len(unlocked) > LISTED_ON_A_CONFIRMATION:
            more = len(unlocked) - LISTED_ON_A_CONFIRMATION
            names = f"{names} {ngettext('and %(count)d more', 'and %(count)d more', more) % {'count': more}}"
        self.message_user(
            request, _("Unlocked: %(names)s. They can log in again.") % {"names": names}, messages.SUCCESS
        )


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(ListsAPageToDeleteMixin, PermissionNamesMixin, LiteralQuoteSearchMixin, DjangoGroupAdmin):
    """Django's group admin; a group's permissions are a superuser's to give, as a user's are."""

    permissions_field = "permissions"  # read-only but for superusers (PermissionNamesMixin)
    permissions_shown = shown_permissions(Group, "permissions")

    class Media:
        js = ["portal/select-filter-names.js"]


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(
    ChangeListInputMixin,
    RowCheckboxMixin,
    AuditHistoryMixin,
    ListsAPageToDeleteMixin,
    PermissionNamesMixin,
    LiteralQuoteSearchMixin,
    DjangoUserAdmin,
):
    """Django's user admin, plus offboarding (revoke a leaver's keys and deactivate, in one action),
    unlocking a locked-out log-in, and no deleting of users the audit log points at."""

    permissions_field = "user_permissions"  # read-only but for superusers (PermissionNamesMixin)
    user_permissions_shown = shown_permissions(User, "user_permissions")

    actions = ["offboard_selected", "revoke_all_keys", "delete_selected"]
    audit_field = "subject"
    # Django's own boolean columns name their icons "True" and "False" in every language (alt text).
    list_display = ["username", "email", "first_name", "last_name", "staff_shown", "active_shown"]
    # Django's split date-time inputs have no labels, and its two-box filter widget puts aria-label on a
    # span (both fail the axe audit): the log-in dates are shown, not edited, and permissions are plain lists.
    readonly_fields = ["last_login", "date_joined"]
    filter_horizontal = ()
    change_form_template = "admin/auth/user/portal_change_form.html"
    change_password_form = PortalAdminPasswordChangeForm  # its help text in the admin's language
    and_more = staticmethod(_and_more_users)  # the users to delete, after the first page
    # Django's, sending the selection back as the list sent it (keys/selection_inputs.html).
    delete_selected_confirmation_template = "admin/auth/user/delete_selected_confirmation.html"

    @admin.display(description=User._meta.get_field("is_staff").verbose_name, ordering="is_staff")
    def staff_shown(self, obj: User) -> str:
        return _yes_no_icon(obj.is_staff)

    @admin.display(description=User._meta.get_field("is_active").verbose_name, ordering="is_active")
    def active_shown(self, obj: User) -> str:
        return _yes_no_icon(obj.is_active)

    def get_urls(self):
        unlock = path(
            "<path:object_id>/unlock/",
            self.admin_site.admin_view(self.unlock_view),
            name="auth_user_unlock",
        )
        return [unlock, *super().get_urls()]

    @admin.action(description=_("Offboard: revoke every key and deactivate"), permissions=["change"])
    def offboard_selected(self, request, queryset) -> TemplateResponse | None:
        users = list(queryset.order_by("username"))
        if any(user.pk == request.user.pk for user in users):
            self.message_user(request, _("You cannot offboard yourself; ask another admin."), messages.ERROR)
            return None
        if self._refuse_staff(request, users):
            return None
        keys = selectors.active_keys(owners=queryset).order_by("owner__username", "title")
        reason, confirmation = _confirm_revocation(
            self,
            request,
            queryset,
            title=_("Offboard these users?"),
            keys=keys,
            users=users,
            deactivating=True,
        )
        if confirmation is not None:
            return confirmation
        origin = Origin.from_request(request)
        wait = NsmlWait.of_admin()  # one wait for the whole selection, not one per user
        reports = [
            (user, offboard(user, actor=request.user, origin=origin, reason=reason, wait=wait)) for user in users
        ]
        _report_owners(self, request, reports, offboarded=True)
        return None

    @admin.action(description=_("Revoke all keys of the selected users"), permissions=["change"])
    def revoke_all_keys(self, request, queryset) -> TemplateResponse | None:
        users = list(queryset.order_by("username"))
        if self._refuse_staff(request, users):
            return None
        keys = selectors.active_keys(owners=queryset).order_by("owner__username", "title")
        reason, confirmation = _confirm_revocation(
            self, request, queryset, title=_("Revoke every key of these users?"), keys=keys, users=users
        )
        if confirmation is not None:
            return confirmation
        _report_owners(self, request, _revoke_by_owner(request, keys, reason, owners=users))
        return None

    @admin.action(description=_("Delete selected users who never held a key"), permissions=["delete"])
    def delete_selected(self, request, queryset) -> TemplateResponse | None:
        if self._refuse_staff(request, list(queryset.order_by("username"))):
            return None
        kept = selectors.users_with_history(queryset)
        if kept:
            names = _named_up_to_a_page(
                list(queryset.filter(pk__in=kept).order_by("username").values_list("username", flat=True))
            )
            self.message_user(request, f"{KEPT_FOR_HISTORY} ({names})", messages.WARNING)
        deletable = queryset.exclude(pk__in=kept)
        if not deletable.exists():
            return None
        return django_delete_selected(self, request, deletable)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and (_has_history(obj) or not _may_manage(request.user, obj)):
            return False
        return super().has_delete_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        # Staff who may change users would otherwise set a superuser's password and log in as them.
        if obj is not None and not _may_manage(request.user, obj):
            return False
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return fields
        # Only a superuser hands out powers: otherwise the change permission makes anyone a superuser.
        # (user_permissions too: PermissionNamesMixin.)
        return [*fields, "is_superuser", "groups"]

    def _refuse_staff(self, request, users) -> bool:
        refused = [user.get_username() for user in users if not _may_manage(request.user, user)]
        if refused:
            self.message_user(request, ONLY_SUPERUSERS_MANAGE_STAFF % {"names": ", ".join(refused)}, messages.ERROR)
        return bool(refused)

    def delete_view(self, request, object_id, extra_context=None):
        user = self.get_object(request, unquote(object_id))
        if user is not None and _has_history(user):
            self.message_user(request, KEPT_FOR_HISTORY, messages.WARNING)
            return redirect("admin:auth_user_change", user.pk)
        return super().delete_view(request, object_id, extra_context)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "password" in form.base_fields and obj is not None and not self.has_change_permission(request, obj):
            # Its Reset password button leads to a page that answers them 403. A copy: the field is the
            # form class's own, shared by every request.
            form.base_fields["password"] = copy.deepcopy(form.base_fields["password"])
            form.base_fields["password"].widget = PasswordSummaryWidget()
        if "is_active" in form.base_fields:
            form.base_fields["is_active"].help_text = (
                _(
                    "Unticking this deactivates the user: they can no longer log in, and every key they hold is "
                    "revoked in NSML. Users are deactivated rather than deleted, so their history stays."
                )
                if settings.KEYS_REVOKE_ON_DEACTIVATE
                else _(
                    "Unticking this deactivates the user: they can no longer log in. Their keys stay in NSML "
                    "(KEYS_REVOKE_ON_DEACTIVATE is off); the Offboard action revokes them."
                )
            )
        return form

    def change_view(self, request, object_id, form_url="", extra_context=None):
        user = self.get_object(request, unquote(object_id))
        if user is not None:
            failures = lockouts.recent_failures(user.get_username())
            extra_context = {
                **(extra_context or {}),
                "login_failures": failures,
                "locked_out": lockouts.is_locked_out(failures),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def unlock_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        user = self.get_object(request, unquote(object_id))  # None for an id no user could have, as for none
        if user is None:
            raise Http404
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        lockouts.unlock(username=user.get_username(), actor=request.user, origin=Origin.from_request(request))
        self.message_user(
            request,
            _("Failed log-ins of %(user)s are forgotten: they can log in again.") % {"user": user.get_username()},
            messages.SUCCESS,
        )
        return redirect("admin:auth_user_change", user.pk)

    def save_model(self, request, obj, form, change: bool) -> None:
        # The deactivation receiver (keys.offboarding) revokes the keys; the admin names itself as actor.
        deactivating = change and "is_active" in form.changed_data and not obj.is_active
        if deactivating:
            deactivate_as(obj, actor=request.user, origin=Origin.from_request(request))
        super().save_model(request, obj, form, change)
        if deactivating:
            # The keys' DELETEs are sent once the deactivation is committed (keys.offboarding), and so is this.
            transaction.on_commit(lambda: self._report_deactivation(request, obj))

    def _report_deactivation(self, request, user) -> None:
        report = getattr(user, "offboarding_report", None)
        if report is not None:
            _report_owner(self, request, user, report)


def _yes_no_icon(value: bool) -> str:
    """The admin's yes/no icon, its alt text in the reader's language (Django's says "True" or "False")."""
    icon, text = ("yes", gettext("Yes")) if value else ("no", gettext("No"))
    return format_html('<img src="{}" alt="{}">', static(f"admin/img/icon-{icon}.svg"), text)


def _may_manage(actor, user) -> bool:
    """A superuser manages everyone; other staff manage members and their own account, not other staff."""
    return actor.is_superuser or user.pk == actor.pk or not (user.is_staff or user.is_superuser)


def _has_history(user) -> bool:
    return bool(selectors.users_with_history(User._default_manager.filter(pk=user.pk)))
