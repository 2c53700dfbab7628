"""The container's health probe: `python -m portal.probe [/healthz]` exits 0 when the portal answers 200.

No Django import (the probe runs every 30 s beside the server); urllib only, since the image has no curl.
It asks as the proxy would: for the first of DJANGO_ALLOWED_HOSTS, over "https" (X-Forwarded-Proto),
so the host check and the HTTPS redirect let it through. The address is gunicorn's: the one in GUNICORN_BIND
(gunicorn.conf.py; the loopback when it binds every interface), else PORT on the loopback, else port 8000.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer other than 200: the probe reports it rather than following it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


# A bind to every interface is reached on the loopback.
_EVERY_INTERFACE = ("", "0.0.0.0", "[::]")
_LOOPBACK = "127.0.0.1"


def _address() -> tuple[str, str]:
    """The host and port gunicorn listens on. A bind to one address is asked there: nothing answers on the
    loopback then."""
    bind = os.environ.get("GUNICORN_BIND", "").strip()
    # host:port, [v6]:port or a unix socket; only a TCP port can be probed over HTTP.
    if bind and not bind.startswith("unix:"):
        host, colon, port = bind.rpartition(":")
        if not colon or bind.endswith("]"):  # a host alone (127.0.0.1, [::1]): gunicorn's port 8000
            host, port = bind, "8000"
        return (_LOOPBACK if host in _EVERY_INTERFACE else host), port
    return _LOOPBACK, os.environ.get("PORT", "8000").strip()


def probe(path: str = "/healthz", port: str | None = None, timeout: float = 5.0) -> int:
    address, bound_port = _address()
    port = port or bound_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        print(f"{path}: no port to probe: {port!r} (GUNICORN_BIND or PORT)", file=sys.stderr)
        return 1
    host = (os.environ.get("DJANGO_ALLOWED_HOSTS", "") or "localhost").split(",")[0].strip().lstrip(".")
    request = urllib.request.Request(
        f"http://{address}:{port}{path}",
        headers={"Host": "localhost" if host in ("", "*") else host, "X-Forwarded-Proto": "https"},
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(probe(*sys.argv[1:2]))
