"""Who asked for a key's revocation, and from where, stored on the key when it moves to `revoking`.

A reconcile pass that confirms the revocation records it in the requester's name. Keys already `revoking`
on upgrade take theirs from their audit, as the reconciler looked it up before: the actor and origin of the
latest unfinished revocation of the key (none: the portal itself, as before).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def requesters_of_keys_being_revoked(apps, schema_editor):
    RegisteredKey = apps.get_model("keys", "RegisteredKey")
    AuditEvent = apps.get_model("keys", "AuditEvent")
    for key in RegisteredKey.objects.filter(status="revoking"):
        asked = (
            AuditEvent.objects.filter(registered_key=key, action="revoke")
            .exclude(outcome="success")
            .order_by("-id")
            .first()
        )
        if asked is not None:
            RegisteredKey.objects.filter(pk=key.pk).update(
                revoke_requested_by=asked.actor_id,
                revoke_requested_ip=asked.client_ip,
                revoke_requested_agent=asked.user_agent,
            )


class Migration(migrations.Migration):

    dependencies = [
        ('keys', '0018_refusalwindow_staff_sso_user'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='registeredkey',
            name='revoke_requested_agent',
            field=models.CharField(blank=True, help_text='The browser, API client or command that asked for the revocation.', max_length=512, verbose_name='revocation asked with'),
        ),
        migrations.AddField(
            model_name='registeredkey',
            name='revoke_requested_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='revocation asked by'),
        ),
        migrations.AddField(
            model_name='registeredkey',
            name='revoke_requested_ip',
            field=models.GenericIPAddressField(blank=True, null=True, verbose_name='revocation asked from'),
        ),
        migrations.RunPython(requesters_of_keys_being_revoked, migrations.RunPython.noop),
    ]
