"""How the portal's commands end when they fail: with LOG_FORMAT=json, as one JSON line like every other line of
the portal (a log collector reads a container's stream as JSON throughout), and plain otherwise, as Django writes.

`PortalCommand` is the base of the portal's commands. With LOG_FORMAT=json, Django's last words on a failure
("CommandError: ...", on stderr), a usage error (argparse's usage and "error: ..." lines) and an unexpected
exception's traceback each become one JSON line (level ERROR; the traceback in `exception`), on stderr as before,
so stdout keeps only what a command prints for a script (create_api_token's secret). The exit status is unchanged:
the CommandError's, `usage_status` for a usage error, 1 for an exception.
"""

from __future__ import annotations

import io
import logging
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from portal.jsonlog import JsonFormatter
from portal.logs import EscapeControlCharacters

# argparse's status for a command line it cannot read (an unknown option, a value of the wrong type).
USAGE_STATUS = 2


class PortalCommand(BaseCommand):
    # The exit status of a usage error: argparse's, unless a command gives 2 a meaning of its own (nsml_sync).
    usage_status = USAGE_STATUS

    def run_from_argv(self, argv: list[str]) -> None:
        self.command_name = argv[1] if len(argv) > 1 else type(self).__module__.rsplit(".", 1)[-1]
        if not _json():
            super().run_from_argv(argv)
            return
        self.stderr = OutputWrapper(_FailureLines(self))
        try:
            super().run_from_argv(argv)
        except Exception:
            if "--traceback" in argv:
                raise
            self.log_failure(f"{self.command_name} failed", exc_info=sys.exc_info())
            sys.exit(1)

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        command = self

        def usage_error(message: str) -> None:
            if not parser.called_from_command_line:
                raise CommandError(f"Error: {message}")  # call_command: Django's own behaviour
            if _json():
                command.command_name = subcommand
                command.log_failure(f"usage: {message} (see manage.py {subcommand} --help)")
                sys.exit(command.usage_status)
            parser.print_usage(sys.stderr)
            parser.exit(command.usage_status, f"{parser.prog}: error: {message}\n")

        parser.error = usage_error
        return parser

    def say(self, text: str, style=None) -> None:
        """A line of the command's report on stdout: plain (in `style`, one of self.style's), or with
        LOG_FORMAT=json one JSON line (level INFO; no terminal colours in it)."""
        if _json():
            self.stdout.write(self.json_line(text, logging.INFO))
        else:
            self.stdout.write(style(text) if style else text)

    def note(self, text: str, level: int = logging.INFO, style=None) -> None:
        """A line for the operator on stderr, not for a script reading stdout: plain (in `style`), or with
        LOG_FORMAT=json one JSON line at `level`."""
        if _json():
            self.log_line(text, level)
        else:
            self.stderr.write(style(text) if style else text)

    def log_failure(self, message: str, exc_info=None) -> None:
        self.log_line(message, logging.ERROR, exc_info)

    def log_line(self, message: str, level: int, exc_info=None) -> None:
        """One JSON line on stderr, of logger `keys.commands.<command>`."""
        sys.stderr.write(self.json_line(message, level, exc_info) + "\n")
        sys.stderr.flush()

    def json_line(self, message: str, level: int, exc_info=None) -> str:
        name = getattr(self, "command_name", None) or type(self).__module__.rsplit(".", 1)[-1]
        record = logging.LogRecord(f"keys.commands.{name}", level, "", 0, message, None, exc_info)
        EscapeControlCharacters().filter(record)
        return JsonFormatter().format(record)


def _json() -> bool:
    return settings.LOG_FORMAT == "json"


class _FailureLines(io.TextIOBase):
    """The command's stderr under LOG_FORMAT=json: each write a JSON line of the command's (Django's
    "CommandError: " prefix dropped: the level says it is an error)."""

    def __init__(self, command: PortalCommand) -> None:
        self.command = command

    def write(self, text: str) -> int:
        if message := text.strip().removeprefix("CommandError: "):
            self.command.log_failure(message)
        return len(text)
