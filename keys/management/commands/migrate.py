"""Django's `migrate`, except that a database it cannot reach is one line and status 3, as for the portal's own
commands (keys/management/database.py), instead of psycopg's traceback. Only the first connection is checked
so: an error during a migration is Django's own report, traceback and all."""

from __future__ import annotations

from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import connections

from keys.management.database import database_reachable
from keys.management.failures import PortalCommand


class Command(PortalCommand, DjangoMigrateCommand):
    def handle(self, *args, **options):
        with database_reachable("no migration was applied."):
            connections[options["database"]].ensure_connection()
        return super().handle(*args, **options)
