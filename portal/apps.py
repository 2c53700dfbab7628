"""django-axes under a name the admin can translate: its app has no verbose_name, so Django shows its label
titled, "Axes", in English in every language (the permission lists of the user and group pages)."""

from __future__ import annotations

from axes.apps import AppConfig as AxesAppConfig
from django.utils.translation import gettext_lazy as _


class AxesConfig(AxesAppConfig):
    verbose_name = _("Log-in attempts")
