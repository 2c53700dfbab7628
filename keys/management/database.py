"""What a command says when the database cannot be reached: one line for the operator, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError
from django.db import InterfaceError, OperationalError

# nsml_sync's exit status for the same: cron and scripts tell it apart from a refusal (1).
UNREACHABLE_STATUS = 3


@contextmanager
def database_reachable(consequence: str) -> Iterator[None]:
    """Turn a refused, dropped or timed-out database connection into a CommandError naming DATABASE_URL.
    Only the error's class is shown: the driver's message names hosts and users the operator knows already."""
    try:
        yield
    except (OperationalError, InterfaceError) as error:
        raise CommandError(
            f"The database could not be reached ({type(error).__name__}): {consequence} "
            "Check DATABASE_URL and that the database server is running.",
            returncode=UNREACHABLE_STATUS,
        ) from None
