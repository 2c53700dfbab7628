"""Log lines and audit displays that a user's input cannot forge (plain Python).

A name or a title with CR/LF in it would write a line of its own that looks like any other, and
bidirectional-override characters make text read differently from what it is. `escape_unsafe`
writes both as visible escapes; `EscapeControlCharacters`, a logging filter on every handler
(portal/settings.py LOGGING), applies it to each message before it is formatted.
"""

from __future__ import annotations

import logging

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


class EscapeControlCharacters(logging.Filter):
    """Escapes the final message, arguments included; a traceback (exc_text) keeps its own lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_unsafe(message)
        if escaped != message or record.args:
            record.msg, record.args = escaped, None
        return True
