"""Make sure someone can log in: used by `make run` on a fresh clone."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the first administrator if there is none: from DJANGO_SUPERUSER_USERNAME and "
        "DJANGO_SUPERUSER_PASSWORD when set, otherwise 'admin' with a generated password printed once."
    )

    def handle(self, *args, **options) -> None:
        users = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip()
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        if username and password:
            if users.objects.filter(username=username).exists():
                self.stdout.write(f"Log in as {username} with the password in DJANGO_SUPERUSER_PASSWORD.")
                return
            users.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(
                self.style.SUCCESS(f"Created administrator {username}; log in with DJANGO_SUPERUSER_PASSWORD.")
            )
            return

        existing = list(users.objects.filter(is_superuser=True, is_active=True).values_list("username", flat=True)[:3])
        if existing:
            names = ", ".join(existing)
            self.stdout.write(
                f"Log in as {names} (the password was printed when the account was created; "
                f"to set a new one: python manage.py changepassword {existing[0]})."
            )
            return
        username = username or "admin"
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        # Printed once, to the terminal of the person who ran it; it is not stored anywhere else.
        self.stdout.write(self.style.SUCCESS(f"Created administrator '{username}' with password: {password}"))
        self.stdout.write("This password is shown only now. Change it under Admin > Users.")
