"""Deactivating a user revokes their keys, however the user was deactivated.

The admin revokes first, with the admin as actor (see `keys.admin.UserAdmin.save_model`); this
receiver catches every other path (the shell, a script, single sign-on) with the portal as actor.
"""

from __future__ import annotations

import logging

from django.conf import settings

from keys import services
from keys.audit import Origin

logger = logging.getLogger("keys.offboarding")


def revoke_keys_of_deactivated_user(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    if instance.is_active or created or not settings.KEYS_REVOKE_ON_DEACTIVATE:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    revoked, failures = services.revoke_keys_of(member=instance, actor=None, origin=Origin.command("deactivation"))
    if revoked or failures:
        logger.warning("deactivated %s: %d key(s) revoked, %d failed", instance.get_username(), revoked, len(failures))
