"""Log lines and audit displays that a user's input cannot forge, and that hold no token (plain Python).

A name or a title with CR/LF in it would write a line of its own that looks like any other, and
bidirectional-override characters make text read differently from what it is. `escape_unsafe`
writes both as visible escapes; `EscapeControlCharacters`, a logging filter on every handler
(portal/settings.py LOGGING), applies it to each message before it is formatted.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from datetime import UTC, datetime
from urllib.parse import unquote_plus

from keys.sshkeys import holds_private_key

# An API token's secret (keys.services.tokens makes them: "nsmlk_" and 43 URL-safe characters), or most
# of one (a selection cut short). A log line never carries it, wherever a client put it: a URL's path, a
# query string, a referer, a field of a form.
TOKEN_SECRET = re.compile(r"nsmlk_[A-Za-z0-9_-]{20,}")
REDACTED_SECRET = "nsmlk_[redacted]"

# Secrets of the portal's own that a client may also write where a log line carries it: METRICS_TOKEN, in a
# scraper's path (/metrics/<token>) or query string. The settings name them (hide_in_logs), once.
_SETTINGS_SECRETS: list[str] = []
REDACTED = "[redacted]"

# What is left of a log line, or a request's path, that held private-key material (a key's body pasted into
# a URL). Cut whole: a body's "/" and "+" split it into pieces that need not each look like a key.
PRIVATE_KEY_REMOVED = "[removed: it held private-key material]"
# Shorter than a private key's armour: no private key material to find.
_SHORTEST_KEY_TEXT = 30

# Bidirectional formatting characters (Unicode's "Trojan Source" set): embeddings and overrides,
# isolates, and the left-to-right, right-to-left and Arabic letter marks.
BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escaped(char: str) -> str:
    if char in NAMED:
        return NAMED[char]
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:  # C0 controls, DEL and C1 controls
        return f"\\x{code:02x}"
    if char in BIDI:
        return f"\\u{code:04x}"
    return char


def escape_unsafe(text: str) -> str:
    """`text` with control and bidirectional characters written as escapes (\\n, \\x1b, \\u202e)."""
    if text.isprintable() and not BIDI.intersection(text):
        return text  # the common case, without building a new string
    return "".join(_escaped(char) for char in text)


def hide_in_logs(*secrets: str) -> None:
    """From now on, `redact_secrets` cuts each of these (an empty one means the setting is off) out of a text."""
    _SETTINGS_SECRETS.extend(secret for secret in secrets if secret)


def redact_secrets(text: str) -> str:
    """`text` with every API token secret in it cut to its prefix, and the secrets `hide_in_logs` named cut."""
    if "nsmlk_" in text:
        text = TOKEN_SECRET.sub(REDACTED_SECRET, text)
    for secret in _SETTINGS_SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def holds_private_key_text(text: str) -> bool:
    """True when `text` (a message, a path, a URL), as written, percent-decoded (twice: a URL in a URL's query,
    such as the log-in page's next=) or with Django's escapes read back, holds private-key material."""
    if len(text) < _SHORTEST_KEY_TEXT:
        return False
    if holds_private_key(text) or ("\\" in text and holds_private_key(_unescaped(text))):
        return True
    for _ in range(2):
        if "%" not in text:
            return False
        text = unquote_plus(text)
        if holds_private_key(text):
            return True
    return False


def _unescaped(text: str) -> str:
    """`text` with the escapes Django's request lines write (log_response: the path's line breaks as "\\n", any
    character past ASCII as "\\u2013") read back: a key file's fields are known by the line they start."""
    try:
        return text.encode("ascii", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:  # a lone backslash at the end, "\\N" without a name: not Django's escapes
        return text


class EscapeControlCharacters(logging.Filter):
    """Escapes the final message, arguments included, and cuts token secrets out of it and out of the
    request's path (portal.jsonlog.RequestContextFilter's), or either whole when it holds private-key material;
    a traceback (exc_text) is cut and escaped line by line, and keeps its own lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = PRIVATE_KEY_REMOVED if holds_private_key_text(message) else escape_unsafe(redact_secrets(message))
        if escaped != message or record.args:
            record.msg, record.args = escaped, None
        path = getattr(record, "path", None)
        if isinstance(path, str):
            record.path = PRIVATE_KEY_REMOVED if holds_private_key_text(path) else redact_secrets(path)
        if record.exc_info and not record.exc_text:
            # An exception's message may quote the client (DisallowedHost quotes the Host header), and its
            # traceback's last line repeats it: formatted here, once, so every formatter writes it cut.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = secret_free_traceback(record.exc_text)
        return True


_TRACEBACKS = logging.Formatter()


def secret_free_traceback(text: str) -> str:
    """A formatted traceback with each of its lines cut and escaped as a message is."""
    return "\n".join(
        PRIVATE_KEY_REMOVED if holds_private_key_text(line) else escape_unsafe(redact_secrets(line))
        for line in text.split("\n")
    )


class PlainFormatter(logging.Formatter):
    """The plain format, its time followed by its UTC offset ("2026-11-29 21:37:58,001 +0900").

    Django sets the portal's TIME_ZONE as the process's zone, so the workers' lines are in local time, while
    gunicorn's master writes UTC: in one log, a time without its offset could be either.
    """

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return f"{super().formatTime(record, datefmt)} {time.strftime('%z', self.converter(record.created))}"


def refusal_line(refusal: object) -> str:
    """The one line that stops a command (manage.py) or a gunicorn worker (portal/wsgi.py) on a setting it
    cannot run with: plain, or with LOG_FORMAT=json a JSON object like every other line (the settings are what
    failed, so the format is read from the environment, as gunicorn.conf.py reads it)."""
    if os.environ.get("LOG_FORMAT", "plain").strip().lower() != "json":
        return f"ImproperlyConfigured: {refusal}"
    line = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "CRITICAL",
        "logger": "portal.settings",
        "message": f"ImproperlyConfigured: {refusal}",
    }
    return json.dumps(line, ensure_ascii=False)
