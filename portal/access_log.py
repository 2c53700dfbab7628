"""gunicorn's access log without API token secrets or private keys (gunicorn.conf.py's `logger_class`).

A client can put a token's secret where gunicorn logs it: in a URL's path (`/api/v1/keys/nsmlk_...`, a
script's arguments swapped) or a referer. The portal's own lines are filtered by portal.logs; gunicorn
writes its access line itself, so its atoms are cut here the same way. A private key pasted into a search
or filter box travels in the query string (the admin refuses it, but the address stays the page's), and the
next page's Referer carries it again: a query value that holds one is cut whole, and a path (or referer) that
still holds one after that is cut whole too. A user agent is cut as the
audit cuts it (keys.audit.Origin): a script that sends its token, or a key, as its agent; so is HTTP Basic's
user name, which gunicorn writes as "%(u)s": a script that sends its token that way (`curl -u "$TOKEN:"`).

gunicorn writes the path as decoded: each atom a client wrote has its control and bidirectional characters
escaped, as the portal's own lines do (portal.logs), so a %0D%0A in a URL writes no line of its own.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from gunicorn.glogging import Logger

REDACTED_PRIVATE_KEY = "[private-key-redacted]"
# One name=value of a query string, after its "?" or "&"; a value stops at the next "&", "#" or space.
_QUERY_VALUE = re.compile(r"([?&][^=&#\s]*=)([^&#\s]+)")
# Shorter than a private key's armour: no private key material to find.
_SHORTEST_KEY_TEXT = 30

# The request line, the path, the query string and the referer: what a client writes.
_CLIENT_ATOMS = ("r", "U", "q", "f")
# The user agent, and HTTP Basic's user name: what a client names itself.
_CLIENT_NAMES = ("a", "u")


class SecretFreeLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        # Imported here, in the worker: gunicorn's master loads this class, and a module it imported is what
        # every worker forked after a reload (kill -HUP) gets, however the file changed since the start.
        from portal.logs import escape_unsafe, holds_private_key_text, redact_secrets

        atoms = super().atoms(resp, req, environ, request_time)
        for name in _CLIENT_ATOMS:
            value = atoms.get(name)
            if isinstance(value, str):
                value = redact_private_keys(redact_secrets(value), query_only=name == "q")
                # Left in the path itself (or a referer's): the whole atom goes, as in the portal's own lines.
                atoms[name] = REDACTED_PRIVATE_KEY if holds_private_key_text(value) else escape_unsafe(value)
        for name in _CLIENT_NAMES:
            value = atoms.get(name)
            if isinstance(value, str):
                value = redact_secrets(value)
                atoms[name] = REDACTED_PRIVATE_KEY if holds_private_key_text(value) else escape_unsafe(value)
        return atoms


def redact_private_keys(text: str, *, query_only: bool = False) -> str:
    """`text` (a URL, a request line, or with `query_only` a bare query string) with each query value that holds
    private key material replaced by REDACTED_PRIVATE_KEY."""
    if len(text) < _SHORTEST_KEY_TEXT or "=" not in text:
        return text
    marked = "?" + text if query_only else text
    redacted = _QUERY_VALUE.sub(_cut_private_key, marked)
    return redacted[1:] if query_only else redacted


def _cut_private_key(match: re.Match) -> str:
    from keys.sshkeys import holds_private_key

    value = match.group(2)
    if len(value) >= _SHORTEST_KEY_TEXT and holds_private_key(unquote_plus(value)):
        return match.group(1) + REDACTED_PRIVATE_KEY
    return match.group(0)
