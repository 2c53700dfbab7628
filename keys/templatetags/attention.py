"""What the admin index shows under *Needs attention*."""

from __future__ import annotations

from django import template

from keys import selectors

register = template.Library()


@register.simple_tag
def needs_attention() -> selectors.Attention:
    return selectors.attention()
