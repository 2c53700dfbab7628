"""Django's PostgreSQL backend, with a health check that costs no round trip on a connection in steady use.

With CONN_HEALTH_CHECKS (`DATABASE_URL=...?conn_health_checks=true`), Django sends `SELECT 1` before the
first query of every request that reuses a connection: one more round trip to PostgreSQL on every page and
every submission, about 5 % of a submission's time under `make bench`. Here that check is skipped while
both of these hold, as connection pools do (HikariCP's "alive bypass window"):
- the connection served a request without a database error less than `PROVEN_FOR` seconds ago;
- its socket has nothing to read: an idle connection has nothing to read unless the server ended it. A
  restart, `pg_terminate_backend`, a crashed backend or `idle_session_timeout` leave its farewell or the
  end of the stream there at once.
Otherwise Django's own check runs, and a dead connection is replaced before the request uses it. What is
left is a server that vanished without closing its connections (a host that lost power) less than
`PROVEN_FOR` seconds after the last request: that connection's next request fails, as it would if the
server vanished during a request, and Django closes the connection at its end.
"""

from __future__ import annotations

import select
import time

from django.db.backends.postgresql import base
from psycopg.pq import ConnStatus, TransactionStatus

PROVEN_FOR = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    proven_at: float | None = None

    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and self.proven_at is not None
            and time.monotonic() - self.proven_at < PROVEN_FOR
            and self._nothing_to_read()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close_if_unusable_or_obsolete(self) -> None:
        # Called as each request begins and ends: one that used the connection without a database error
        # (a refused INSERT is not one) proved it works.
        if self.connection is not None and self.health_check_done and not self.errors_occurred:
            self.proven_at = time.monotonic()
        super().close_if_unusable_or_obsolete()

    def _nothing_to_read(self) -> bool:
        pgconn = self.connection.pgconn
        if (
            self.connection.broken
            or pgconn.status != ConnStatus.OK
            or pgconn.transaction_status != TransactionStatus.IDLE
        ):
            return False
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
