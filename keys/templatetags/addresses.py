"""`{{ request.get_full_path|without_keys }}`: a page's own address, echoed in its language form, with no key
or token secret a member put in it (portal/addresses.py)."""

from __future__ import annotations

from django import template

from portal.addresses import without_keys as _without_keys

register = template.Library()


@register.filter
def without_keys(url: str) -> str:
    return _without_keys(str(url))
