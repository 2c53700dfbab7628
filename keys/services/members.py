"""What the portal remembers about a member between visits, and what a deactivated one keeps of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from keys.models import ApiToken, MemberProfile, SessionOwner
from keys.services.tokens import revoke_tokens_of
from keys.sessions import end_sessions_of

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from keys.audit import Origin


def remember_language(user: User, language: str | None) -> None:
    """Keep the language of the member's request (log-in, key submission, the language switch) for the emails
    the periodic job sends later, when there is no request to take it from."""
    if not user.pk or language not in dict(settings.LANGUAGES):
        return
    updated = MemberProfile.objects.filter(user=user).exclude(language=language).update(language=language)
    if not updated:
        MemberProfile.objects.get_or_create(user=user, defaults={"language": language})


def end_access_of_deactivated(*, origin: Origin) -> tuple[int, int]:
    """Revoke the access tokens and end the sessions that deactivated users still hold: (tokens, sessions).

    A deactivation through the admin or `save()` does both at once (keys.offboarding); one that sends no signal
    (a queryset update, a directory sync) left them, and both worked again if the account came back. The
    periodic job (nsml_sync --apply) runs this each pass; NSML is not needed for it."""
    tokens = sessions = 0
    live = ApiToken.objects.filter(user__is_active=False, revoked_at__isnull=True, expires_at__gt=timezone.now())
    leavers = {token.user for token in live.select_related("user")}  # the tokens revoke_tokens_of revokes
    for user in leavers:
        tokens += revoke_tokens_of(user, actor=None, origin=origin)
    holders = SessionOwner.objects.filter(user__is_active=False).values_list("user_id", flat=True).distinct()
    for user_id in list(holders):
        sessions += end_sessions_of(user_id)
    return tokens, sessions
