from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = _("SSH keys")

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.core.signals import request_finished, request_started
        from django.db import close_old_connections
        from django.db.models.signals import post_save, pre_save

        import keys.auth  # noqa: F401  (connects the log-in audit receivers at start-up)
        import keys.checks  # noqa: F401  (registers the settings checks)
        import keys.reauth  # noqa: F401  (a log-in counts as a recent password)
        from keys.account_audit import audit_account_change, remember_stored_values
        from keys.offboarding import revoke_keys_of_deactivated_user
        from keys.outbox import finish_request, start_request

        user_model = get_user_model()
        # The account change is audited before the revocations the offboarding receiver then makes.
        pre_save.connect(remember_stored_values, sender=user_model, dispatch_uid="keys-account-audit-before")
        post_save.connect(audit_account_change, sender=user_model, dispatch_uid="keys-account-audit")
        post_save.connect(revoke_keys_of_deactivated_user, sender=user_model, dispatch_uid="keys-offboarding")
        # A request's notices go out once its response has (keys/outbox.py), before Django lets go of the request's
        # database connection: the one that marks them sent is closed with it, not kept until the thread's next request.
        request_started.connect(start_request, dispatch_uid="keys-outbox-start")
        request_finished.disconnect(close_old_connections)
        request_finished.connect(finish_request, dispatch_uid="keys-outbox-send")
        request_finished.connect(close_old_connections)
