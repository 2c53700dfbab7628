"""Django's cached database session store, recording each session's owner (keys/sessions/__init__.py)."""

from django.contrib.sessions.backends import cached_db

from keys.sessions import OwnedSessionMixin


class SessionStore(OwnedSessionMixin, cached_db.SessionStore):
    def delete(self, session_key: str | None = None) -> None:
        # The cached copy first. Django deletes the database row (and with it the session's recorded owner) first:
        # with the cache (Redis) unreachable, the cached copy outlived it, with nothing left to find it by, and signed
        # its user in again once Redis and the account were back. This way the row stays, and the next pass that ends
        # a deactivated user's sessions finds it again.
        session_key = session_key or self.session_key
        if session_key is not None:
            self._cache.delete(self.cache_key_prefix + session_key)
        # The database's delete alone: cached_db's would delete the cached copy a second time, a Redis call more.
        super(cached_db.SessionStore, self).delete(session_key)
