"""The portal's one way to write a moment: local time (TIME_ZONE) with seconds and the zone.

Templates get the same through the format modules in portal/formats/ ({{ value }} or |date:"DATETIME_FORMAT");
this is for text made outside templates: model names, the CSV, command output.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import formats, timezone


def format_moment(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
