"""What a member reads when the portal or NSML says no: one table per kind of refusal or failure.

Lazy strings, translated when shown. Services pick the message; forms and views only place it.
"""

from __future__ import annotations

import math

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, npgettext, pgettext, pgettext_lazy

from nsml.client import MAX_ADVISED_RETRY_AFTER_SECONDS, Failure

TITLE_MESSAGES = {
    "required": _("Enter a title."),
    "too_long": _("The title can be at most %(max)d characters long."),
    "characters": _("Use only English letters, digits and hyphens (-) in the title."),
    "first_letter": _("The title must begin with an English letter."),
    "double_hyphen": _("The title cannot contain two hyphens in a row (--)."),
}
# Code title_characters, for a character the member cannot see (copied from a chat): "U+200B ZERO WIDTH SPACE".
TITLE_HIDDEN_CHARACTER = _(
    "The title contains an invisible character (%(character)s), often copied along from a chat or a web page. "
    "Type the title again, using only English letters, digits and hyphens (-)."
)
TITLE_HELP = _("Up to %(max)d English letters, digits and hyphens; begins with a letter; no two hyphens in a row.")

PENDING_MESSAGE = _(
    "Your earlier attempt to register this key is still being checked with NSML. "
    "Wait a moment, then look at My keys, before you submit it again."
)
# Another key of the member's, under the title this one asks for, is still pending: this key was never sent.
PENDING_TITLE_MESSAGE = _(
    "Your key “%(title)s” is still being checked with NSML. Wait a moment and look at My keys before you use "
    "this title again, or choose another title."
)
DUPLICATE_MESSAGES = {
    "own_title": _("You already have an active key titled “%(title)s”. Choose another title."),
    "other_title": _("This title is already in use. Choose another title."),
    "own_key": _("This key is already registered as your key “%(title)s”."),
    # The member's own key, still being revoked: NSML may hold it until the portal's DELETE is confirmed.
    "revoking_title": _(
        "Your key “%(title)s” is still being revoked; you can use its title again once NSML confirms it is gone "
        "(the portal keeps trying by itself). Choose another title to add this key now."
    ),
    "revoking_key": _(
        "This key is still being revoked as your key “%(title)s”; you can add it again once NSML confirms it is "
        "gone (the portal keeps trying by itself)."
    ),
    "other_key": _(
        "This key is already registered, or being registered, by another member. If it is yours, ask an administrator."
    ),
}


# The key pasted on a key's Rotate page is that key itself: "already registered as your key" did not say what to do.
ROTATE_SAME_KEY = _(
    "This is the key you are replacing. Paste the public key of your new key pair: make one with "
    "ssh-keygen -t ed25519 and paste its .pub file."
)


# When a message asks the member to try again and NSML named no time (no Retry-After, or one it could not read).
TRY_IN_A_MINUTE = pgettext_lazy("try again", "in a minute")
TRY_LATER = pgettext_lazy("try again", "later")
UNSAID_WAITS = {str(Failure.THROTTLED): TRY_IN_A_MINUTE}


def try_again_when(retry_after: float | None, *, unsaid=TRY_IN_A_MINUTE) -> str:
    """How long NSML asked to wait (its Retry-After), as a member reads it: seconds under a minute, whole
    minutes otherwise, each rounded up (a member who waits as told never comes back too early)."""
    if retry_after is None:
        return str(unsaid)
    if retry_after >= MAX_ADVISED_RETRY_AFTER_SECONDS:
        # The client caps what NSML asked at an hour: "in 60 minutes" would send back too early whoever was told
        # to wait two hours.
        return pgettext("try again", "in an hour or more")
    seconds = max(1, math.ceil(retry_after))
    if seconds < 60:
        return npgettext("try again", "in %(count)d second", "in %(count)d seconds", seconds) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    return npgettext("try again", "in %(count)d minute", "in %(count)d minutes", minutes) % {"count": minutes}


UPSTREAM_MESSAGES = {
    Failure.REJECTED: _(
        "NSML refused the key, so it was not registered. An administrator can see NSML's reason in the audit log."
    ),
    Failure.CREDENTIALS: _(
        "The portal could not sign in to NSML, so your key was not registered. Please tell an administrator."
    ),
    Failure.PERMISSION: _(
        "The portal is not allowed to manage keys in NSML, so your key was not registered. "
        "Please tell an administrator."
    ),
    Failure.NOT_FOUND: _(
        "The portal could not find NSML's key service, so your key was not registered. Please tell an administrator."
    ),
    # %(when)s: how long NSML asked to wait (try_again_when), or "in a minute" / "later" when it did not say.
    Failure.THROTTLED: _("NSML is busy right now, so your key was not registered. Please try again %(when)s."),
    Failure.UNAVAILABLE: _(
        "NSML is not available right now, so your key was not registered. Please try again %(when)s."
    ),
    Failure.BAD_RESPONSE: _(
        "NSML gave an answer the portal could not read, so your key was not registered. Please try again later."
    ),
    Failure.UNREACHABLE: _("The portal could not reach NSML, so your key was not registered. Please try again later."),
    # No answer: none in time, or the connection closed without one (at once, as a dropped call does).
    Failure.NO_ANSWER: _("NSML did not answer, and your key is not registered. You can try again."),
}
# What went wrong with a call to NSML, for an admin: the reconciler's failed pass, *Check NSML now*.
FAILURE_NAMES = {
    Failure.REJECTED: _("NSML refused the request"),
    Failure.CREDENTIALS: _("NSML refused the portal's credentials"),
    Failure.PERMISSION: _("the NSML subscription or permission is missing"),
    Failure.NOT_FOUND: _("NSML answered that it was not found"),
    Failure.THROTTLED: _("NSML is busy"),
    Failure.UNAVAILABLE: _("NSML is not available"),
    Failure.BAD_RESPONSE: _("NSML's answer could not be read"),
    Failure.UNREACHABLE: _("NSML could not be reached"),
    Failure.NO_ANSWER: _("NSML did not answer in time"),
}
NSML_DUPLICATE_MESSAGES = {
    "title": _("NSML already holds a key titled “%(title)s”. Choose another title."),
    "key": _("NSML already holds this key under another title. If it is yours, ask an administrator."),
}
# Why a key is `failed` (RegisteredKey.failure): the form's sentence, which the key's page repeats. A Failure's
# value, NSML holding the title or key already, or the reconciler not finding a key whose outcome was unknown.
FAILED_KEY_MESSAGES = {
    **{str(failure): message for failure, message in UPSTREAM_MESSAGES.items()},
    "duplicate_title": NSML_DUPLICATE_MESSAGES["title"],
    "duplicate_key": NSML_DUPLICATE_MESSAGES["key"],
    "not_held_after_grace": _(
        "NSML never confirmed this key, and a later check found that NSML does not hold it, so it is not "
        "registered. You can add it again."
    ),
}
# Keys that failed before the portal recorded why.
FAILED_KEY_FALLBACK = _("NSML did not register this key. You can add it again.")


# The key's page, read later: a wait that was "right now" when the form said it is over by then.
FAILED_KEY_PAGE_MESSAGES = {
    str(Failure.THROTTLED): _(
        "NSML was busy when this key was submitted, so it was not registered. You can add it again."
    ),
    str(Failure.UNAVAILABLE): _(
        "NSML was not available when this key was submitted, so it was not registered. You can add it again."
    ),
}


def failed_key_page_message(failure: str, *, title: str) -> str:
    """Why a failed key is not registered, as its page says it at any time after the submission."""
    if failure in FAILED_KEY_PAGE_MESSAGES:
        return str(FAILED_KEY_PAGE_MESSAGES[failure])
    return failed_key_message(failure, title=title)


def failed_key_message(failure: str, *, title: str, retry_after: float | None = None) -> str:
    """`retry_after`: the seconds NSML's answer asked to wait, for the form's message; the key's page, shown
    later, has none and says the usual wait."""
    when = try_again_when(retry_after, unsaid=UNSAID_WAITS.get(failure, TRY_LATER))
    return str(FAILED_KEY_MESSAGES.get(failure, FAILED_KEY_FALLBACK)) % {"title": title, "when": when}


JOINED_NOTICE = _(
    "Your key came wrapped over several lines, so the portal joined them into one. Compare the fingerprint "
    "below with what ssh-keygen -lf prints for your .pub file."
)
REGISTERED_MESSAGE = _("Your key “%(title)s” is registered with NSML.")
NEXT_STEPS = _(
    "What next: NSML now accepts the matching private key on your computer; your SSH tools use it from ~/.ssh "
    "by themselves. Compare the fingerprint below with ssh-keygen -lf to be sure it is the key you meant."
)
PENDING_NOTICE = _(
    "NSML has not confirmed your key “%(title)s” yet. The portal keeps checking by itself; this page shows "
    "the result. There is no need to submit it again."
)
# NSML registered the key, and a revocation (an administrator's) reached it before NSML's answer did.
REVOKED_MEANWHILE_NOTICE = _(
    "NSML registered your key “%(title)s”, but it was revoked while NSML answered; this page shows the details."
)

REVOKE_MESSAGES = {
    Failure.REJECTED: _(
        "NSML refused to revoke the key, so it is still active. An administrator can see NSML's reason in the "
        "audit log."
    ),
    Failure.CREDENTIALS: _(
        "The portal could not sign in to NSML, so the key is still active. Please tell an administrator."
    ),
    Failure.PERMISSION: _(
        "The portal is not allowed to manage keys in NSML, so the key is still active. Please tell an administrator."
    ),
    Failure.THROTTLED: _("NSML is busy right now, so the key is still active. Please try again %(when)s."),
}
REVOKE_FALLBACK_MESSAGE = _("NSML could not be asked to revoke the key, so it is still active. Please try again later.")
REVOKED_MESSAGE = _("Your key “%(title)s” is revoked; NSML no longer accepts it.")
REVOKING_NOTICE = _(
    "NSML has not confirmed yet that the key “%(title)s” is gone. The portal keeps trying by itself and "
    "shows it as revoked once NSML confirms."
)
ALREADY_REVOKING = _("This key is already being revoked.")
# Why a key that is not active cannot be revoked, by its status (its revoke page, a revoke sent from a page
# that was out of date, the API's 409).
NOT_REVOCABLE = {
    "revoking": ALREADY_REVOKING,
    "revoked": _("This key is already revoked."),
    "pending": _(
        "NSML has not confirmed this key yet, so it cannot be revoked now. The portal checks again by itself; "
        "revoke it once it is active."
    ),
    "failed": _("NSML never registered this key, so there is nothing to revoke."),
}
ONLY_ACTIVE_REVOCABLE = _("Only an active key can be revoked.")
EXPIRY_FIXED_MESSAGE = _(
    "The expiry of “%(title)s” can no longer change: the key is revoked or being revoked, or NSML never registered it."
)


def not_revocable(key) -> str:
    """Why `key` (not active) cannot be revoked, in the member's words."""
    return str(NOT_REVOCABLE.get(key.status, ONLY_ACTIVE_REVOCABLE))


def submission_limit_message(retry_after: int) -> str:
    return ngettext(
        "You have sent keys to NSML too often in a short time, so this one was not sent. What you typed is "
        "kept: submit it again in %(seconds)d second.",
        "You have sent keys to NSML too often in a short time, so this one was not sent. What you typed is "
        "kept: submit it again in %(seconds)d seconds.",
        retry_after,
    ) % {"seconds": retry_after}


# A key's expiry date (keys/services/lifetimes.py): each refusal names the dates that are allowed.
EXPIRY_MESSAGES = {
    "range": _("Choose an expiry date from %(first)s to %(last)s."),
    "from": _("Choose an expiry date from %(first)s on, or leave it empty for a key that never expires."),
    "invalid": _("Enter the expiry date as YYYY-MM-DD."),
}
EXPIRY_HELP = _("The key stops working at the end of this day (%(zone)s). At most %(days)d days from today.")
EXPIRY_HELP_NO_MAXIMUM = _("The key stops working at the end of this day (%(zone)s). Leave it empty: never.")

ROTATED_MESSAGE = _("Your new key “%(title)s” is registered, and the old key “%(old)s” is revoked.")
ROTATE_PENDING_NOTICE = _(
    "NSML has not confirmed your new key “%(title)s” yet, so the old key “%(old)s” is still active. "
    "Revoke it yourself once the new key works."
)
# A rotation's new key that a revocation (an administrator's) reached before NSML's answer did: the old key stays.
ROTATE_NEW_REVOKED_NOTICE = _(
    "NSML registered your new key “%(title)s”, but it was revoked while NSML answered, so the old key “%(old)s” "
    "is still active; this page shows the details."
)
# The reason is FAILURE_NAMES', not REVOKE_MESSAGES' ("so it is still active"): the old key is left revoking.
ROTATE_REVOKE_FAILED = _(
    "Your new key “%(title)s” is registered, but the old key “%(old)s” could not be revoked yet (%(reason)s). "
    "It is marked as being revoked, and the portal keeps trying by itself."
)
ROTATE_REVOKING_NOTICE = _(
    "Your new key “%(title)s” is registered. NSML has not confirmed yet that the old key “%(old)s” is gone; "
    "the portal keeps trying by itself."
)
EXPIRY_CHANGED_MESSAGE = _("The key “%(title)s” now expires at the end of %(day)s.")
EXPIRY_REMOVED_MESSAGE = _("The key “%(title)s” no longer expires.")
TOKEN_FORM_SENT_AGAIN = _(
    "This form was sent again (the page was reloaded, or sent again from the browser's history), so no second "
    "token was made. Your token “%(name)s” was made the first time, and its secret was shown only then. If you "
    "did not copy it, revoke it and make a new one."
)
