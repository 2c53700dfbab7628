"""Make sure someone can log in: used by `make run` on a fresh clone.

It creates only the first administrator: with administrators already there it says whom to log in as and
creates no one, though DJANGO_SUPERUSER_USERNAME names someone else (`createsuperuser` adds more). A password
from DJANGO_SUPERUSER_PASSWORD must pass AUTH_PASSWORD_VALIDATORS, as one set in the admin must; without
DJANGO_SUPERUSER_USERNAME it is the password of 'admin'.
"""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from keys.management.database import database_reachable
from keys.management.failures import PortalCommand


class Command(PortalCommand):
    help = (
        "Create the first administrator if there is none: from DJANGO_SUPERUSER_USERNAME and "
        "DJANGO_SUPERUSER_PASSWORD when set (the password must pass the portal's password rules; the user name "
        "defaults to 'admin'), otherwise 'admin' with a generated password printed once. With administrators "
        "already there, say whom to log in as and create no one."
    )

    def handle(self, *args, **options) -> None:
        with database_reachable("no administrator was created."):
            self._ensure_admin()

    def _ensure_admin(self) -> None:
        users = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip()
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        # What named the account, for the line that says it is not created.
        named_by = (
            "DJANGO_SUPERUSER_USERNAME" if username else "DJANGO_SUPERUSER_PASSWORD without DJANGO_SUPERUSER_USERNAME"
        )
        if password and not username:
            username = "admin"  # the account it would create anyway: the password set is for it, not ignored
        if username:
            try:
                users._meta.get_field(users.USERNAME_FIELD).clean(username, None)
            except ValidationError as invalid:
                raise CommandError(f"DJANGO_SUPERUSER_USERNAME is not a valid user name: {' '.join(invalid)}") from None
        named = users.objects.filter(username=username).first() if username else None
        if named is not None and password:
            self._say_how_to_log_in(named, password)
            return

        existing = list(users.objects.filter(is_superuser=True, is_active=True).values_list("username", flat=True)[:3])
        if named is not None and not existing:
            self._say_how_to_log_in(named, password)  # refuses: the account it names is no administrator
        if existing:
            if username and named is None:
                # Only the first administrator is made here; a second one is an admin's decision.
                self.stdout.write(
                    self.style.WARNING(
                        f"Not creating {username} ({named_by}): administrators exist already, and "
                        "ensure_admin creates only the first. To add them: python manage.py createsuperuser "
                        f"--username {username}"
                    )
                )
            names = ", ".join(existing)
            self.stdout.write(
                # Made by this command, an account's password was printed then, or was DJANGO_SUPERUSER_PASSWORD;
                # made otherwise (createsuperuser, the admin), it is whatever was chosen there.
                f"Log in as {names} with the password it was given when it was created; "
                f"to set a new one: python manage.py changepassword {existing[0]}."
            )
            return
        if username and password:
            self._refuse_a_weak_password(users(username=username), password)
            users.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(
                self.style.SUCCESS(f"Created administrator {username}; log in with DJANGO_SUPERUSER_PASSWORD.")
            )
            return
        username = username or "admin"
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        # Printed once, to the terminal of the person who ran it; it is not stored anywhere else.
        self.stdout.write(self.style.SUCCESS(f"Created administrator '{username}' with password: {password}"))
        self.stdout.write("This password is shown only now. Change it under Admin > Users.")

    @staticmethod
    def _refuse_a_weak_password(user, password: str) -> None:
        """The rules a password set in the admin must pass; the message names them, never the password."""
        try:
            password_validation.validate_password(password, user=user)
        except ValidationError as weak:
            raise CommandError(
                f"DJANGO_SUPERUSER_PASSWORD is refused by the password rules: {' '.join(weak.messages)} "
                "No administrator was created; set a stronger one."
            ) from None

    def _say_how_to_log_in(self, user, password: str) -> None:
        """The account DJANGO_SUPERUSER_USERNAME names exists: say how to log in only if that is true."""
        username = user.get_username()
        if not (user.is_active and user.is_superuser):
            raise CommandError(
                f"DJANGO_SUPERUSER_USERNAME names {username}, who is not an active administrator; choose another "
                "name, or make them one under Admin > Users."
            )
        if not user.check_password(password):
            # Not an error: the admin may have changed it since, and `make run` should still start.
            self.stdout.write(
                self.style.WARNING(
                    f"Log in as {username} with its password, which is not the one in DJANGO_SUPERUSER_PASSWORD "
                    f"(changed since?); to set it: python manage.py changepassword {username}"
                )
            )
            return
        self.stdout.write(f"Log in as {username} with the password in DJANGO_SUPERUSER_PASSWORD.")
