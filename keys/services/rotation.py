"""Rotating a key in one step: register the new key, then revoke the old one; one audit row links the two."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from keys import member_messages
from keys.audit import Origin, record_event
from keys.models import AuditEvent, RegisteredKey
from keys.services.failures import RevocationFailed
from keys.services.registration import Quota, register_key
from keys.services.revocation import revoke_key
from keys.upstream import nsml_client
from nsml.client import NsmlClient

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Status = RegisteredKey.Status


@dataclass
class Rotation:
    """The new key and the old one, and why the old one is not revoked yet, if it is not."""

    new: RegisteredKey
    old: RegisteredKey
    revoke_failure: RevocationFailed | None = None

    @property
    def complete(self) -> bool:
        return self.new.is_active and self.old.status == Status.REVOKED


def rotate_key(
    *,
    old: RegisteredKey,
    title: str,
    key_text: str,
    actor: User,
    origin: Origin,
    expires_on: date | str | None = None,
    client: NsmlClient | None = None,
    quota: Quota | None = None,
) -> Rotation:
    """Register the new key; once NSML holds it, revoke `old` (an active key of the same member).

    A refused new key raises what `register_key` raises (ValidationError, RegistrationFailed), and the
    old key stays as it was. When NSML's answer about the new key is unknown, the old key stays active:
    the member must not be left without a working key. When revoking the old key fails, it is left
    `revoking` for the reconciler, and `Rotation.revoke_failure` says why.
    """
    client = client or nsml_client()
    try:
        new = register_key(
            owner=old.owner,
            title=title,
            key_text=key_text,
            origin=origin,
            client=client,
            expires_on=expires_on,
            quota=quota,
        )
    except ValidationError as refusal:
        raise _as_rotation_refusal(refusal, old) from None
    rotation = Rotation(new=new, old=old)
    if new.is_active:
        try:
            revoke_key(key=old, actor=actor, origin=origin, client=client, reason="rotated", keep_revoking=True)
        except RevocationFailed as failure:
            rotation.revoke_failure = failure
    else:
        # The old key as it is now, not as it was before NSML's wait: another tab, an admin or a reconcile pass may
        # have revoked it meanwhile, and the member must not read that it is still active.
        old.refresh_from_db()
    if rotation.complete:
        outcome = AuditEvent.Outcome.SUCCESS
    elif old.status in (Status.ACTIVE, Status.REVOKING) and rotation.revoke_failure is not None:
        outcome = AuditEvent.Outcome.FAILED
    else:
        outcome = AuditEvent.Outcome.UNKNOWN
    record_event(
        action=AuditEvent.Action.ROTATE,
        outcome=outcome,
        actor=actor,
        subject=old.owner,
        origin=origin,
        registered_key=new,
        title=new.title,
        fingerprint=new.fingerprint_sha256,
        reason="" if rotation.complete else f"old_key_{old.status}",
        detail=f"replaces key #{old.pk} “{old.title}” ({old.fingerprint}), now {old.status}",
    )
    return rotation


def _as_rotation_refusal(refusal: ValidationError, old: RegisteredKey) -> ValidationError:
    """The refusal as the Rotate page says it: the key being replaced, pasted again, is named as such (same code)."""
    for error in refusal.error_dict.get("key", []):
        if error.code == "duplicate_key" and (error.params or {}).get("title") == old.title:
            message = gettext(member_messages.ROTATE_SAME_KEY)
            return ValidationError({"key": ValidationError(message, code="duplicate_key")})
    return refusal
