"""NSML's rules for a key title (its "ID"). Pure: the form and the simulator both use it."""

from __future__ import annotations

import re
import unicodedata

MAX_TITLE_LENGTH = 64

_ALLOWED = re.compile(r"[A-Za-z0-9-]*")
# The same rules as one pattern, for a JSON schema (with a maxLength of MAX_TITLE_LENGTH): a letter first, then
# letters, digits and single hyphens.
TITLE_PATTERN = r"^[A-Za-z](-?[A-Za-z0-9])*-?$"


def title_problem(title: str) -> str | None:
    """The code of the first rule `title` breaks, or None when NSML would accept it.

    Codes: `required`, `too_long`, `characters`, `first_letter`, `double_hyphen`.
    """
    if not title:
        return "required"
    if len(title) > MAX_TITLE_LENGTH:
        return "too_long"
    if not _ALLOWED.fullmatch(title):
        return "characters"
    if not ("a" <= title[0].lower() <= "z"):
        return "first_letter"
    if "--" in title:
        return "double_hyphen"
    return None


def trimmed_title(title: str) -> str:
    """`title` without the spaces and invisible characters (zero-width space, byte order mark, direction marks...)
    that a chat or a web page leaves around a copied word: at the edges they are no part of the title."""
    start, end = 0, len(title)
    while start < end and _is_blank(title[start]):
        start += 1
    while end > start and _is_blank(title[end - 1]):
        end -= 1
    return title[start:end]


def hidden_character(title: str) -> str | None:
    """The first character of `title` that a member cannot see, as "U+200B ZERO WIDTH SPACE"; None if none.
    A plain space is not one: it shows."""
    for character in title:
        if character != " " and (_is_blank(character) or unicodedata.category(character) == "Cc"):
            return f"U+{ord(character):04X} {unicodedata.name(character, '')}".rstrip()
    return None


def _is_blank(character: str) -> bool:
    return character.isspace() or unicodedata.category(character) == "Cf"
