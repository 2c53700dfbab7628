"""Django's Redis cache with one client, and one connection pool, per Redis server in the process.

Django's `RedisCacheClient` builds a new `redis.Redis` for every cache call (about 80 µs: its table of
reply callbacks, more than half a round trip on loopback), and Django keeps a cache object, with its
own connection pool, per thread (about 0.1 MiB and a connection each, with gunicorn's 40 threads). A
`redis.Redis` and its pool are safe to share between threads (each command borrows a connection), so
the process keeps one of each per server.

`incr` (and so `decr`) is one round trip: Django's asks EXISTS, then INCRBY, and a key that expires in
between comes back from INCRBY as a new counter with no expiry, which Redis then keeps for ever. Here
both happen in one Lua script, atomically. A Redis whose access list denies scripts gets Django's two
steps instead (and a warning in the log, once). Everything else is Django's: serialisation, timeouts.
"""

from __future__ import annotations

import logging
import threading

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from redis.exceptions import NoPermissionError

logger = logging.getLogger("portal.cache")

# KEYS[1] by ARGV[1], only if it exists (a nil reply otherwise), as one atomic step.
INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return false
"""


class _Server:
    """One Redis server as this process uses it: one client (and pool), and the increment script."""

    def __init__(self, client) -> None:
        self.client = client
        self.incr_existing = client.register_script(INCR_EXISTING)
        self.scripts_allowed = True  # until Redis answers NOPERM to the script


_SERVERS: dict[tuple, _Server] = {}
_LOCK = threading.Lock()


class SharedClientRedisCacheClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        return self._server(write).client

    def incr(self, key, delta=1):
        server = self._server(write=True)
        if not server.scripts_allowed:
            return super().incr(key, delta)
        try:
            value = server.incr_existing(keys=[key], args=[delta], client=server.client)
        except NoPermissionError:
            server.scripts_allowed = False
            logger.warning("Redis denies scripts to the portal's user; increments take two round trips")
            return super().incr(key, delta)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value

    def _server(self, write: bool) -> _Server:
        index = self._get_connection_pool_index(write)
        url = self._servers[index]
        identity = (url, self._pool_class, repr(sorted(self._pool_options.items(), key=lambda item: item[0])))
        server = _SERVERS.get(identity)
        if server is None:
            with _LOCK:
                server = _SERVERS.get(identity)
                if server is None:
                    pool = self._pool_class.from_url(url, **self._pool_options)
                    client = self._client(connection_pool=pool)
                    server = _SERVERS[identity] = _Server(client)
        return server


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
