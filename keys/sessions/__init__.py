"""Django's session stores, which also record whose each signed-in session is (`SessionOwner`), so that a
member's sessions can be found without decoding every session: `SESSION_ENGINE` names `keys.sessions.db` or
`keys.sessions.cached_db`, Django's own with this added.

The owner is written when a session is saved under a new key (log-in, a password change, any `cycle_key`) or
for another user than it was loaded for; a page view, which saves nothing, writes nothing. A session's row
goes with it (log-out, `clearsessions`, `end_sessions_of`).
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model


class OwnedSessionMixin:
    _owner_recorded: str | None = None

    def load(self) -> dict:
        data = super().load()
        self._owner_recorded = data.get(SESSION_KEY)  # sessions older than the index: its migration wrote them
        return data

    def save(self, must_create: bool = False) -> None:
        super().save(must_create=must_create)
        user_id = self._get_session(no_load=must_create).get(SESSION_KEY)
        if user_id is not None and (must_create or user_id != self._owner_recorded):
            record_owner(self.session_key, user_id)
            self._owner_recorded = user_id


def record_owner(session_key: str, user_id: str) -> None:
    from keys.models import SessionOwner

    if not get_user_model().objects.filter(pk=user_id).exists():
        return  # its user was deleted meanwhile: the session signs no one in, and needs no owner
    SessionOwner.objects.bulk_create(
        [SessionOwner(session_id=session_key, user_id=int(user_id))],
        update_conflicts=True,
        unique_fields=["session"],
        update_fields=["user"],
    )


def end_sessions_of(user_id: int) -> int:
    """Delete every session of `user_id`, from the database and the cache; how many there were."""
    from keys.models import SessionOwner

    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = list(SessionOwner.objects.filter(user_id=user_id).values_list("session_id", flat=True))
    for key in keys:
        store(session_key=key).delete()
    return len(keys)
