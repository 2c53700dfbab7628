"""Writes that matter, by concern. Views, the admin and commands all call these.

Each validates, talks to NSML through `nsml.client`, records the outcome through `keys.audit`,
and raises `ValidationError` (a refusal by the portal) or an `UpstreamFailed` (NSML did not do it).
"""

from keys.services.drift import Drift, assign_unmanaged_key, check_assignable, find_drift, revoke_unmanaged_key
from keys.services.failures import RegistrationFailed, RevocationFailed, SubmissionLimited, UpstreamFailed
from keys.services.lifetimes import LifetimeReport, apply_lifetimes, change_expiry, set_expiry
from keys.services.members import end_access_of_deactivated, remember_language
from keys.services.reconcile import (
    TITLES_ON_A_PAGE,
    PassReport,
    ReconcileBusy,
    describe_pass,
    held_back_line,
    reconcile,
)
from keys.services.registration import register_key
from keys.services.revocation import (
    RevocationReport,
    record_revocations,
    revoke_key,
    revoke_keys,
    send_revocations,
)
from keys.services.rotation import Rotation, rotate_key

__all__ = [
    "end_access_of_deactivated",
    "Drift",
    "LifetimeReport",
    "Rotation",
    "apply_lifetimes",
    "change_expiry",
    "remember_language",
    "rotate_key",
    "set_expiry",
    "PassReport",
    "ReconcileBusy",
    "RegistrationFailed",
    "RevocationFailed",
    "RevocationReport",
    "SubmissionLimited",
    "UpstreamFailed",
    "assign_unmanaged_key",
    "check_assignable",
    "find_drift",
    "register_key",
    "describe_pass",
    "held_back_line",
    "TITLES_ON_A_PAGE",
    "reconcile",
    "record_revocations",
    "revoke_key",
    "revoke_keys",
    "revoke_unmanaged_key",
    "send_revocations",
]
