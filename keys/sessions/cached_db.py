"""Django's cached database session store, recording each session's owner (keys/sessions/__init__.py)."""

from django.contrib.sessions.backends import cached_db

from keys.sessions import OwnedSessionMixin


class SessionStore(OwnedSessionMixin, cached_db.SessionStore):
    pass
