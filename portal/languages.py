"""The page language from Accept-Language, with the languages a browser refuses left out.

Django's parser keeps a range sent with `q=0` and only sorts it last, so `ko;q=0` alone (or `ko-KR;q=0`) chose
Korean, though q=0 means "not acceptable" (RFC 9110, 12.4.2). The header is rewritten without those ranges
before Django's LocaleMiddleware reads it; the language cookie, Django's length limit and its parsing stay as
they are, and a header Django cannot parse is left for it to ignore.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils.translation.trans_real import parse_accept_lang_header


def acceptable_languages(header: str) -> str:
    """The header's ranges but those sent with q=0; `*` stands for the portal's languages not refused."""
    ranges = parse_accept_lang_header(header)  # lower case, highest q first; () for a malformed header
    refused = {language for language, quality in ranges if quality == 0}
    if not refused:
        return header
    kept = []
    for language, quality in ranges:
        if quality == 0:
            continue
        if language == "*":
            # Django stops at `*` and takes its default, which may be the very language refused (`en;q=0, *`).
            kept.extend(f"{code};q={quality}" for code, _name in settings.LANGUAGES if code not in refused)
        else:
            kept.append(f"{language};q={quality}")
    return ", ".join(kept)


class AcceptLanguageMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware, reading the header without its refused languages."""

    def process_request(self, request: HttpRequest) -> None:
        header = request.META.get("HTTP_ACCEPT_LANGUAGE")
        if header:
            request.META["HTTP_ACCEPT_LANGUAGE"] = acceptable_languages(header)
        super().process_request(request)
