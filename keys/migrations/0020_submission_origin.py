"""Where a key's submission came from, stored with the pending key.

A reconcile pass that settles a submission records it in its member's name and says from where. Keys pending
or failed on upgrade (the ones a pass may still settle or attach) take theirs from their audit, as the
reconciler looked it up before: the origin of the latest unfinished registration of the key by its member.
"""

from django.db import migrations, models


def origins_of_unsettled_submissions(apps, schema_editor):
    RegisteredKey = apps.get_model("keys", "RegisteredKey")
    AuditEvent = apps.get_model("keys", "AuditEvent")
    for key in RegisteredKey.objects.filter(status__in=("pending", "failed")):
        submitted = (
            AuditEvent.objects.filter(registered_key=key, action="register")
            .exclude(outcome="success")
            .exclude(actor=None)  # the member's own rows, not a pass's
            .order_by("-id")
            .first()
        )
        if submitted is not None:
            RegisteredKey.objects.filter(pk=key.pk).update(
                submitted_ip=submitted.client_ip, submitted_agent=submitted.user_agent
            )


class Migration(migrations.Migration):
    dependencies = [
        ("keys", "0019_revocation_requester"),
    ]

    operations = [
        migrations.AddField(
            model_name="registeredkey",
            name="submitted_agent",
            field=models.CharField(
                blank=True,
                help_text="The browser, API client or command that submitted the key.",
                max_length=512,
                verbose_name="submitted with",
            ),
        ),
        migrations.AddField(
            model_name="registeredkey",
            name="submitted_ip",
            field=models.GenericIPAddressField(blank=True, null=True, verbose_name="submitted from"),
        ),
        migrations.RunPython(origins_of_unsettled_submissions, migrations.RunPython.noop),
    ]
