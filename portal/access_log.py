"""gunicorn's access log without API token secrets (gunicorn.conf.py's `logger_class`).

A client can put a token's secret where gunicorn logs it: in a URL's path (`/api/v1/keys/nsmlk_...`, a
script's arguments swapped) or a referer. The portal's own lines are filtered by portal.logs; gunicorn
writes its access line itself, so its atoms are cut here the same way.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from portal.logs import redact_secrets

# The request line, the path, the query string and the referer: what a client writes.
_CLIENT_ATOMS = ("r", "U", "q", "f")


class SecretFreeLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in _CLIENT_ATOMS:
            value = atoms.get(name)
            if isinstance(value, str):
                atoms[name] = redact_secrets(value)
        return atoms
