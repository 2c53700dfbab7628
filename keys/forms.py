from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.forms import (
    AdminPasswordChangeForm,
    AuthenticationForm,
    ReadOnlyPasswordHashWidget,
    SetUnusablePasswordMixin,
)
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField
from django.utils.html import format_html, format_html_join
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from keys import member_messages
from keys.auth import audit_deactivated_log_in, one_attempt_at_a_time
from keys.services import lifetimes, tokens
from keys.sshkeys import ACCEPTED_TYPES, MAX_INPUT_BYTES, PRIVATE_KEY_MESSAGE, TOO_LONG_MESSAGE, holds_private_key
from nsml.titles import MAX_TITLE_LENGTH

# Refusals of text the portal could not read as a public key: it is not shown back (it may be a private
# key in a form no rule recognised).
UNREADABLE_KEY = frozenset({"malformed", "unsupported_type", "too_long"})
# The parameter of a refusal that quotes a line of the paste around a key that reads (keys.sshkeys.quoted_line).
QUOTED_LINE = "line"
# Refusals of a secret (a private key, an access token): the field that held it comes back empty.
SECRETS = frozenset({"private_key", "access_token"})
# An empty box on the log-in and confirm-password forms, which have novalidate (the browser's own bubble spoke the
# browser's language): named here, in the portal's. No password is checked, so nothing counts toward the lock-out.
ENTER_USERNAME = _("Enter your username.")
ENTER_PASSWORD = _("Enter your password.")


class RefusesPrivateKeys:
    """A form mixin: a field that holds private-key material is refused with the private-key message and
    comes back empty, whatever the field; so does a field a service refuses as a secret (`add_error`).
    `checked_elsewhere`: fields a service checks and audits itself, when the form is valid and reaches it.
    A form refused on its own (a null character in any field) never reaches the service: they are checked here."""

    checked_elsewhere: tuple[str, ...] = ()

    def full_clean(self) -> None:
        super().full_clean()
        if not self.is_bound:
            return
        skipped = () if self._errors else self.checked_elsewhere
        holding = [
            name
            for name in self.fields
            if name not in skipped and isinstance(self.data.get(name), str) and holds_private_key(self.data.get(name))
        ]
        if not holding:
            return
        self.data = self.data.copy()
        for name in holding:
            self.data[name] = ""
            self._errors[name] = self.error_class(
                [ValidationError(gettext(PRIVATE_KEY_MESSAGE), code="private_key")], renderer=self.renderer
            )
            self.cleaned_data.pop(name, None)

    def add_error(self, field, error) -> None:
        """Place a refusal (a service's ValidationError). A field that held a secret (a private key, an access
        token) is sent back empty, whichever check found it."""
        if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            holding = [
                name for name, errors in error.error_dict.items() if any(self.keeps_nothing_of(name, e) for e in errors)
            ]
            if holding:
                self.data = self.data.copy()
                for name in holding:
                    self.data[name] = ""
        super().add_error(field, error)

    def keeps_nothing_of(self, name: str, error: ValidationError) -> bool:
        return error.code in SECRETS


class FirstErrorFocusedField(BoundField):
    """A field rendered with `autofocus` when it is its form's first field in error."""

    def build_widget_attrs(self, attrs, widget=None):
        attrs = super().build_widget_attrs(attrs, widget)
        if self.name == self.form.first_field_in_error:
            attrs["autofocus"] = True
        return attrs


class FocusesFirstError:
    """A form mixin: after a refusal the cursor starts in the first field in error, with JavaScript off too
    (focus.js does the same where it runs); a keyboard user otherwise started from the top of the page."""

    bound_field_class = FirstErrorFocusedField

    @property
    def first_field_in_error(self) -> str | None:
        return next((name for name in self.fields if name in self.errors), None)


class LogInFocusField(BoundField):
    """A log-in form's field, rendered with `autofocus` where the member acts next (`LogInFocus`): Django puts it on
    the username always, so with JavaScript off a refused password left the cursor in the filled-in name."""

    def build_widget_attrs(self, attrs, widget=None):
        attrs = super().build_widget_attrs(attrs, widget)
        attrs["autofocus"] = self.name == self.form.focus_field  # False overrides the widget's own autofocus
        return attrs


class LogInFocus:
    """A log-in form mixin: the cursor starts in the username, or, once the form was sent and the name was not what
    it refused, in the password (empty, or wrong: a log-in refused as a whole)."""

    bound_field_class = LogInFocusField

    @property
    def focus_field(self) -> str:
        if self.is_bound and self.errors and "username" not in self.errors:
            return "password"
        return "username"


class OneAttemptAtATime:
    """A log-in form whose password check waits for any other check of the same user name (keys.auth)."""

    def clean(self):
        with one_attempt_at_a_time(self.cleaned_data.get("username")):
            return super().clean()


class SaysWhenDeactivated:
    """A log-in form that tells a deactivated member who typed their right password that their account is
    deactivated; a wrong password gets the usual refusal, so nobody learns an account's state without it.
    Django's AuthenticationForm.clean, with the password backend told to find inactive accounts too (for this
    call only: keys.oidc.PasswordBackend); confirm_login_allowed refuses them."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "inactive": _("This account is deactivated, so it cannot log in. Ask an administrator to activate it."),
    }

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            self.user_cache = authenticate(self.request, username=username, password=password, deactivated_too=True)
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def confirm_login_allowed(self, user) -> None:
        if not user.is_active:
            self.user_cache = None
            audit_deactivated_log_in(self.request, user)
            raise ValidationError(self.error_messages["inactive"], code="inactive")
        super().confirm_login_allowed(user)


class PortalAuthenticationForm(LogInFocus, OneAttemptAtATime, SaysWhenDeactivated, AuthenticationForm):
    """Django's log-in form, except that private-key material typed or pasted as the user name is refused
    before anything looks it up: no failed log-in is recorded for it (the audit and the lock-out counts
    would keep the name), and the field comes back empty. A deactivated account's right password is told so.
    An empty box is named in the portal's language (the page has novalidate)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].error_messages["required"] = ENTER_USERNAME
        self.fields["password"].error_messages["required"] = ENTER_PASSWORD

    def clean_username(self) -> str:
        username = self.cleaned_data.get("username", "")
        if holds_private_key(username):
            self.data = self.data.copy()
            self.data["username"] = ""
            raise ValidationError(gettext(PRIVATE_KEY_MESSAGE), code="private_key")
        return username


class PortalAdminAuthenticationForm(OneAttemptAtATime, SaysWhenDeactivated, AdminAuthenticationForm):
    """The admin's log-in form, with the same refusal of a private key as the user name, and a deactivated
    account's right password told so, as the portal's log-in form does."""

    # The admin's own wording of a wrong password ("...for a staff account"), with the deactivated account's.
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "inactive": SaysWhenDeactivated.error_messages["inactive"],
    }

    clean_username = PortalAuthenticationForm.clean_username


class PortalAdminPasswordChangeForm(AdminPasswordChangeForm):
    """Django's form for setting a user's password in the admin, with its help text in the admin's language.

    Django joins the translatable help text and the warning under it into one English string when it is
    imported (a lazy text plus a str), and the warning is not translatable at all: both are lazy here.
    """

    usable_password_help_text = format_lazy(
        '{}<ul id="id_unusable_warning" class="messagelist"><li class="warning">{}</li></ul>',
        SetUnusablePasswordMixin.usable_password_help_text,
        _("If disabled, the current password for this user will be lost."),
    )


class PasswordSummaryWidget(ReadOnlyPasswordHashWidget):
    """A user's password as Django's admin summarises it (algorithm, iterations...), without its *Reset
    password* button: for staff who may not change the user, to whom the password page answers 403."""

    def render(self, name, value, attrs=None, renderer=None) -> str:
        summary = self.get_context(name, value, attrs)["summary"]
        entries = format_html_join(
            " ",
            "<strong>{}</strong>{}",
            (
                (entry["label"], format_html(": <bdi>{}</bdi>", entry["value"]) if entry.get("value") else "")
                for entry in summary
            ),
        )
        return format_html("<div><p>{}</p></div>", entries)


class KeyForm(FocusesFirstError, RefusesPrivateKeys, forms.Form):
    """No rules of its own: `services.register_key` checks everything (an empty field included, so that
    a private key pasted anywhere always wins) and audits refusals; this form places its errors."""

    checked_elsewhere = ("title", "key")

    title = forms.CharField(
        label=_("Title"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}),
    )
    key = forms.CharField(
        label=_("Public key"),
        required=False,
        strip=False,
        help_text=_("The contents of your .pub file, e.g. ~/.ssh/id_ed25519.pub."),
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "autocomplete": "off"}),
    )
    # Text, not a DateField: the service judges the date (and names the allowed range), after a private key.
    expires_at = forms.CharField(label=_("Expires"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Formatted per request: `%` on a lazy string would fix the language at import time.
        self.fields["title"].help_text = gettext(member_messages.TITLE_HELP) % {"max": MAX_TITLE_LENGTH}
        self.fields["expires_at"].initial = lifetimes.default_expiry_day().isoformat()
        _limit_dates(self.fields["expires_at"], lifetimes.local_today(), lifetimes.latest_day_for_new_key())

    def keeps_nothing_of(self, name: str, error: ValidationError) -> bool:
        """A key the portal could not read as a public key is not shown back either: what it was is not known.
        A key refused for the text after it did read, and the whole paste passed the private-key and token checks
        first: it is shown back, so that the member deletes the line the refusal quotes rather than paste again."""
        if super().keeps_nothing_of(name, error):
            return True
        return name == "key" and error.code in UNREADABLE_KEY and QUOTED_LINE not in (error.params or {})

    @property
    def title_rules(self) -> dict[str, str]:
        """The title checks the page's script makes, in the member's language: too-long -> message."""
        return {
            code.replace("_", "-"): gettext(message) % {"max": MAX_TITLE_LENGTH}
            for code, message in member_messages.TITLE_MESSAGES.items()
        }

    @property
    def key_too_long(self) -> str:
        """The server's refusal of a paste over max_key_bytes, which the page's script makes before sending it:
        a paste past Django's request size limit was otherwise a bare 400 page, and the form was lost."""
        return gettext(TOO_LONG_MESSAGE) % {"max_kib": MAX_INPUT_BYTES // 1024}

    max_title_length = MAX_TITLE_LENGTH
    max_key_bytes = MAX_INPUT_BYTES
    accepted_types = ACCEPTED_TYPES


class ExpiryForm(FocusesFirstError, RefusesPrivateKeys, forms.Form):
    """A member's new expiry for one of their keys; `services.change_expiry` judges it."""

    expires_at = forms.CharField(label=_("Expires"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, key, **kwargs):
        super().__init__(*args, **kwargs)
        first, last = lifetimes.member_expiry_range(key)
        if key.expires_at is not None:
            self.fields["expires_at"].initial = lifetimes.local_day(key.expires_at).isoformat()
        _limit_dates(self.fields["expires_at"], first, last)


def _limit_dates(field: forms.Field, first, last) -> None:
    """The date picker offers the allowed days only; the help says which and in what time zone."""
    field.widget.attrs["min"] = first.isoformat()
    if last is not None:
        field.widget.attrs["max"] = last.isoformat()
        help_text = gettext(member_messages.EXPIRY_HELP) % {"zone": settings.TIME_ZONE, "days": (last - first).days}
    else:
        help_text = gettext(member_messages.EXPIRY_HELP_NO_MAXIMUM) % {"zone": settings.TIME_ZONE}
    field.help_text = help_text


class ConfirmPasswordForm(forms.Form):
    """The member's own password, checked like a log-in: wrong ones count toward the lock-out."""

    password = forms.CharField(
        label=_("Password"),
        strip=False,
        error_messages={"required": ENTER_PASSWORD},
        # The only field, and what the member came here to type: the cursor starts in it.
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def __init__(self, request, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        username = self.request.user.get_username()
        with one_attempt_at_a_time(username):
            user = authenticate(self.request, username=username, password=password)
        if user is None or user.pk != self.request.user.pk:
            raise ValidationError(_("That is not your password. Try again."), code="wrong_password")
        return password


class TokenForm(FocusesFirstError, RefusesPrivateKeys, forms.Form):
    """A new access token: a name and a lifetime; `services.tokens.create_token` checks both."""

    name = forms.CharField(
        label=_("Token name"),
        required=False,
        help_text=_("What the token is for, e.g. provisioning script. It is shown in the audit log."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    days = forms.IntegerField(label=_("Expires after (days)"))

    def __init__(self, *args, max_days: int, **kwargs):
        super().__init__(*args, **kwargs)
        # min and max stay for the keyboard and the arrows; the form has novalidate (the browser's own bubbles speak
        # the browser's language, not the portal's), so an empty box, a fraction or letters (which a browser sends
        # as empty) get the range, in the portal's language, from here.
        self.fields["days"].widget.attrs.update({"min": 1, "max": max_days})
        self.fields["days"].help_text = gettext("From 1 to %(max)d days.") % {"max": max_days}
        out_of_range = gettext("A token can last from 1 to %(max)d days.") % {"max": max_days}
        self.fields["days"].error_messages.update({"required": out_of_range, "invalid": out_of_range})

    def clean(self):
        """A lifetime this form refuses (empty, not a number) keeps the form from the service, which checks the
        name: the name's refusal is asked here too, so both fields' errors show at once, not one per try."""
        cleaned = super().clean()
        if "days" in self._errors and "name" not in self._errors:
            refusal = tokens.name_refusal(cleaned.get("name", "").strip())
            if refusal is not None:
                # As a service's dict, so that a secret typed as the name comes back empty (RefusesPrivateKeys).
                raise ValidationError({"name": refusal})
        return cleaned
