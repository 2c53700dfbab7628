"""What the admin index shows under *Needs attention*."""

from __future__ import annotations

from django import template

from keys import selectors, services

register = template.Library()


@register.simple_tag
def needs_attention() -> selectors.Attention:
    return selectors.attention()


@register.filter
def pass_summary(record) -> str:
    """A reconcile pass's outcome in the reader's language."""
    return services.describe_pass(record)
