"""What a service raises when NSML did not do what was asked, and how such a failure is audited."""

from __future__ import annotations

from keys.audit import Origin, record_event
from keys.models import AuditEvent
from nsml.client import Failure, NsmlError, Reply


class UpstreamFailed(Exception):
    """NSML did not do what was asked; `message` is for the member, `event` the audit row written.

    `retry_after`: the seconds NSML's last answer asked to wait (its Retry-After), when it named any.
    """

    def __init__(
        self,
        failure: Failure,
        message: str,
        event: AuditEvent | None,
        field: str | None = None,
        *,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.failure = failure
        self.message = message
        self.event = event
        self.field = field  # the form field the message belongs next to, if any
        self.retry_after = retry_after


class RegistrationFailed(UpstreamFailed):
    """NSML did not register the key; it is kept as `failed`."""


class RevocationFailed(UpstreamFailed):
    """NSML refused the deletion; the key is active again."""


def record_upstream_failure(
    action: str, actor, subject, origin: Origin, error: NsmlError, audit: dict, reason: str = "", note: str = ""
) -> AuditEvent:
    """`note`: the portal's own words after NSML's, in the detail. With no `actor` (the portal itself: the expiry
    job, a deactivation outside the admin), the row names what ran `origin`, as its successful rows do."""
    outcome = AuditEvent.Outcome.REJECTED if error.failure is Failure.REJECTED else AuditEvent.Outcome.FAILED
    return record_event(
        action=action,
        outcome=outcome,
        actor=actor,
        actor_username="" if actor is not None else origin.runner,
        subject=subject,
        origin=origin,
        reason=reason or str(error.failure),
        detail="; ".join(part for part in (error.reply.detail, note) if part),
        **upstream_fields(error.reply),
        **audit,
    )


def upstream_fields(reply: Reply) -> dict:
    """The audit columns that record what NSML answered."""
    return {
        "upstream_status": reply.status,
        "upstream_error_code": reply.error_code,
        "trace_id": reply.trace_id,
        "duration_ms": reply.duration_ms,
    }


class SubmissionLimited(Exception):
    """The member has sent KEYS_SUBMIT_RATE submissions to NSML already; `retry_after` is in seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"submission limit reached; retry after {retry_after} s")
        self.retry_after = retry_after
