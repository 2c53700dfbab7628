"""Revoke the live access tokens of users deactivated before deactivation revoked them.

Since this release, deactivating or offboarding a user revokes their tokens (keys.services.tokens
.revoke_tokens_of). Tokens of users deactivated earlier were only refused while the account stayed
inactive, and would have worked again had it been reactivated. Each is revoked here and audited as the
service audits it (`token_revoke`, reason `owner_deactivated`), by "manage.py migrate".
"""

from django.db import migrations
from django.utils import timezone

ORIGIN = "manage.py migrate"


def revoke_tokens_of_deactivated_users(apps, schema_editor):
    ApiToken = apps.get_model("keys", "ApiToken")
    AuditEvent = apps.get_model("keys", "AuditEvent")
    now = timezone.now()
    for token in ApiToken.objects.filter(user__is_active=False, revoked_at__isnull=True).select_related("user"):
        if not ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
            continue
        AuditEvent.objects.create(
            action="token_revoke",
            outcome="success",
            actor=None,
            actor_username=ORIGIN,
            subject=token.user,
            user_agent=ORIGIN,
            title=token.name,
            fingerprint=token.prefix,
            reason="owner_deactivated",
            detail="revoked on upgrade: the account was deactivated before that revoked its tokens",
        )


class Migration(migrations.Migration):
    dependencies = [("keys", "0014_reconcile_pass_report")]

    operations = [migrations.RunPython(revoke_tokens_of_deactivated_users, migrations.RunPython.noop)]
