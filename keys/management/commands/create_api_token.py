"""Print a new personal access token for a user: for provisioning, where nobody opens the Tokens page."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from keys.audit import Origin
from keys.management.database import database_reachable
from keys.management.failures import PortalCommand
from keys.services import tokens


@contextlib.contextmanager
def logs_on_stderr() -> Iterator[None]:
    """Log lines (the audit's among them) go to stderr meanwhile: the portal logs to stdout, and here
    stdout holds the secret alone, for a provisioning script to capture."""
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values())]
    handlers = {
        handler
        for logger in loggers
        if isinstance(logger, logging.Logger)
        for handler in logger.handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout
    }
    for handler in handlers:
        handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(sys.stdout)


class Command(PortalCommand):
    help = "Create an API access token for USERNAME and print its secret (shown only this once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="what the token is for; shown in the audit log")
        parser.add_argument(
            "--days", type=int, default=None, help="lifetime in days (default and most: API_TOKEN_MAX_DAYS)"
        )

    def handle(self, *args, username: str, name: str, days: int | None, **options) -> None:
        with database_reachable("no token was created."):
            self._create(username, name, days)

    def _create(self, username: str, name: str, days: int | None) -> None:
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"There is no user {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"{username} is deactivated; a token for them would not work.")
        days = settings.API_TOKEN_MAX_DAYS if days is None else days
        try:
            with logs_on_stderr():
                new = tokens.create_token(user=user, name=name, days=days, origin=Origin.command("create_api_token"))
        except ValidationError as refusal:
            raise CommandError(_operator_message(refusal, username, name)) from None
        # Only the secret on stdout, so a script can capture it; the rest goes to stderr.
        self.stdout.write(new.secret)
        self.note(f"Token {new.token.name!r} for {username}, expires {new.token.expires_at:%Y-%m-%d %H:%M} UTC.")


def _operator_message(refusal: ValidationError, username: str, name: str) -> str:
    """The refusal in words for the operator: the service speaks to the member ("You already have...")."""
    messages = []
    for errors in refusal.error_dict.values():
        for error in errors:
            if error.code == "duplicate_name":
                messages.append(f"{username} already has a live token named {name!r}; choose another --name.")
            else:
                messages.extend(error.messages)
    return " ".join(messages)
