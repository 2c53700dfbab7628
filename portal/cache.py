"""Django's Redis cache with one client, and one connection pool, per Redis server in the process.

Django's `RedisCacheClient` builds a new `redis.Redis` for every cache call (about 80 µs: its table of
reply callbacks, more than half a round trip on loopback), and Django keeps a cache object, with its
own connection pool, per thread (about 0.1 MiB and a connection each, with gunicorn's 40 threads). A
`redis.Redis` and its pool are safe to share between threads (each command borrows a connection), so
the process keeps one of each per server. Everything else is Django's: serialisation, timeouts.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_CLIENTS: dict[tuple, object] = {}
_LOCK = threading.Lock()


class SharedClientRedisCacheClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        server = self._servers[index]
        identity = (server, self._pool_class, repr(sorted(self._pool_options.items(), key=lambda item: item[0])))
        client = _CLIENTS.get(identity)
        if client is None:
            with _LOCK:
                client = _CLIENTS.get(identity)
                if client is None:
                    pool = self._pool_class.from_url(server, **self._pool_options)
                    client = _CLIENTS[identity] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
