"""The one audit writer. Every row goes through `record_event`."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, replace

from django.conf import settings
from django.http import HttpRequest

from keys.models import AuditEvent
from portal.request_id import current_request_id

logger = logging.getLogger("keys.audit")


@dataclass(frozen=True)
class Origin:
    """Where an action came from: the browser's address and agent, or a command."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest) -> Origin:
        return cls(ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:512])

    @classmethod
    def command(cls, name: str) -> Origin:
        return cls(ip=None, user_agent=f"manage.py {name}")

    def via_api(self, token_name: str) -> Origin:
        """The same origin, marked as the API with the token's name: `api token "deploy-bot"; curl/8.5.0`."""
        return replace(self, user_agent=f'api token "{token_name}"; {self.user_agent}'[:512])


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or with PROXY_HOPS proxies in front the address the
    outermost trusted proxy saw (X-Forwarded-For, counted from the right; the left is client-written).
    """
    hops = settings.PROXY_HOPS
    address = request.META.get("REMOTE_ADDR") or None
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def record_event(
    *, action: str, outcome: str, origin: Origin, actor=None, actor_username: str = "", subject=None, **fields
) -> AuditEvent:
    """Append one audit row; `fields` are AuditEvent columns (title, fingerprint, reason, upstream_status...).

    `actor_username` is for actors with no account, such as the name typed at a failed log-in.
    Inside a request the row carries its request id, the one in the logs and the X-Request-ID header.
    """
    event = AuditEvent.objects.create(
        action=action,
        outcome=outcome,
        actor=actor if actor is not None and actor.pk else None,
        actor_username=(actor.username if actor is not None else actor_username)[:150],
        subject=subject,
        client_ip=origin.ip,
        user_agent=origin.user_agent,
        request_id=current_request_id(),
        **fields,
    )
    logger.info(
        "audit action=%s outcome=%s actor=%s title=%s reason=%s status=%s trace=%s",
        action,
        outcome,
        event.actor_username,
        event.title,
        event.reason,
        event.upstream_status,
        event.trace_id,
        extra={"nsml_trace_id": event.trace_id},
    )
    return event
