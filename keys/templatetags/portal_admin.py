"""The admin index's one-line description of each model (keys.admin.MODEL_DESCRIPTIONS)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def model_description(model) -> str:
    from keys.admin import MODEL_DESCRIPTIONS  # the admin module is loaded by then (admin autodiscovery)

    return MODEL_DESCRIPTIONS.get(model._meta.label_lower, "") if model is not None else ""
