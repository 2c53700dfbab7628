"""Deactivating a user revokes their keys and access tokens and ends their sessions, however the user was
deactivated: the one place that does. Tokens are revoked and sessions ended whatever KEYS_REVOKE_ON_DEACTIVATE
says (it is about NSML): either only stops working while its user is inactive, and would work again if the
account came back.

The admin names itself as the actor with `deactivate_as`; every other path (the shell, a script,
single sign-on) is recorded with the portal as the actor.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from keys import selectors, services
from keys.audit import Origin, record_event
from keys.models import AuditEvent
from keys.services.tokens import revoke_tokens_of
from keys.sessions import end_sessions_of

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from keys.upstream import NsmlWait

logger = logging.getLogger("keys.offboarding")

_ACTOR = "_offboarding_actor"
_OFFBOARDING = "_offboarding_under_way"


def deactivate_as(user: User, *, actor: User, origin: Origin) -> None:
    """Mark `user` so that, when its deactivation is saved, the revocations name `actor` and `origin`."""
    setattr(user, _ACTOR, (actor, origin))


def offboard(
    user: User, *, actor: User, origin: Origin, reason: str, wait: NsmlWait | None = None
) -> services.RevocationReport:
    """A leaver, in one step: deactivate `user` (no new key can be added meanwhile), then revoke every key
    they hold in NSML with the admin's `reason`. Audited as one offboarding, then one row per key.

    Revokes whatever KEYS_REVOKE_ON_DEACTIVATE says: the admin asked for it by name. `wait` as for
    `services.revoke_keys`: an admin offboarding several users waits for NSML once.
    """
    with transaction.atomic():
        setattr(user, _OFFBOARDING, True)  # the receiver below leaves the keys to this function
        try:
            user.is_active = False
            user.save(update_fields=["is_active"])
        finally:
            delattr(user, _OFFBOARDING)
        record_event(
            action=AuditEvent.Action.OFFBOARD,
            outcome=AuditEvent.Outcome.SUCCESS,
            actor=actor,
            subject=user,
            origin=origin,
            detail=f"deactivated; reason given: {reason.strip()}",
        )
        revoke_tokens_of(user, actor=actor, origin=origin)
        end_sessions_after_commit(user)
        # Committed with the deactivation, before NSML hears of them: a process stopped before the DELETEs leaves
        # them to the reconciler, in the admin's name and with their reason, whatever KEYS_REVOKE_ON_DEACTIVATE says.
        keys = services.record_revocations(
            selectors.active_keys_of(user), actor=actor, origin=origin, given_reason=reason
        )
    return services.send_revocations(keys, actor=actor, origin=origin, wait=wait)


def revoke_keys_of_deactivated_user(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    if instance.is_active or created or getattr(instance, _OFFBOARDING, False):
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    actor, origin = getattr(instance, _ACTOR, (None, Origin.command("deactivation")))
    revoke_tokens_of(instance, actor=actor, origin=origin)
    end_sessions_after_commit(instance)
    if hasattr(instance, _ACTOR):
        delattr(instance, _ACTOR)
    if not settings.KEYS_REVOKE_ON_DEACTIVATE:
        return
    # The admin's change form saves inside a transaction: the keys move to `revoking` in it, and NSML hears of them
    # only once the deactivation is committed. A DELETE sent before would outlive a deactivation rolled back (or a
    # worker killed before the commit), and the key's revocation be told as NSML having lost it.
    keys = services.record_revocations(selectors.active_keys_of(instance), actor=actor, origin=origin)
    transaction.on_commit(lambda: _send_revocations(instance, keys, actor=actor, origin=origin))


def _send_revocations(instance: User, keys: list, *, actor: User | None, origin: Origin) -> None:
    report = services.send_revocations(keys, actor=actor, origin=origin)
    if report.revoked or report.failures:
        logger.warning(
            "deactivated %s: %d key(s) revoked, %d failed",
            instance.get_username(),
            report.revoked,
            len(report.failures),
        )
    instance.offboarding_report = report


def end_sessions_after_commit(user: User) -> None:
    """Once the deactivation is committed, delete every live session of `user` (database and cache): Django
    only ignores an inactive user's session, which works again, password confirmation and all, if the account
    is reactivated. After the commit, so a request of that session cannot put it back in the cache meanwhile.
    The sessions are found by their recorded owner (keys/sessions/), not by decoding every session."""
    transaction.on_commit(lambda: end_sessions_of(user.pk))
