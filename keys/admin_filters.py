"""The admin's searches and filters that must stay fast at years of history and thousands of members.

- `OwnerFilter`: the key list's owner filter as a search box with suggestions (the admin's own
  autocomplete endpoint, static/portal/owner-filter.js), where Django's related-field filter lists every
  owner in the sidebar (10,000 links at 10,000 members); `TokenUserFilter`, the access token list's. The
  name is found as typed or in another case (`users_named`).
- `AuditSearchMixin`: the audit list's search as the searches an admin runs (a user name, a title,
  a fingerprint, an NSML trace id, a request id), each answered by an index on PostgreSQL
  (keys/migrations/0012_audit_search_indexes.py) instead of a substring scan of every row.
- `KeySearchMixin`: the key list's search the same way (an owner's user name or email, a title, a fingerprint,
  an NSML name; keys/migrations/0021_key_search_indexes.py).
- Words: as in Django's own search, a row is found when each word matches one of its fields (`alice laptop`: alice's
  rows about a key titled laptop…), or when the whole text does (what ssh-keygen printed). A quoted phrase is one word.

- `LiteralQuoteSearchMixin`: Django's search on the other lists, with a quote typed alone searched for as itself.

A fingerprint is found as an admin pastes it: `SHA256:…`, what `ssh-keygen -l` prints around it, or the part
after `SHA256:` alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import reduce
from operator import and_

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet, Value
from django.urls import reverse
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from keys.login_names import unknown_name
from keys.sshkeys import ACCEPTED_TYPES

# Up to this many accounts a prefix means are looked up first and passed as a list of ids, which the indexes on
# the owner and the subject answer; a shorter term that means more is a subquery, so every one of them is found.
MAX_MATCHING_USERS = 100
# A search of more words than this is looked for as the whole text only (_search_terms).
MAX_WORDS = 8


class OwnerFilter(admin.SimpleListFilter):
    title = _("owner")
    parameter_name = "owner"
    field = "owner"  # the list's foreign key to the user
    template = "admin/keys/owner_filter.html"

    def lookups(self, request, model_admin):
        # Only the chosen owner, never the list of all of them.
        value = self.value()
        return [(value, value)] if value else []

    def has_output(self) -> bool:
        return True

    def queryset(self, request, queryset):
        name = (self.value() or "").strip()
        return queryset.filter(**{f"{self.field}__in": users_named(name)}) if name else queryset

    def choices(self, changelist):
        # The filter's form keeps the other filters, the search and the ordering when it is sent.
        self.kept_params = [
            (name, value)
            for name, values in changelist.params.items()
            if name not in (self.parameter_name, "p")
            for value in (values if isinstance(values, list) else [values])
        ]
        self.autocomplete_url = reverse("admin:autocomplete")
        yield from super().choices(changelist)


class TokenUserFilter(OwnerFilter):
    """The access token list's user filter, the same search box: Django's listed every member holding a token."""

    title = _("user")
    parameter_name = field = "user"


def users_named(name: str) -> QuerySet:
    """The user an admin means by `name`: the one of exactly that name, else whoever has it in another case ("Alice"
    for alice). An index on PostgreSQL answers either (keys/migrations/0023_user_name_indexes.py)."""
    users = get_user_model().objects.order_by()
    exact = users.filter(username=name)
    return (exact if exact.exists() else users.filter(username__iexact=name)).values("pk")


def audit_search(term: str, users: list[int] | QuerySet | None = None) -> Q:
    """Rows an admin means by `term`: a user name (actor or subject) or title starting with it, a fingerprint
    starting with it, or exactly this NSML trace id or request id. `users`: those starting with `term`, when known."""
    return (
        Q(actor_username__istartswith=term)
        | Q(actor_username__istartswith=unknown_name(term))  # the prefix index: the digest is whole
        | Q(subject_id__in=_users_starting_with(term) if users is None else users)
        | Q(title__istartswith=term)
        | _starts_with_fingerprint("fingerprint", term)
        # NSML's trace ids are hex, so their case means nothing. A request id is kept as its client sent it: found
        # as typed, or in one case (the portal's own are lower-case hex; a log may print a proxy's in capitals).
        # Equality on the index, not UPPER(...) = UPPER(...), which no index answers; so a mixed-case id is found
        # only as it was sent.
        | Q(trace_id__in=_as_typed_or_in_one_case(term))
        | Q(request_id__in=_as_typed_or_in_one_case(term))
    )


def key_search(term: str, owners: list[int] | QuerySet | None = None) -> Q:
    """Keys an admin means by `term`: an owner's user name or email, or a title, starting with it; a fingerprint
    (SHA256 or MD5) or an NSML name starting with it. `owners`: those starting with `term`, when known."""
    md5 = (_md5_fingerprint(term) or term).lower()
    nsml_name = md5.replace(":", "")
    return (
        Q(owner_id__in=_users_starting_with(term, email=True) if owners is None else owners)
        | Q(title__istartswith=term)
        | _starts_with_fingerprint("fingerprint_sha256", term)
        | Q(fingerprint_md5__startswith=md5)
        # Colons alone leave nothing to match: the start of every NSML name.
        | (Q(nsml_name__startswith=nsml_name) if nsml_name else Q(pk__in=[]))
    )


def _users_starting_with(term: str, *, email: bool = False) -> list[int] | QuerySet:
    """The ids of every user whose name (or email) starts with `term`: a list when there are few, else a subquery."""
    users = get_user_model().objects.filter(_name_starts_with(term, email=email)).order_by()
    users = users.values_list("pk", flat=True)
    few = list(users[: MAX_MATCHING_USERS + 1])
    return few if len(few) <= MAX_MATCHING_USERS else users


def _name_starts_with(term: str, *, email: bool) -> Q:
    return Q(username__istartswith=term) | (Q(email__istartswith=term) if email else Q())


def _users_starting_with_each(terms: list[str], *, email: bool = False) -> list[list[int] | QuerySet]:
    """`_users_starting_with` for each term, in one query however many words were typed: the page's query count
    stays that of a one-word search."""
    if len(terms) == 1:
        return [_users_starting_with(terms[0], email=email)]
    users = get_user_model().objects.order_by()
    lookups = [users.filter(_name_starts_with(term, email=email)) for term in terms]
    # Each term's first few, as _users_starting_with reads them: a LIMIT inside IN, which SQLite takes in a UNION.
    firsts = [
        users.filter(pk__in=lookup.values("pk")[: MAX_MATCHING_USERS + 1]).annotate(term=Value(index))
        for index, lookup in enumerate(lookups)
    ]
    found: list[list[int]] = [[] for _term in terms]
    for index, pk in (
        firsts[0].values_list("term", "pk").union(*(first.values_list("term", "pk") for first in firsts[1:]), all=True)
    ):
        found[index].append(pk)
    return [
        few if len(few) <= MAX_MATCHING_USERS else lookup.values_list("pk", flat=True)
        for few, lookup in zip(found, lookups, strict=True)
    ]


def _as_typed_or_in_one_case(term: str) -> list[str]:
    return list(dict.fromkeys((term, term.lower(), term.upper())))


def _search_terms(search_term: str) -> list[str]:
    """What the search looks for: the text as typed, then each of its words when there are several. Words as
    Django's search reads them: a quoted phrase is one, without its quotes (so is an id pasted between quotes)."""
    words = []
    for bit in smart_split(search_term):
        if len(bit) > 1 and bit[0] in "'\"" and bit[-1] == bit[0]:
            bit = unescape_string_literal(bit)
        if (word := bit.strip()) and word not in words:
            words.append(word)
        if len(words) > MAX_WORDS:
            break
    whole = search_term.strip()
    if len(words) == 1:
        return words
    # Past a few words no row matches every one (a row has fewer fields), and each costs its index reads: a pasted
    # paragraph is the whole text alone.
    return [whole, *words] if 1 < len(words) <= MAX_WORDS else ([whole] if whole else [])


# A SHA256 fingerprint as ssh-keygen writes it (unpadded base64), wherever it stands in what was pasted.
_SHA256_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]+")
_BASE64_PART = re.compile(r"[A-Za-z0-9+/]{8,}=*")
# An MD5 fingerprint as `ssh-keygen -l -E md5` writes it, wherever it stands in what was pasted.
_MD5_FINGERPRINT = re.compile(r"MD5:([0-9a-f][0-9a-f:]*)", re.IGNORECASE)
# An MD5 fingerprint's start as NSML lists it (colon hex) or its NSML name (the same hex without colons), any case.
# Pairs, each with or without its colon, then at most one digit: one way to read any text, so a long run of hex
# that does not match (a pasted hash and more) fails in linear time, not by trying every split of it into pairs.
_MD5_HEX = re.compile(r"[0-9a-f]{2}(?::?[0-9a-f]{2})*(?::?[0-9a-f])?:?|[0-9a-f]", re.IGNORECASE)
# What stands before a fingerprint's own characters: typed alone (or its start), it names no fingerprint.
_FINGERPRINT_LABELS = ("SHA256:", "MD5:")


def _md5_fingerprint(term: str) -> str | None:
    """The colon-separated hex of an `MD5:` fingerprint wherever it stands in `term`, lower case; None without one."""
    found = _MD5_FINGERPRINT.search(term)
    return found.group(1).lower() if found else None


def _starts_with_fingerprint(field: str, term: str) -> Q:
    if any(label.startswith(term.upper()) for label in _FINGERPRINT_LABELS):
        return Q(pk__in=[])  # "MD5:" or "SHA" would otherwise be the start of every fingerprint
    if found := _SHA256_FINGERPRINT.search(term):
        return Q(**{f"{field}__startswith": found.group()})
    if (md5 := _md5_fingerprint(term)) is not None:  # stored without its "MD5:", as NSML gives it
        return Q(**{f"{field}__startswith": md5})
    found = Q(**{f"{field}__startswith": term})
    if _BASE64_PART.fullmatch(term):  # the part after "SHA256:", padded or not
        found |= Q(**{f"{field}__startswith": "SHA256:" + term.rstrip("=")})
    if _MD5_HEX.fullmatch(term):  # stored lower case with colons, as NSML lists it; nsml_sync prints the name
        digits = term.replace(":", "").lower()
        found |= Q(**{f"{field}__startswith": ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))})
    return found


class IndexedSearchMixin:
    """The admin's search box as `indexed_search(term, users)`: a filter each part of which an index answers on
    PostgreSQL, in place of Django's substring match over `search_fields`. Several words: the whole text, or every
    word (each answered by the indexes too, so PostgreSQL combines their bitmaps)."""

    indexed_search: Callable[[str, list[int] | QuerySet], Q]
    search_emails = False  # whether a term may be the start of a user's email

    def get_search_results(self, request, queryset, search_term):
        terms = _search_terms(search_term)
        if not terms:
            return queryset, False
        users = _users_starting_with_each(terms, email=self.search_emails)
        found = [self.indexed_search(term, matching) for term, matching in zip(terms, users, strict=True)]
        search = found[0]
        if len(terms) > 1:
            # A word whose users are a list is answered by the indexes alone, and PostgreSQL finds the rows of every
            # word from its rows. When each word starts the names of too many users for a list, the rows of all of
            # them would be read through the whole table: the words are not looked for, and the admin is told.
            if any(isinstance(matching, list) for matching in users[1:]):
                search |= reduce(and_, found[1:])
            else:
                messages.warning(request, gettext(TOO_MANY_USERS_FOR_WORDS) % {"count": MAX_MATCHING_USERS})
        return queryset.filter(search), False


TOO_MANY_USERS_FOR_WORDS = _(
    "Each word of the search starts the names of more than %(count)d users, so only the rows that match the whole "
    "search are listed: type more of a user name."
)


class LiteralQuoteSearchMixin:
    """Django's search, with a quote typed alone (or two with nothing between) looked for as typed: Django read `'`
    as an empty quoted phrase, which every row contains, so the list showed everyone (an O'Brien was not found)."""

    def get_search_results(self, request, queryset, search_term):
        bits = [_literal_quotes(bit) for bit in smart_split(search_term)]
        return super().get_search_results(request, queryset, " ".join(bits))


def _literal_quotes(bit: str) -> str:
    """`bit` as Django's search reads it, but quotes with nothing inside kept as themselves."""
    if len(bit) <= 2 and bit[0] in "'\"" and bit[-1] == bit[0]:
        other = "'" if bit[0] == '"' else '"'
        return f"{other}{bit}{other}"
    return bit


class UnknownNameSearchMixin:
    """Django's search, and the rows of a name typed at a failed log-in that is no account's: they keep it only
    as a digest (keys/login_names.py), which the admin could not type."""

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            found |= queryset.filter(username=unknown_name(term))
        return found, may_have_duplicates


class AuditSearchMixin(IndexedSearchMixin):
    search_help_text = _(
        "Starts with, in any case: a user name or a title. Starts with: a fingerprint. Exactly: an NSML trace id or a "
        "request id. Several words: the rows that match every word (a phrase in quotes is one word)."
    )
    indexed_search = staticmethod(audit_search)


class KeySearchMixin(IndexedSearchMixin):
    search_help_text = _(
        "Starts with, in any case: an owner's user name or email, or a title. Starts with: a fingerprint (SHA256 or "
        "MD5) or an NSML name. Several words: the keys that match every word (a phrase in quotes is one word)."
    )
    indexed_search = staticmethod(key_search)
    search_emails = True


class KeyTypeFilter(admin.SimpleListFilter):
    """The key types the portal accepts, from its own list: no DISTINCT over every key to find them."""

    title = _("type")
    parameter_name = "key_type"

    def lookups(self, request, model_admin):
        return [(key_type, key_type) for key_type in ACCEPTED_TYPES]

    def queryset(self, request, queryset):
        return queryset.filter(key_type=self.value()) if self.value() else queryset
