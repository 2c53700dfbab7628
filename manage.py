#!/usr/bin/env python
"""Django's command-line utility for the NSML key portal."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    # Django starts a command whose settings failed to load (shell, help) and fails only when it reads
    # them; settings.py refuses some on purpose (a weak secret key), so stop every command here, with the
    # line that names the setting rather than a traceback through settings.py.
    try:
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as refusal:
        from portal.logs import refusal_line

        sys.exit(refusal_line(refusal))
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
