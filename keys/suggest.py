"""A first title for a member's key, made from their username. Pure: no Django.

NSML holds one namespace of titles for the whole team, so a title that starts with who owns the
key is both valid and unlikely to clash: "kim.minsu" gets "kim-minsu-key".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

from nsml.titles import MAX_TITLE_LENGTH

SUFFIX = "-key"
FALLBACK = "my-key"

_NOT_ALLOWED = re.compile(r"[^a-z0-9]+")
_LEADING_NON_LETTERS = re.compile(r"^[^a-z]+")


def suggest_title(username: str, *, taken: Collection[str] = ()) -> str:
    """A title NSML accepts (`nsml.titles.title_problem` is None) that is not in `taken`.

    The local part of an e-mail address is used; accents are dropped ("José" -> "jose"); every run
    of other characters becomes one hyphen; leading digits go. A name with no Latin letter at all
    (a Hangul username, say) gets "my-key".
    """
    name = username.split("@", 1)[0]
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    base = _LEADING_NON_LETTERS.sub("", _NOT_ALLOWED.sub("-", ascii_name)).strip("-")
    stem = f"{base}{SUFFIX}" if base else FALLBACK

    candidate, number = _fit(stem, ""), 1
    while candidate in taken:
        number += 1
        candidate = _fit(stem, f"-{number}")
    return candidate


def _fit(stem: str, ending: str) -> str:
    # Cutting can leave a hyphen at the end, which would double up with the ending's own.
    return stem[: MAX_TITLE_LENGTH - len(ending)].rstrip("-") + ending


_NUMBERED = re.compile(r"^(?P<stem>.*?)-(?P<number>[0-9]+)$")


def title_stem(title: str) -> str:
    """The title without its trailing number: "alice-laptop-2" -> "alice-laptop"."""
    numbered = _NUMBERED.match(title)
    return numbered["stem"] if numbered and numbered["stem"] else title


def suggest_next_title(title: str, *, taken: Collection[str] = ()) -> str:
    """A title for the key that replaces `title`: the next number, e.g. "alice-laptop" -> "alice-laptop-2",
    "alice-laptop-2" -> "alice-laptop-3", skipping any in `taken` (the old key still holds its own)."""
    numbered = _NUMBERED.match(title)
    stem, number = (numbered["stem"], int(numbered["number"])) if numbered and numbered["stem"] else (title, 1)
    candidate = title
    while candidate == title or candidate in taken:
        number += 1
        candidate = _fit(stem, f"-{number}")
    return candidate
