"""A page's address never brings a key back into a page: what a member pasted into a link (a public or
private key, an access token's secret, in a `next=` too) is left out of every address the portal echoes.

`KeylessAddressMiddleware` sends a request whose query string holds one on to the same address without it
(before any view renders the query into a log-in form's `next`, a language form, or the admin's log-in form);
`without_keys` is what the pages use for the rest (a path that holds one, a `next` posted in a form).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote, unquote_plus, urlencode, urlsplit, urlunsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from portal.logs import TOKEN_SECRET, holds_private_key_text
from portal.outages import API_PREFIX

# An OpenSSH public key's blob: its type's length (four bytes, "AAAA" in base64) and then the type's name.
_BLOB = re.compile(r"AAAA[A-Za-z0-9+/]{36,}")
_KEY_TYPE_STARTS = (b"ssh-", b"ecdsa-", b"sk-")
_PEM_PUBLIC = re.compile(r"BEGIN (?:SSH2 |RSA )?PUBLIC KEY", re.IGNORECASE)


def holds_key_material(text: str) -> bool:
    """True when `text` (an address, or a part of one), as written or percent-decoded (twice: a URL in a URL's
    `next=`), holds a public key, private-key material or an access token's secret."""
    if holds_private_key_text(text):
        return True
    readings = {text, unquote(text), unquote_plus(text)}
    readings |= {unquote(reading) for reading in readings} | {unquote_plus(reading) for reading in readings}
    return any(_holds_public_key_or_secret(reading) for reading in readings)


def _holds_public_key_or_secret(text: str) -> bool:
    if TOKEN_SECRET.search(text) or _PEM_PUBLIC.search(text):
        return True
    for blob in _BLOB.findall(text):
        try:
            start = base64.b64decode(blob[:24])
        except (binascii.Error, ValueError):
            continue
        if start.startswith(b"\0\0\0") and start[4:].startswith(_KEY_TYPE_STARTS):
            return True
    return False


def without_keys(url: str) -> str:
    """`url` without what holds key material: such a query parameter is left out, a `next=` keeps its own
    address without it, and a path that holds any is the portal's root."""
    if not holds_key_material(url):
        return url
    parts = urlsplit(url)
    path = "/" if holds_key_material(parts.path) else parts.path
    kept = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if holds_key_material(name):
            continue
        if holds_key_material(value):
            if name != "next":
                continue
            value = without_keys(value)
        kept.append((name, value))
    query = urlencode(kept)
    if holds_key_material(query):  # a key cut across parameters: none of them is kept
        query = ""
    fragment = "" if holds_key_material(parts.fragment) else parts.fragment
    return urlunsplit((parts.scheme, parts.netloc, path, query, fragment))


class KeylessAddressMiddleware:
    """A query string with key material in it: the same request again at the address without it. Not under
    /api/, whose clients are scripts that follow no redirect, nor on the admin's lists, which say so beside
    the list (keys.admin.ChangeListInputMixin); the admin's log-in page, yes."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if query and _echoes_its_query(request.path) and holds_key_material(query):
            resend = request.method not in ("GET", "HEAD")  # a form's POST is sent again, as it was (307)
            return HttpResponseRedirect(without_keys(request.get_full_path()), preserve_request=resend)
        return self.get_response(request)


def _echoes_its_query(path: str) -> bool:
    if path.startswith(API_PREFIX):
        return False
    return not path.startswith(reverse("admin:index")) or path == reverse("admin:login")
