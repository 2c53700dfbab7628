"""consolemail:// with LOG_FORMAT=json: each notice is one log line (logger portal.email), as Django's console
backend would print it, rather than the message's own lines among the JSON ones, which no log reader could parse.
"""

from __future__ import annotations

import io
import logging

from django.core.mail.backends.console import EmailBackend

logger = logging.getLogger("portal.email")


class LoggedEmailBackend(EmailBackend):
    def write_message(self, message) -> None:
        stream, self.stream = self.stream, io.StringIO()
        try:
            super().write_message(message)  # Django's text of it, into the buffer
            # The log filter writes its line breaks as \n, so it is one line; the row of dashes after it goes.
            logger.info("%s", self.stream.getvalue().rstrip("-\n"))
        finally:
            self.stream = stream
