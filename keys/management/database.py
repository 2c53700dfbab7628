"""What a command says when the database cannot be reached, or answers without the portal's tables: one line for
the operator, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError
from django.db import DatabaseError, InterfaceError, OperationalError, ProgrammingError, connection

from keys.models import RegisteredKey

# nsml_sync's exit status for the same: cron and scripts tell it apart from a refusal (1).
UNREACHABLE_STATUS = 3


@contextmanager
def database_reachable(consequence: str) -> Iterator[None]:
    """Turn a refused, dropped or timed-out database connection into a CommandError naming DATABASE_URL.
    Only the error's class is shown: the driver's message names hosts and users the operator knows already."""
    try:
        yield
    except (OperationalError, InterfaceError, ProgrammingError) as error:
        if isinstance(error, ProgrammingError) and not _without_tables():
            raise  # not the database's absence or emptiness: a fault, with its traceback
        raise database_failure(error, consequence) from None


def database_failure(error: DatabaseError, consequence: str) -> CommandError:
    """What to tell an operator when the database failed a command: unreachable, or reached but without the
    portal's tables (migrate has not run on it, or DATABASE_URL names another database: SQLite says so with an
    OperationalError, PostgreSQL with a ProgrammingError), which the network and the server do not explain."""
    if _without_tables():
        return CommandError(
            f"The database has none of the portal's tables: {consequence} Run `python manage.py migrate` on it, "
            "or check that DATABASE_URL names the portal's database.",
            returncode=UNREACHABLE_STATUS,
        )
    return CommandError(
        f"The database could not be reached ({type(error).__name__}): {consequence} "
        "Check DATABASE_URL and that the database server is running.",
        returncode=UNREACHABLE_STATUS,
    )


def _without_tables() -> bool:
    """True when the database answers and lacks the portal's tables; False when it does not answer."""
    if connection.connection is None:
        return False  # it never answered: asking again would only wait as long again
    try:
        return RegisteredKey._meta.db_table not in connection.introspection.table_names()
    except DatabaseError:
        return False
