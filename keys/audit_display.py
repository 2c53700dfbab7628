"""An audit row's reason code and detail in the reader's language, for the admin.

Rows are written in English and never rewritten (the log is append-only): the admin translates them as it
shows them. A reason is a code from a known list; a detail is one or more phrases joined by "; ", each
written by the portal from a known pattern, or NSML's own words. A phrase that matches no pattern (NSML's
answer, text a person typed) is shown as stored.
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.utils.translation import get_language, gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from keys.member_messages import FAILURE_NAMES
from keys.models import ExpiryNotice, RefusalWindow, RegisteredKey, UnmanagedKey

REASON_NAMES = {
    **{str(failure): name for failure, name in FAILURE_NAMES.items()},
    **{str(reason): reason.label for reason in RefusalWindow.Reason},
    **{str(kind): kind.label for kind in ExpiryNotice.Kind},
    "password": _("password log-in"),
    "single_sign_on": _("single sign-on"),
    "oidc": _("OpenID Connect log-in"),
    "bad_credentials": _("wrong user name or password"),
    "invalid_sso_header": _("the single sign-on header named no one valid user"),
    "oidc_refused": _("refused by OpenID Connect"),
    "inactive_oidc_user": _("inactive OpenID Connect user"),
    "failure_limit": _("too many failed log-ins"),
    "csv": _("CSV file"),
    "created": _("account created"),
    "staff_granted": _("made staff"),
    "staff_removed": _("no longer staff"),
    "superuser_granted": _("made superuser"),
    "superuser_removed": _("no longer superuser"),
    "activated": _("activated"),
    "deactivated": _("deactivated"),
    "password_set": _("a new password was set"),
    "password_unusable": _("password log-in turned off"),
    "password_confirmed": _("password confirmed"),
    "unsettled": _("not settled yet"),
    "settled_by_lookup": _("settled by a lookup in NSML"),
    "settled_absent": _("a lookup found NSML does not hold it"),
    "found_upstream": _("the reconciler found it in NSML"),
    "not_found_after_grace": _("not in NSML after the waiting time"),
    "missing_upstream": _("NSML no longer had this key"),
    "unmanaged": _("a key nobody registered here"),
    "owner_deactivated": _("its member was deactivated"),
    "attached": _("NSML holds it after all"),
    "confirmed_absent": _("NSML's list confirms it is gone"),
    "unconfirmed": _("not confirmed by NSML yet"),
    "delete_refused": _("the reconciler's DELETE did not go through"),
    "expired": _("expired"),
    "rotated": _("replaced by a new key"),
    "rate_limited": _("too many submissions"),
}
_OLD_KEY = re.compile(r"old_key_(?P<status>\w+)")


def reason_name(code: str) -> str:
    """The reason's name in the active language, or "" for a code with none (a refusal's code, say)."""
    if code in REASON_NAMES:
        return str(REASON_NAMES[code])
    if old := _OLD_KEY.fullmatch(code):
        return gettext("the old key is still %(status)s") % {"status": _status(RegisteredKey.Status, old["status"])}
    return ""


# Each phrase the portal writes into a detail, as a pattern of the stored English and its translation.
PHRASES = [
    (
        r"SSO via (?P<header>\S+): not one valid user name",
        _("single sign-on through %(header)s: not one valid user name"),
    ),
    (r"SSO via (?P<header>\S+)", _("single sign-on through %(header)s")),
    (r"OIDC via (?P<provider>.+)", _("OpenID Connect through %(provider)s")),
    (r"the provider's session is ended too", _("the provider's session is ended too")),
    (r"the provider has no end-session", _("the provider has no end-session")),
    (
        r"refusals like this for (?P<minutes>\d+) minutes are counted in its refused log-ins window",
        _("refusals like this for %(minutes)s minutes are counted in its refused log-ins window"),
    ),
    (
        r"(?P<limit>\d+) failed log-ins for this username or from (?P<address>\S+)",
        _("%(limit)s failed log-ins for this username or from %(address)s"),
    ),
    (r"log-ins refused for (?P<minutes>\d+) minutes", _("log-ins refused for %(minutes)s minutes")),
    (r"username=(?P<username>.*) address=(?P<address>\S+)", _("user name %(username)s, address %(address)s")),
    (r"(?P<count>\d+) failure record\(s\) removed", _("%(count)s failure record(s) removed")),
    (r"(?P<count>\d+) rows", _("%(count)s rows")),
    (r"admin action, all filtered rows", _("admin action, all filtered rows")),
    (r"admin action, selected rows", _("admin action, selected rows")),
    (r"export link", _("export link")),
    (r"filters: none", _("filters: none")),
    (r"filters: (?P<filters>.+)", _("filters: %(filters)s")),
    (r"expires (?P<moment>[\d-]+ [\d:]+) UTC", _("expires %(moment)s UTC")),
    (r"not sent: the member has no email address", _("not sent: the member has no email address")),
    (
        r"sent from the outbox after the mail server refused it",
        _("sent from the outbox after the mail server refused it"),
    ),
    (
        r"not sent: the mail server did not take it within 2 days",
        _("not sent: the mail server did not take it within 2 days"),
    ),
    (r"expiry (?P<before>\S+) -> (?P<after>\S+)", _("expiry %(before)s → %(after)s")),
    (r"reason given: (?P<reason>.*)", _("reason given: %(reason)s")),
    (r"deactivated", _("deactivated")),
    (r"NSML no longer had this key", _("NSML no longer had this key")),
    (
        r"the list that confirms it failed: (?P<error>.*) \(list trace id (?P<trace>\S+)\)",
        _("the list that confirms it failed: %(error)s (list trace id %(trace)s)"),
    ),
    (r"the list that confirms it failed: (?P<error>.*)", _("the list that confirms it failed: %(error)s")),
    (
        r"the pass's wait for NSML ran out before the list that confirms it",
        _("the pass's wait for NSML ran out before the list that confirms it"),
    ),
    (
        r"the next reconcile pass lists NSML again, and sends the DELETE again if NSML still holds the key",
        _("the next reconcile pass lists NSML again, and sends the DELETE again if NSML still holds the key"),
    ),
    (
        r"confirmed by a reconcile pass: NSML no longer lists the key",
        _("confirmed by a reconcile pass: NSML no longer lists the key"),
    ),
    (r"asked from (?P<address>\S+)", _("asked from %(address)s")),
    (r"found in NSML by a reconcile pass", _("found in NSML by a reconcile pass")),
    (r"submitted from (?P<address>\S+)", _("submitted from %(address)s")),
    (r"NSML still lists the key after the DELETE", _("NSML still lists the key after the DELETE")),
    (
        r"NSML still lists the key after the DELETE \(list trace id (?P<trace>\S+)\)",
        _("NSML still lists the key after the DELETE (list trace id %(trace)s)"),
    ),
    (
        r"the reconciler sends the DELETE again after (?P<moment>[\d-]+ [\d:]+) UTC",
        _("the reconciler sends the DELETE again after %(moment)s UTC"),
    ),
    (
        r"the expiry job sends the DELETE again after (?P<moment>[\d-]+ [\d:]+) UTC",
        _("the expiry job sends the DELETE again after %(moment)s UTC"),
    ),
    (
        r"not sent yet: the keys before it used up the wait for NSML, so the reconciler sends the DELETE",
        _("not sent yet: the keys before it used up the wait for NSML, so the reconciler sends the DELETE"),
    ),
    (
        r"its member is deactivated, so the key stays being revoked and the reconciler sends the DELETE again",
        _("its member is deactivated, so the key stays being revoked and the reconciler sends the DELETE again"),
    ),
    (
        r"the DELETE used up the member's wait, and the list had (?P<seconds>[\d.]+) s",
        _("the DELETE used up the member's wait, and the list had %(seconds)s s"),
    ),
    (
        r"NSML holds key (?P<name>\S+), which the portal did not register",
        _("NSML holds key %(name)s, which the portal did not register"),
    ),
    (
        r"NSML holds key (?P<name>\S+) again \(it was (?P<unmanaged>\w+) here\), which the portal did not register",
        _("NSML holds key %(name)s again (it was %(unmanaged)s here), which the portal did not register"),
    ),
    (
        r"NSML holds this submission, but its member was deactivated: revoked instead of activated",
        _("NSML holds this submission, but its member was deactivated: revoked instead of activated"),
    ),
    (
        r"NSML did not hold the key (?P<seconds>\d+) s after it was submitted",
        _("NSML did not hold the key %(seconds)s s after it was submitted"),
    ),
    (
        r"NSML holds the key this submission sent, although the portal had recorded it as not registered",
        _("NSML holds the key this submission sent, although the portal had recorded it as not registered"),
    ),
    (r"NSML answered (?P<code>\d+|nothing) \((?P<answer>.*)\)", _("NSML answered %(code)s (%(answer)s)")),
    (r"a lookup found the key", _("a lookup found the key")),
    (r"the lookup that should settle it failed too", _("the lookup that should settle it failed too")),
    (
        r"a lookup did not find it yet, and NSML may still be storing it",
        _("a lookup did not find it yet, and NSML may still be storing it"),
    ),
    (
        r"the create used up the member's wait, and the lookup had (?P<seconds>[\d.]+) s",
        _("the create used up the member's wait, and the lookup had %(seconds)s s"),
    ),
    (
        r"replaces key #(?P<pk>\d+) “(?P<title>.*)” \((?P<fingerprint>[^)]*)\), now (?P<status>\w+)",
        _("replaces key #%(pk)s “%(title)s” (%(fingerprint)s), now %(status)s"),
    ),
    (
        r"(?P<field>is_staff|is_superuser|is_active): (?P<before>True|False) → (?P<after>True|False)",
        "%(field)s: %(before)s → %(after)s",
    ),
    (
        # A new account as keys.account_audit records it.
        r"active=(?P<active>True|False) staff=(?P<staff>True|False) superuser=(?P<superuser>True|False) "
        r"password=(?P<password>set|unusable)",
        _("active: %(active)s, staff: %(staff)s, superuser: %(superuser)s, password: %(password)s"),
    ),
    (r"a new password was set", _("a new password was set")),
    (
        r"password log-in turned off \(unusable password\)",
        _("password log-in turned off (unusable password)"),
    ),
    (r"more than (?P<rate>\S+) submissions to NSML", _("more than %(rate)s submissions to NSML")),
    (
        r"revoked on upgrade: the account was deactivated before that revoked its tokens",
        _("revoked on upgrade: the account was deactivated before that revoked its tokens"),
    ),
    (r"before (?P<path>/\S*)", _("before %(path)s")),
    # What the NSML client writes when a call never got an answer (nsml/client.py).
    (r"TLS handshake with NSML failed", _("TLS handshake with NSML failed")),
    (r"connecting to NSML timed out", _("connecting to NSML timed out")),
    (r"NSML did not answer within the read timeout", _("NSML did not answer within the read timeout")),
    (r"NSML's host name could not be resolved", _("NSML's host name could not be resolved")),
    (r"connection to NSML refused", _("connection to NSML refused")),
    (
        r"connection to the proxy refused \(HTTPS_PROXY or HTTP_PROXY\)",
        _("connection to the proxy refused (HTTPS_PROXY or HTTP_PROXY)"),
    ),
    (r"connection to NSML lost \((?P<error>\w+)\)", _("connection to NSML lost (%(error)s)")),
    # What it writes when an answer came but could not be used (nsml/client.py: _read, _parse_body, list_keys).
    (
        r"(?P<kind>an HTML page|HTTP \d+) where NSML answers (?P<success>\d+) \((?P<answer>.*)\)",
        _("%(kind)s where NSML answers %(success)s (%(answer)s)"),
    ),
    (
        r"(?P<kind>an HTML page|HTTP \d+) where NSML answers (?P<success>\d+)",
        _("%(kind)s where NSML answers %(success)s"),
    ),
    (r"HTTP (?P<code>\d+) with an empty body", _("HTTP %(code)s with an empty body")),
    (
        r"HTTP (?P<code>\d+): answer is not JSON \((?P<content_type>.+), (?P<size>\d+) bytes\)",
        _("HTTP %(code)s: answer is not JSON (%(content_type)s, %(size)s bytes)"),
    ),
    (r"HTTP (?P<code>\d+): JSON without an error object", _("HTTP %(code)s: JSON without an error object")),
    (
        r"key list not in the documented shape \((?P<exception>.*)\)",
        _("key list not in the documented shape (%(exception)s)"),
    ),
    (
        r"the key list holds (?P<held>\d+) keys but its totalCount says (?P<total>\d+)",
        _("the key list holds %(held)s keys but its totalCount says %(total)s"),
    ),
]
_PHRASES = [(re.compile(pattern), template) for pattern, template in PHRASES]


# The language rows are written in: a reader of it reads the detail as stored.
RECORDED_IN = "en"


def detail_shown(detail: str) -> str:
    """The detail in the active language, phrase by phrase; what matches no phrase stays as stored."""
    if not detail or (get_language() or RECORDED_IN).split("-")[0] == RECORDED_IN:
        return detail
    return "; ".join(_phrase(part) for part in detail.split("; "))


def _phrase(text: str) -> str:
    for pattern, template in _PHRASES:
        if found := pattern.fullmatch(text):
            return str(template) % {name: _value(name, value) for name, value in found.groupdict().items()}
    return text


# A new account's password, as its audit row names it ("password=set").
PASSWORD_STATES = {
    "set": pgettext_lazy("a new account's password", "set"),
    "unusable": pgettext_lazy("a new account's password", "unusable (no password log-in)"),
}


def _value(name: str, value: str) -> str:
    """A placeholder's value as the reader reads it: the words and codes of the pattern translated."""
    if name in ("before", "after", "active", "staff", "superuser") and value in ("True", "False"):
        return gettext("Yes") if value == "True" else gettext("No")
    if name == "password" and value in PASSWORD_STATES:
        return str(PASSWORD_STATES[value])
    if name in ("before", "after") and value == "never":
        return gettext("never")
    if name == "field":
        return str(get_user_model()._meta.get_field(value).verbose_name)
    if name == "status":
        return _status(RegisteredKey.Status, value)
    if name == "unmanaged":
        return _status(UnmanagedKey.Status, value)
    if name == "code" and value == "nothing":
        return gettext("nothing")
    if name == "kind" and value == "an HTML page":
        return gettext("an HTML page")
    if name == "content_type" and value == "no content type":
        return gettext("no content type")
    if name == "reason" and value == RegisteredKey.MEMBER_DEACTIVATED:
        return gettext(value)  # the portal's own; an admin's reason stays as typed
    if name == "answer":
        return _phrase(value)  # NSML's words as sent, or the client's own about an answer it could not read
    if name == "error" and (failed := _FAILED_CALL.fullmatch(value)) and failed["failure"] in _FAILURES:
        return f"{_FAILURES[failed['failure']]} ({_phrase(failed['detail'])})"
    return value


# A failed NSML call as the portal writes it into a detail (str(NsmlError)): "NSML <failure>: <its detail>".
_FAILED_CALL = re.compile(r"NSML (?P<failure>[a-z_]+): (?P<detail>.*)")
_FAILURES = {str(failure): name for failure, name in FAILURE_NAMES.items()}


def _status(choices, code: str) -> str:
    return str(choices(code).label) if code in choices.values else code
