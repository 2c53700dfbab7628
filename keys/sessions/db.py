"""Django's database session store, recording each session's owner (keys/sessions/__init__.py)."""

from django.contrib.sessions.backends import db

from keys.sessions import OwnedSessionMixin


class SessionStore(OwnedSessionMixin, db.SessionStore):
    pass
