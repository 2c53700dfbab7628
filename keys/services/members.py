"""What the portal remembers about a member between visits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from keys.models import MemberProfile

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def remember_language(user: User, language: str | None) -> None:
    """Keep the language of the member's request (log-in, key submission, the language switch) for the emails
    the periodic job sends later, when there is no request to take it from."""
    if not user.pk or language not in dict(settings.LANGUAGES):
        return
    updated = MemberProfile.objects.filter(user=user).exclude(language=language).update(language=language)
    if not updated:
        MemberProfile.objects.get_or_create(user=user, defaults={"language": language})
