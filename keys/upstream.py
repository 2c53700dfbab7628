"""The portal's side of the NSML connection: a client configured from settings, timed for Server-Timing
and counted in the metrics."""

from __future__ import annotations

import time

from django.conf import settings
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables

from nsml.client import NsmlClient, NsmlConfig, Reply, UpstreamKey
from portal.metrics import observe_nsml
from portal.timing import add_upstream_time

# A member waits for one NSML timeout, and a little more: the list that settles a call NSML left unknown (a
# create, a DELETE) gets what that call left of NSML_TIMEOUT, and at least this grace (a quarter of the timeout,
# at most a second), enough for one list from an NSML that is only slow to make changes. A list that needs
# longer fails, and the key is left for the reconciler.
LOOKUP_GRACE_SECONDS = 1.0
LOOKUP_GRACE_SHARE = 0.25

# Every frame beneath these calls holds the API Gateway key, the access key or a signature (the request's
# headers, the signing inputs): error reports and the debug page show none of their variables.
_hide_credentials = method_decorator(sensitive_variables())


class PortalNsmlClient(NsmlClient):
    """The NSML client as the portal calls it, with its credentials hidden from error reports."""

    @_hide_credentials
    def create_key(self, title: str, key: str) -> Reply:
        return super().create_key(title, key)

    @_hide_credentials
    def list_keys(self, *, retry: bool = True, within: float | None = None) -> tuple[list[UpstreamKey], Reply]:
        return super().list_keys(retry=retry, within=within)

    @_hide_credentials
    def delete_key(self, title: str, name: str, *, within: float | None = None) -> Reply:
        return super().delete_key(title, name, within=within)


def nsml_config(*, background: bool = False) -> NsmlConfig:
    """`background`: for the reconciler, which has no member waiting and may wait longer (NSML_SYNC_TIMEOUT)."""
    return NsmlConfig(
        base_url=settings.NSML_API_URL,
        access_key=settings.NCP_ACCESS_KEY,
        secret_key=settings.NCP_SECRET_KEY,
        api_key=settings.NSML_API_KEY,
        connect_timeout=settings.NSML_CONNECT_TIMEOUT,
        read_timeout=settings.NSML_SYNC_TIMEOUT if background else settings.NSML_TIMEOUT,
    )


def nsml_client(*, background: bool = False) -> NsmlClient:
    """A client for the NSML in settings; its waits count in the current request's Server-Timing, and each
    exchange in the portal's metrics."""
    return PortalNsmlClient(nsml_config(background=background), on_wait=add_upstream_time, observe=observe_nsml)


class NsmlWait:
    """How long someone still waits for NSML, shared by every call made for them: an admin revoking the keys of
    several members, or a reconcile pass the admin started (*Check NSML now*). `seconds` None: nobody waits
    for the whole, and each call has its client's own timeout."""

    def __init__(self, seconds: float | None) -> None:
        self.ends = None if seconds is None else time.monotonic() + seconds

    @classmethod
    def of_admin(cls) -> NsmlWait:
        """An admin's action waits for NSML one NSML_TIMEOUT in all, however many keys and members it covers."""
        return cls(settings.NSML_TIMEOUT)

    def left(self) -> float | None:
        """The timeout for the next call. One begun just before the end still gets a moment: a timeout of 0 is
        no timeout to requests."""
        return None if self.ends is None else max(self.ends - time.monotonic(), 0.1)

    def used_up(self) -> bool:
        return self.ends is not None and time.monotonic() >= self.ends


def lookup_time(client: NsmlClient, sent: float) -> float:
    """Seconds the list after a call sent at `sent` (time.monotonic()) may take (LOOKUP_GRACE_SECONDS)."""
    return max(client.config.read_timeout - (time.monotonic() - sent), lookup_grace(client))


def lookup_grace(client: NsmlClient) -> float:
    return min(LOOKUP_GRACE_SECONDS, client.config.read_timeout * LOOKUP_GRACE_SHARE)


def wait_used_up(client: NsmlClient, within: float | None, *, call: str, lookup: str) -> str:
    """The audit's note that `call` used up the member's wait and `lookup` had only the grace, so an operator does
    not read the lookup's failure as NSML's list being broken; "" when it had more time than that."""
    if within is None or within > lookup_grace(client):
        return ""
    return f"; the {call} used up the member's wait, and the {lookup} had {within:.2f} s"
