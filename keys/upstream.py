"""The portal's side of the NSML connection: a client configured from settings, timed for Server-Timing."""

from __future__ import annotations

from django.conf import settings

from nsml.client import NsmlClient, NsmlConfig
from portal.timing import add_upstream_time


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
    """A client for the NSML in settings; its waits count in the current request's Server-Timing."""
    return NsmlClient(nsml_config(background=background), on_wait=add_upstream_time)
