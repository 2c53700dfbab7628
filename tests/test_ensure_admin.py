from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def run(monkeypatch, **env) -> str:
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


def test_it_creates_an_admin_with_a_generated_password_printed_once(monkeypatch, client):
    first = run(monkeypatch)
    password = first.split("password: ")[1].split()[0]

    assert client.login(username="admin", password=password)
    second = run(monkeypatch)
    assert password not in second
    assert "Log in as admin" in second
    assert get_user_model().objects.count() == 1


def test_it_creates_the_admin_named_in_the_environment(monkeypatch, client):
    out = run(monkeypatch, DJANGO_SUPERUSER_USERNAME="root-admin", DJANGO_SUPERUSER_PASSWORD="s3cret-pass-word")

    assert "s3cret-pass-word" not in out
    assert client.login(username="root-admin", password="s3cret-pass-word")
    assert get_user_model().objects.get().is_superuser
