"""Personal access tokens for the API: create (the secret is shown once), verify, revoke.

A secret is `nsmlk_` and 43 URL-safe characters (32 random bytes). Only its SHA-256 is stored, with its
first characters as a prefix that tells tokens apart on the page and in the audit log. A token works
until it expires, is revoked, or its user is deactivated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext, gettext_noop

from keys.audit import Origin, record_event
from keys.models import ApiToken, AuditEvent
from keys.selectors import live_tokens_of
from keys.sshkeys import PRIVATE_KEY_MESSAGE, holds_private_key
from portal.logs import TOKEN_SECRET

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SECRET_PREFIX = "nsmlk_"
PREFIX_LENGTH = len(SECRET_PREFIX) + 8
TOKEN_SECRET_MESSAGE = gettext_noop(
    "This is an access token, a secret that belongs only in the Authorization header. Nothing was kept. "
    "If you have shared it anywhere, revoke the token on the Access tokens page."
)
MAX_NAME_LENGTH = 64
# How long the page that showed a new secret can still have it shown again, in the language its header switches
# to (seal_secret): the member reads the page, then switches.
RESEAL_SECONDS = 600
# last_used_at is written at most this often per token: a script calling in a loop costs no write per call.
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, to whoever created it; never stored


def holds_token_secret(text: str) -> bool:
    """True when `text` carries a token's secret: pasted into a title, a key or a token's name by mistake
    (a script's arguments swapped), where it would be stored, audited and logged."""
    return bool(TOKEN_SECRET.search(text))  # the pattern the log filter cuts out


def cut_to_prefixes(text: str) -> str:
    """`text` with each token secret in it cut to its token's prefix: what the token list and the audit log show."""
    return TOKEN_SECRET.sub(lambda found: found.group()[:PREFIX_LENGTH], text)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def name_refusal(name: str) -> ValidationError | None:
    """Why a new token may not have this name (already stripped), or None; whether it is taken is checked
    as the token is stored. Also asked by the token form when it refuses the lifetime before this module sees it."""
    if not name:
        return ValidationError(gettext("Enter a name for the token."), code="name_required")
    if holds_private_key(name):
        # A name is stored, audited and put in the origin of every call made with the token.
        return ValidationError(gettext(PRIVATE_KEY_MESSAGE), code="private_key")
    if holds_token_secret(name):
        return ValidationError(gettext(TOKEN_SECRET_MESSAGE), code="access_token")
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        message = gettext("Use at most %(max)d printable characters for the name.") % {"max": MAX_NAME_LENGTH}
        return ValidationError(message, code="name_invalid")
    return None


def create_token(*, user: User, name: str, days: int, origin: Origin, actor: User | None = None) -> NewToken:
    """A new token for `user`, valid `days` days (1 to API_TOKEN_MAX_DAYS). Raises ValidationError
    ({field: [error with code]}) for a name or a lifetime the portal refuses."""
    name = name.strip()
    errors = {}
    if refusal := name_refusal(name):
        errors["name"] = refusal
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        message = gettext("A token can last from 1 to %(max)d days.") % {"max": settings.API_TOKEN_MAX_DAYS}
        errors["days"] = ValidationError(message, code="days_out_of_range")
    if errors:
        raise ValidationError(errors)

    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        # The user's row locked while the name is checked and the token stored: two creations of one name
        # at once (a provisioning script run twice) would otherwise both find it free (PostgreSQL).
        list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
        if live_tokens_of(user).filter(name=name).exists():
            message = gettext("You already have a token with this name. Choose another name.")
            raise ValidationError({"name": ValidationError(message, code="duplicate_name")})
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[:PREFIX_LENGTH],
            secret_sha256=hash_secret(secret),
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        record_event(
            action=AuditEvent.Action.TOKEN_CREATE,
            outcome=AuditEvent.Outcome.SUCCESS,
            actor=actor or user,
            subject=user,
            origin=origin,
            title=name,
            fingerprint=token.prefix,
            detail=f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC",
        )
    return NewToken(token=token, secret=secret)


def find_token(secret: str) -> ApiToken | None:
    """The usable token whose secret this is, with its user; None for anything else (unknown, wrong,
    expired, revoked, or a deactivated user), without saying which. Its use is noted by `note_use`, once the
    caller acts as the token's user (the first use's audit line names them)."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 128:
        return None
    digest = hash_secret(secret)
    found = None
    for candidate in ApiToken.objects.filter(prefix=secret[:PREFIX_LENGTH]).select_related("user"):
        if hmac.compare_digest(candidate.secret_sha256, digest):
            found = candidate
    if found is None or not found.is_usable or not found.user.is_active:
        return None
    return found


def note_use(token: ApiToken, *, origin: Origin) -> None:
    """The token was used now: its first use is audited once, from `origin` marked as the API with the token's
    name; later uses move `last_used_at` at most every LAST_USED_EVERY."""
    origin = origin.via_api(token.name)
    now = timezone.now()
    if token.last_used_at is None:
        with transaction.atomic():
            first = ApiToken.objects.filter(pk=token.pk, last_used_at__isnull=True).update(last_used_at=now)
            if first:  # of two first calls at once, only the one that wrote the time audits
                record_event(
                    action=AuditEvent.Action.TOKEN_FIRST_USE,
                    outcome=AuditEvent.Outcome.SUCCESS,
                    actor=token.user,
                    subject=token.user,
                    origin=origin,
                    title=token.name,
                    fingerprint=token.prefix,
                )
    elif now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


def seal_secret(new: NewToken) -> str:
    """The new token's secret, encrypted (a key derived from SECRET_KEY) and bound to its member and token, for
    the page that shows it to carry through the header's language switch: the portal keeps no plain copy."""
    payload = json.dumps({"user": new.token.user_id, "token": new.token.pk, "secret": new.secret})
    return _sealing().encrypt(payload.encode()).decode()


def unseal_secret(sealed: str, *, user: User) -> NewToken | None:
    """The token and secret `seal_secret` sealed, for `user` only, within RESEAL_SECONDS, while the token is
    live; None for anything else, without saying why."""
    try:
        payload = json.loads(_sealing().decrypt(sealed.encode(), ttl=RESEAL_SECONDS))
        secret, token_pk = str(payload["secret"]), int(payload["token"])
        if payload["user"] != user.pk:
            return None
    except (InvalidToken, ValueError, TypeError, KeyError, UnicodeError):
        return None
    token = live_tokens_of(user).filter(pk=token_pk).first()
    if token is None or not hmac.compare_digest(token.secret_sha256, hash_secret(secret)):
        return None
    return NewToken(token=token, secret=secret)


def _sealing() -> Fernet:
    key = salted_hmac("keys.services.tokens.seal_secret", "fernet", algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(key))


def revoke_tokens_of(user: User, *, actor: User | None, origin: Origin) -> int:
    """Revoke every live token of `user` (a leaver): a deactivated user's tokens stay dead if the account
    comes back. Returns how many this call revoked."""
    tokens = live_tokens_of(user)
    return sum(revoke_token(token=token, actor=actor, origin=origin, reason="owner_deactivated") for token in tokens)


def revoke_token(*, token: ApiToken, actor: User | None, origin: Origin, reason: str = "") -> bool:
    """Revoke `token` now; True when this call revoked it (False: it was revoked already)."""
    now = timezone.now()
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
        if revoked:
            token.revoked_at = now
            record_event(
                action=AuditEvent.Action.TOKEN_REVOKE,
                outcome=AuditEvent.Outcome.SUCCESS,
                actor=actor,
                actor_username="" if actor is not None else origin.user_agent,  # no account: the command
                subject=token.user,
                origin=origin,
                title=token.name,
                fingerprint=token.prefix,
                reason=reason,
            )
    return bool(revoked)
