"""Deactivating a user revokes their keys, however the user was deactivated: the one place that does.

The admin names itself as the actor with `deactivate_as`; every other path (the shell, a script,
single sign-on) is recorded with the portal as the actor.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings

from keys import selectors, services
from keys.audit import Origin

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("keys.offboarding")

_ACTOR = "_offboarding_actor"


def deactivate_as(user: User, *, actor: User, origin: Origin) -> None:
    """Mark `user` so that, when its deactivation is saved, the revocations name `actor` and `origin`."""
    setattr(user, _ACTOR, (actor, origin))


def revoke_keys_of_deactivated_user(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    if instance.is_active or created or not settings.KEYS_REVOKE_ON_DEACTIVATE:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    actor, origin = getattr(instance, _ACTOR, (None, Origin.command("deactivation")))
    report = services.revoke_keys(selectors.active_keys_of(instance), actor=actor, origin=origin)
    if report.revoked or report.failures:
        logger.warning(
            "deactivated %s: %d key(s) revoked, %d failed",
            instance.get_username(),
            report.revoked,
            len(report.failures),
        )
    if hasattr(instance, _ACTOR):
        delattr(instance, _ACTOR)
    instance.offboarding_report = report
