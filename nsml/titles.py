"""NSML's rules for a key title (its "ID"). Pure: the form and the simulator both use it."""

from __future__ import annotations

import re

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
