"""Whose each signed-in session is (keys/sessions/): ending a member's sessions looked in every live session.

The sessions already signed in when this runs are read once, here, so that deactivating their members still
ends them (decoded as Django's own store does: the same signing salt); a session that cannot be decoded (another secret key, damaged) is left out, as Django ignores it.
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import migrations, models
from django.utils import timezone


def record_signed_in_sessions(apps, schema_editor):
    Session, SessionOwner, User = (
        apps.get_model("sessions", "Session"),
        apps.get_model("keys", "SessionOwner"),
        apps.get_model("auth", "User"),
    )
    decoder, users = SessionStore(), set(User.objects.values_list("pk", flat=True))
    owners = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=2000):
        user_id = decoder.decode(session.session_data).get(SESSION_KEY)
        if user_id is not None and str(user_id).isdigit() and int(user_id) in users:
            owners.append(SessionOwner(session_id=session.session_key, user_id=int(user_id)))
    SessionOwner.objects.bulk_create(owners, batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("keys", "0021_key_search_indexes"),
        ("sessions", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SessionOwner",
            fields=[
                (
                    "session",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="owner",
                        serialize=False,
                        to="sessions.session",
                        verbose_name="session",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
            options={
                "verbose_name": "session owner",
                "verbose_name_plural": "session owners",
                "default_permissions": (),
            },
        ),
        migrations.RunPython(record_signed_in_sessions, migrations.RunPython.noop, elidable=True),
    ]
