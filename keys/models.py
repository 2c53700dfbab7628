"""What the portal records: the keys it registered with NSML, and an append-only audit trail."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from keys.clock import format_moment
from keys.login_names import shown_name
from portal.logs import escape_unsafe


def choice_label(choices: type[models.Choices], value: str) -> str:
    """What `get_FOO_display()` gives, the label of `value` in the reader's language (or `value` itself when it is
    no choice), without its cost: Django makes a dict of every choice per call, translating each label to hash it.
    Each audit row's name in the admin list took 0.6 ms of it, a quarter of a page of 100 rows."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


# The states in which NSML holds, or may hold, a key: one title and one key each.
LIVE_STATUSES = ("pending", "active", "revoking")


class RegisteredKey(models.Model):
    """A member's key and where it stands with NSML; kept after revocation so history stays.

    The intent comes first: a submission is stored `pending` before the POST, a revoke moves the
    key to `revoking` before the DELETE. NSML's answer, or the reconciler, settles both.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Checking with NSML")
        ACTIVE = "active", _("Active")
        FAILED = "failed", _("Not registered")
        REVOKING = "revoking", _("Being revoked")
        REVOKED = "revoked", _("Revoked")

    class Source(models.TextChoices):
        PORTAL = "portal", _("Registered through the portal")
        OUTSIDE = "outside", _("Added outside the portal")

    LIVE_STATUSES = LIVE_STATUSES
    # The revocation reason the portal writes itself (a reconcile pass, for a deactivated member's key); stored in
    # English like the audit, and shown in the reader's language (revoke_reason_shown).
    MEMBER_DEACTIVATED = gettext_noop("member deactivated")
    # A key whose expiry its member may still change: not one already on its way out (revoking).
    EXPIRY_STATUSES = ("pending", "active")

    # PROTECT: a user who ever held a key is deactivated, never deleted, so the record stays whole.
    # No index of its own: key_owner_created begins with the owner and answers every lookup by owner (and the check
    # when a user is deleted). One index fewer to write on every submission and every change of state.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="registered_keys",
        verbose_name=_("owner"),
    )
    title = models.CharField(_("title"), max_length=64)
    key_type = models.CharField(_("type"), max_length=32, blank=True)
    bits = models.PositiveIntegerField(_("bits"), null=True, blank=True)
    public_key = models.TextField(_("public key"), blank=True, help_text=_("Type and base64, as sent to NSML."))
    comment = models.CharField(_("comment"), max_length=255, blank=True)
    fingerprint_sha256 = models.CharField(_("SHA256 fingerprint"), max_length=64, blank=True)
    fingerprint_md5 = models.CharField(_("MD5 fingerprint"), max_length=47)
    nsml_name = models.CharField(
        _("NSML name"), max_length=32, help_text=_("NSML's identity of the key, with the title.")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.PORTAL)
    status_changed_at = models.DateTimeField(_("status since"), default=timezone.now)
    # DELETEs that did not revoke the key (the reconciler's of a key stuck `revoking`, the expiry job's of an expired
    # key NSML refused): how many in a row, and when to try next (keys.services.states.backed_off).
    revoke_attempts = models.PositiveSmallIntegerField(_("revoke attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_note = models.CharField(_("revocation note"), max_length=255, blank=True)
    # Why NSML did not register a `failed` key, as a code the member's page turns into the sentence the form
    # showed (member_messages.failed_key_message); NSML's own words stay in the audit log.
    failure = models.CharField(
        _("why it failed"), max_length=32, blank=True, help_text=_("A short code, e.g. throttled.")
    )
    # The end of the chosen day in TIME_ZONE; None: the key never expires (keys added before lifetimes existed).
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    # In the admin's own words, given on the confirmation page; stored when the key moves to `revoking`.
    revoke_reason = models.CharField(
        _("revocation reason"), max_length=500, blank=True, help_text=_("Why an admin revoked the key.")
    )
    # Who asked for the revocation, and from where; stored when the key moves to `revoking`. A reconcile pass that
    # confirms it while the request still waits for NSML records it in their name, as the request would have.
    # None with an agent: the portal itself asked (the expiry job, a deactivation outside the admin).
    revoke_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        db_index=False,  # key_revoke_requested_by below, which holds only the keys someone asked to revoke
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("revocation asked by"),
    )
    revoke_requested_ip = models.GenericIPAddressField(_("revocation asked from"), null=True, blank=True)
    revoke_requested_agent = models.CharField(
        _("revocation asked with"),
        max_length=512,
        blank=True,
        help_text=_("The browser, API client or command that asked for the revocation."),
    )
    # Where the submission came from; stored with the pending key. A reconcile pass that settles the submission
    # (its request still waiting for NSML, or gone) records it in its member's name and says from where.
    submitted_ip = models.GenericIPAddressField(_("submitted from"), null=True, blank=True)
    submitted_agent = models.CharField(
        _("submitted with"),
        max_length=512,
        blank=True,
        help_text=_("The browser, API client or command that submitted the key."),
    )

    class Meta:
        verbose_name = _("registered key")
        verbose_name_plural = _("registered keys")
        ordering = ["-created_at", "-id"]
        constraints = [
            # NSML holds one key per title and per key; the portal mirrors that for every key NSML
            # holds or may hold, so a second submission can never race the first into NSML.
            models.UniqueConstraint(fields=["title"], condition=Q(status__in=LIVE_STATUSES), name="unique_live_title"),
            models.UniqueConstraint(
                fields=["nsml_name"], condition=Q(status__in=LIVE_STATUSES), name="unique_live_nsml_name"
            ),
            models.UniqueConstraint(
                fields=["fingerprint_sha256"],
                condition=Q(status__in=LIVE_STATUSES) & ~Q(fingerprint_sha256=""),
                name="unique_live_fingerprint",
            ),
        ]
        indexes = [
            # A member's key list in the API, newest first, a page at a time (selectors.page_of_keys); and any
            # lookup by owner, their keys in one state included (a member holds tens of keys, not thousands).
            models.Index(fields=["owner", "-created_at", "-id"], name="key_owner_created"),
            # The keys a user asked to revoke, found when that user is deleted (PROTECT). Most keys have nobody
            # there: they are left out, and a submission writes nothing to this index.
            models.Index(
                fields=["revoke_requested_by"],
                condition=Q(revoke_requested_by__isnull=False),
                name="key_revoke_requested_by",
            ),
            models.Index(fields=["status", "status_changed_at"], name="key_status_since"),
            models.Index(fields=["status", "expires_at"], name="key_status_expires"),
            # The admin's key list, newest first, a page at a time.
            models.Index(fields=["-created_at", "-id"], name="key_created"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.fingerprint})"

    @property
    def fingerprint(self) -> str:
        """The SHA-256 fingerprint; NSML's MD5 one for a key added outside the portal (assigned from the unmanaged
        keys), which has no other: what its audit rows carry and an admin's search finds."""
        return self.fingerprint_sha256 or self.fingerprint_md5

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def revoke_reason_shown(self) -> str:
        """The revocation reason in the active language: the portal's own translated, an admin's as typed."""
        return gettext(self.revoke_reason) if self.revoke_reason == self.MEMBER_DEACTIVATED else self.revoke_reason

    @property
    def expiry_applies(self) -> bool:
        """The key's expiry still means something: not once it is being revoked, revoked or never registered."""
        return self.status in self.EXPIRY_STATUSES

    @property
    def status_label(self) -> str:
        """`get_status_display()`, at a lookup's cost (`choice_label`): a member's list shows it on every row."""
        return choice_label(self.Status, self.status)

    @property
    def is_settling(self) -> bool:
        """NSML's answer is not known yet: the portal is still checking."""
        return self.status in (self.Status.PENDING, self.Status.REVOKING)


class AuditEvent(models.Model):
    """One thing that happened: who, what, to whose key, from where, and what NSML answered.

    Append-only: nothing in the portal updates or deletes a row. No secret and no key material
    other than a public fingerprint is ever written here.
    """

    class Action(models.TextChoices):
        REGISTER = "register", _("Register key")
        REVOKE = "revoke", _("Revoke key")
        LOGIN = "login", _("Log in")
        LOGIN_FAILED = "login_failed", _("Failed log-in")
        LOGOUT = "logout", _("Log out")
        LOCKOUT = "lockout", _("Log-in locked out")
        ASSIGN = "assign", _("Assign unmanaged key")
        DRIFT = "drift", _("Drift found")
        USER_CREATE = "user_create", _("Create user")
        PRIVILEGES = "privileges", _("Change staff or superuser status")
        ACTIVATION = "activation", _("Activate or deactivate user")
        PASSWORD = "password", _("Change password")
        EXPORT = "export", _("Export audit log")
        ROTATE = "rotate", _("Rotate key")
        SET_EXPIRY = "set_expiry", _("Set key expiry")
        OFFBOARD = "offboard", _("Offboard user")
        UNLOCK = "unlock", _("Unlock log-in")
        TOKEN_CREATE = "token_create", _("Create access token")
        TOKEN_FIRST_USE = "token_first_use", _("First use of access token")
        TOKEN_REVOKE = "token_revoke", _("Revoke access token")
        EXPIRY_REMINDER = "expiry_reminder", _("Send expiry reminder")

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("Success")
        REFUSED = "refused", _("Refused by the portal")
        REJECTED = "rejected", _("Rejected by NSML")
        FAILED = "failed", _("Failed")
        UNKNOWN = "unknown", _("Unknown")

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    # PROTECT, not SET_NULL: setting a column to NULL would be an UPDATE of an append-only row.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_username = models.CharField(_("actor username"), max_length=150, blank=True)
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("subject"),
        help_text=_("The member whose key it is."),
    )
    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    registered_key = models.ForeignKey(
        RegisteredKey, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("key")
    )
    title = models.CharField(_("title"), max_length=64, blank=True)
    fingerprint = models.CharField(_("fingerprint"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=64, blank=True, help_text=_("A short code, e.g. too_weak."))
    detail = models.TextField(_("detail"), blank=True)
    client_ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    upstream_status = models.PositiveSmallIntegerField(_("NSML status"), null=True, blank=True)
    upstream_error_code = models.CharField(_("NSML error code"), max_length=32, blank=True)
    trace_id = models.CharField(_("NSML trace id"), max_length=128, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    # The X-Request-ID of the request that wrote the row (blank for commands): the same id is in the logs.
    request_id = models.CharField(_("request id"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["action", "-created_at"], name="audit_action_created"),
            models.Index(fields=["outcome", "-created_at"], name="audit_outcome_created"),
            # A title or fingerprint is searched by its start, on PostgreSQL by the indexes of migration 0012.
        ]

    def __str__(self) -> str:
        # The admin shows this in the page title and each row's checkbox label: escaped like its columns.
        # The action and outcome by their names, in the reader's language (the codes are in the columns).
        action, outcome = choice_label(self.Action, self.action), choice_label(self.Outcome, self.outcome)
        return f"{format_moment(self.created_at)} {escape_unsafe(shown_name(self.actor_username))} {action} {outcome}"


class RefusalWindow(models.Model):
    """Log-ins refused over and over in one window: during one lock-out, or for one inactive single
    sign-on user. The first refusal is an audit row (`first_event`); every refusal is counted here.

    Not part of the audit trail (its count grows), so that nobody can grow the append-only audit table
    at will by retrying a refused log-in.
    """

    class Reason(models.TextChoices):
        LOCKED_OUT = "locked_out", _("Locked out")
        INACTIVE_SSO_USER = "inactive_sso_user", _("Inactive single sign-on user")
        STAFF_SSO_USER = "staff_sso_user", _("Staff account named by single sign-on")
        INACTIVE_USER = "inactive_user", _("Inactive account, right password")

    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices)
    username = models.CharField(_("username"), max_length=150, blank=True)
    client_ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    first_event = models.OneToOneField(
        AuditEvent,
        on_delete=models.PROTECT,
        related_name="refusal_window",
        verbose_name=_("first refusal"),
    )
    started_at = models.DateTimeField(_("first refused"), default=timezone.now)
    last_at = models.DateTimeField(_("last refused"), default=timezone.now)
    count = models.PositiveIntegerField(_("refused log-ins"), default=1)

    class Meta:
        verbose_name = _("refused log-ins window")
        verbose_name_plural = _("refused log-ins windows")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["reason", "-started_at"], name="refusal_reason_started")]

    def __str__(self) -> str:
        # The detail page's title: when in local time and why in the reader's language, as an audit row's.
        return (
            f"{format_moment(self.started_at)} {escape_unsafe(self.username)} {choice_label(self.Reason, self.reason)}"
        )


class UnmanagedKey(models.Model):
    """A key NSML holds that the portal did not register (e.g. added in the NCP console).

    Found by the reconciler (`manage.py nsml_sync --apply`); an admin assigns it to a member, which
    makes it that member's RegisteredKey (with what NSML's list tells: title and MD5 name), or revokes it.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ASSIGNED = "assigned", _("Assigned to a member")
        REVOKED = "revoked", _("Revoked")
        GONE = "gone", _("Gone from NSML")

    title = models.CharField(_("title"), max_length=255)
    nsml_name = models.CharField(_("NSML name"), max_length=64)
    fingerprint_md5 = models.CharField(_("MD5 fingerprint"), max_length=64, blank=True)
    nsml_create_time = models.CharField(_("created in NSML"), max_length=32, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="unmanaged_keys",
        verbose_name=_("assigned to"),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    first_seen = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now)

    class Meta:
        verbose_name = _("unmanaged key")
        verbose_name_plural = _("unmanaged keys")
        ordering = ["-first_seen", "-id"]
        constraints = [models.UniqueConstraint(fields=["title", "nsml_name"], name="unique_unmanaged_pair")]

    def __str__(self) -> str:
        return f"{self.title} ({self.fingerprint_md5})"


class ReconcilePass(models.Model):
    """One run of the reconciler: when, whether NSML could be listed, and what it changed."""

    started_at = models.DateTimeField(_("started"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    succeeded = models.BooleanField(_("succeeded"), default=False)
    changes = models.PositiveIntegerField(_("changes"), default=0)
    summary = models.TextField(_("summary"), blank=True)
    # What the pass changed, by kind ({"activated": ["title (owner)", ...]}), or why it failed
    # ({"failure": "unreachable", "detail": ...}): shown in the reader's language (services.describe_pass).
    report = models.JSONField(_("report"), default=dict, blank=True)

    class Meta:
        verbose_name = _("reconcile pass")
        verbose_name_plural = _("reconcile passes")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{format_moment(self.started_at)} {'ok' if self.succeeded else 'failed'}"


class LoginLockout(AccessAttempt):
    """django-axes' failure counts, under the name an admin looks for: who is, or is close to, locked out."""

    class Meta:
        proxy = True
        verbose_name = _("log-in lock-out")
        verbose_name_plural = _("log-in lock-outs")

    def __str__(self) -> str:
        # Each row's checkbox label: axes' own reads "Attempted Access: <the time in UTC>", English in every language.
        return f"{format_moment(self.attempt_time)} {escape_unsafe(self.username or '')} {self.ip_address or ''}"


class ReconcileLock(models.Model):
    """On databases without advisory locks (SQLite): a lease that one reconcile pass holds at a time."""

    name = models.CharField(_("name"), max_length=32, unique=True)
    holder = models.CharField(_("holder"), max_length=128, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)

    class Meta:
        verbose_name = _("reconcile lock")
        verbose_name_plural = _("reconcile locks")

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'}"


class ExpiryNotice(models.Model):
    """A reminder sent about a key's expiry: written before the email goes out, so none is sent twice.

    One row per key, kind and expiry: when the expiry moves, the reminders for the new date are due again.
    """

    class Kind(models.TextChoices):
        WEEK = "7d", _("7 days before")
        DAY = "1d", _("1 day before")

    registered_key = models.ForeignKey(
        RegisteredKey, on_delete=models.CASCADE, related_name="expiry_notices", verbose_name=_("key")
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    expires_at = models.DateTimeField(_("expiry it was about"))
    sent_at = models.DateTimeField(_("sent"), default=timezone.now)

    class Meta:
        verbose_name = _("expiry reminder")
        verbose_name_plural = _("expiry reminders")
        constraints = [
            models.UniqueConstraint(fields=["registered_key", "kind", "expires_at"], name="unique_expiry_notice")
        ]

    def __str__(self) -> str:
        return f"{self.registered_key_id} {self.kind} {self.expires_at:%Y-%m-%d}"


# An email notice neither sent, given up on nor dropped: what the outbox still has to send (keys/outbox.py).
EMAIL_NOTICE_WAITING = Q(sent_at__isnull=True, gave_up_at__isnull=True, dropped_at__isnull=True)


class EmailNotice(models.Model):
    """An email notice in the outbox (keys/outbox.py): rendered in its member's language when the change it tells of
    commits, sent once the member's response has gone (at once outside a request), and kept when the mail server did
    not take it, for `nsml_sync` to send again after a backoff, until it goes or the portal gives up on it."""

    class Kind(models.TextChoices):
        KEY_ADDED = "key_added", _("Key added")
        KEY_REVOKED = "key_revoked", _("Key revoked")
        KEY_EXPIRED = "key_expired", _("Key expired and revoked")
        KEY_FAILED = "key_failed", _("Key not registered")
        EXPIRY_REMINDER = "expiry_reminder", _("Expiry reminder")

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    registered_key = models.ForeignKey(
        RegisteredKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("key")
    )
    # A reminder's own record: its audit row (`expiry_reminder`) is written when it goes out, or when given up.
    expiry_notice = models.ForeignKey(
        ExpiryNotice,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("expiry reminder"),
    )
    to = models.JSONField(_("to"), default=list)
    bcc = models.JSONField(_("blind copy to"), default=list, blank=True)
    subject = models.CharField(pgettext_lazy("email", "subject"), max_length=255)
    body = models.TextField(_("body"))
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    gave_up_at = models.DateTimeField(_("given up"), null=True, blank=True)
    # A reminder whose key was revoked, or whose expiry changed, before it went: not sent (why: last_error).
    dropped_at = models.DateTimeField(_("dropped"), null=True, blank=True)

    class Meta:
        verbose_name = _("email notice")
        verbose_name_plural = _("email notices")
        ordering = ["-created_at", "-id"]
        indexes = [
            # What each nsml_sync pass and each /metrics scrape read: the few notices still waiting, not the many sent.
            models.Index(fields=["next_attempt_at"], condition=EMAIL_NOTICE_WAITING, name="email_notice_waiting"),
            # The given-up count a scrape reads: a few rows, not the whole outbox.
            models.Index(fields=["gave_up_at"], condition=Q(gave_up_at__isnull=False), name="email_notice_given_up"),
        ]

    def __str__(self) -> str:
        return f"{format_moment(self.created_at)} {choice_label(self.Kind, self.kind)}"


class MemberProfile(models.Model):
    """What the portal remembers about a member beyond their account: the language of their last visit,
    so that emails sent by the periodic job (reminders, expiry notices) come in that language."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="key_profile", verbose_name=_("user")
    )
    language = models.CharField(_("language"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("member profile")
        verbose_name_plural = _("member profiles")

    def __str__(self) -> str:
        return f"{self.user_id} {self.language or '-'}"


class ApiToken(models.Model):
    """A member's personal access token for the API. Only the SHA-256 of the secret is kept; the
    prefix (the secret's first characters) tells tokens apart on the page and in the audit log.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=64)
    prefix = models.CharField(_("prefix"), max_length=16, db_index=True)
    secret_sha256 = models.CharField(_("SHA-256 of the secret"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("access token")
        verbose_name_plural = _("access tokens")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class SessionOwner(models.Model):
    """Whose a signed-in session is: Django's session rows keep the user inside their encoded data only, so
    ending one member's sessions (deactivation, offboarding) would mean decoding every live session, about
    0.2 ms each: seconds per member at ten thousand sessions. Written by the session store (keys/sessions/)
    whenever a session is saved under a new key or for another user; goes with its session."""

    session = models.OneToOneField(
        Session, on_delete=models.CASCADE, primary_key=True, related_name="owner", verbose_name=_("session")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )

    class Meta:
        verbose_name = _("session owner")
        verbose_name_plural = _("session owners")
        default_permissions = ()  # the portal's own bookkeeping: no admin page, nothing to grant

    def __str__(self) -> str:
        return f"{self.user_id}"
