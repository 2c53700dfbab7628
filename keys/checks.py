"""System checks: settings the portal cannot run with are named at start-up, not at the first request.

`manage.py` runs them (migrate, check, runserver); gunicorn runs no system checks, so portal/wsgi.py
refuses to start on what `settings_errors()` finds.
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.checks import Error, Tags, register
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from keys.readiness import static_finding

# A period of 0 (10/0m) would divide by zero in django-ratelimit at the first submission.
_RATE = re.compile(r"[0-9]+/(?:[1-9][0-9]*)?[smhd]")


@register(Tags.security)
def check_submit_rate(app_configs, **kwargs) -> list[Error]:
    if _RATE.fullmatch(settings.KEYS_SUBMIT_RATE):
        return []
    return [
        Error(
            f"KEYS_SUBMIT_RATE must look like 10/m (a count, '/', an optional number and s, m, h or d), "
            f"not {settings.KEYS_SUBMIT_RATE!r}.",
            id="keys.E001",
        )
    ]


@register()
def check_key_lifetimes(app_configs, **kwargs) -> list[Error]:
    default, maximum = settings.KEYS_DEFAULT_LIFETIME_DAYS, settings.KEYS_MAX_LIFETIME_DAYS
    if default >= 1 and maximum >= 0 and (maximum == 0 or default <= maximum):
        return []
    return [
        Error(
            f"KEYS_DEFAULT_LIFETIME_DAYS ({default}) must be at least 1 and at most KEYS_MAX_LIFETIME_DAYS "
            f"({maximum}); KEYS_MAX_LIFETIME_DAYS is 0 (no maximum) or more.",
            id="keys.E002",
        )
    ]


@register(Tags.security)
def check_password_login(app_configs, **kwargs) -> list[Error]:
    if settings.PASSWORD_LOGIN in ("all", "staff-only", "off"):
        return []
    return [Error(f"PASSWORD_LOGIN must be all, staff-only or off, not {settings.PASSWORD_LOGIN!r}.", id="keys.E003")]


@register()
def check_log_format(app_configs, **kwargs) -> list[Error]:
    if settings.LOG_FORMAT in ("plain", "json"):
        return []
    return [Error(f"LOG_FORMAT must be plain or json, not {settings.LOG_FORMAT!r}.", id="keys.E004")]


@register(Tags.security)
def check_metrics_token(app_configs, **kwargs) -> list[Error]:
    # A short token can be guessed; the metrics say how many keys and members there are. One with spaces could
    # never be sent: an Authorization header's value loses them at its ends, and a scraper's config too. Nor one
    # beyond ASCII (a typographic quote pasted with it): the scraper sends its UTF-8 bytes, which the server
    # reads as Latin-1 (WSGI), so it never matched.
    token = settings.METRICS_TOKEN
    if not token or (len(token) >= 16 and all("!" <= character <= "~" for character in token)):
        return []
    return [
        Error(
            "METRICS_TOKEN must be at least 16 characters, ASCII letters, digits and punctuation without spaces "
            "(or unset, which turns /metrics off).",
            id="keys.E005",
        )
    ]


def _web_address(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number
        return False


@register()
def check_nsml_url(app_configs, **kwargs) -> list[Error]:
    if _web_address(settings.NSML_API_URL):
        return []
    return [
        Error(
            f"NSML_API_URL must be an http:// or https:// address with a host, such as "
            f"https://nsml.apigw.ntruss.com/nsml/v1, not {settings.NSML_API_URL!r}.",
            id="keys.E006",
        )
    ]


@register()
def check_portal_url(app_configs, **kwargs) -> list[Error]:
    # The links in the reminders the job emails: an empty or relative one reaches no one.
    if _web_address(settings.PORTAL_URL):
        return []
    return [
        Error(
            f"PORTAL_URL must be the http:// or https:// address members reach the portal at, such as "
            f"https://keys.example.internal, not {settings.PORTAL_URL!r}.",
            id="keys.E009",
        )
    ]


# Numbers that parse but cannot work: (setting, its variable, the least it may be). A timeout of 0 made
# every NSML call a 500 (requests refuses it); a failure limit of 0 locks everyone out.
_LEAST = (
    ("NSML_TIMEOUT", "NSML_TIMEOUT", 0.1),
    ("NSML_CONNECT_TIMEOUT", "NSML_CONNECT_TIMEOUT", 0.1),
    ("NSML_SYNC_TIMEOUT", "NSML_SYNC_TIMEOUT", 0.1),
    ("OIDC_TIMEOUT", "OIDC_TIMEOUT", 0.1),
    ("EMAIL_TIMEOUT", "EMAIL_TIMEOUT", 0.1),
    ("NSML_PENDING_GRACE_SECONDS", "NSML_PENDING_GRACE_SECONDS", 0),
    ("KEYS_REAUTH_MINUTES", "KEYS_REAUTH_MINUTES", 0),
    ("API_TOKEN_MAX_DAYS", "API_TOKEN_MAX_DAYS", 1),
    # 0 would delete each notice at the pass after it went: an admin could not see what went out.
    ("EMAIL_NOTICE_RETENTION_DAYS", "EMAIL_NOTICE_RETENTION_DAYS", 1),
    ("AXES_FAILURE_LIMIT", "LOGIN_FAILURE_LIMIT", 1),
    ("SESSION_COOKIE_AGE", "SESSION_COOKIE_AGE", 60),
    # 0 leaves the reconciler out of /readyz (README's settings table).
    ("READYZ_MAX_RECONCILE_AGE_SECONDS", "READYZ_MAX_RECONCILE_AGE_SECONDS", 0),
    ("PROXY_HOPS", "DJANGO_PROXY_HOPS", 0),
    # Below 0 every pass held back, "0 active keys are missing", and no key NSML lost was ever marked.
    ("RECONCILE_MISSING_LIMIT", "RECONCILE_MISSING_LIMIT", 0),
    # OpenSSH itself refuses RSA keys under 1024 bits (RequiredRSASize).
    ("KEYS_MIN_RSA_BITS", "KEYS_MIN_RSA_BITS", 1024),
)


# And above what dates can hold (Python's end at the year 9999): a lifetime of 99,999,999 days made the add-key
# page a 500, a lock-out of that many minutes every log-in; an infinite timeout (1e400) was taken. A hundred
# years, or a day for a timeout, is more than anyone means. (setting, its variable, the most it may be)
CENTURY_DAYS = 36_500
_MOST = (
    ("NSML_TIMEOUT", "NSML_TIMEOUT", 86_400),
    ("NSML_CONNECT_TIMEOUT", "NSML_CONNECT_TIMEOUT", 86_400),
    ("NSML_SYNC_TIMEOUT", "NSML_SYNC_TIMEOUT", 86_400),
    ("OIDC_TIMEOUT", "OIDC_TIMEOUT", 86_400),
    ("EMAIL_TIMEOUT", "EMAIL_TIMEOUT", 86_400),
    ("NSML_PENDING_GRACE_SECONDS", "NSML_PENDING_GRACE_SECONDS", CENTURY_DAYS * 86_400),
    ("KEYS_REAUTH_MINUTES", "KEYS_REAUTH_MINUTES", CENTURY_DAYS * 1_440),
    ("API_TOKEN_MAX_DAYS", "API_TOKEN_MAX_DAYS", CENTURY_DAYS),
    ("EMAIL_NOTICE_RETENTION_DAYS", "EMAIL_NOTICE_RETENTION_DAYS", CENTURY_DAYS),
    ("KEYS_DEFAULT_LIFETIME_DAYS", "KEYS_DEFAULT_LIFETIME_DAYS", CENTURY_DAYS),
    ("KEYS_MAX_LIFETIME_DAYS", "KEYS_MAX_LIFETIME_DAYS", CENTURY_DAYS),
    ("SESSION_COOKIE_AGE", "SESSION_COOKIE_AGE", CENTURY_DAYS * 86_400),
    ("READYZ_MAX_RECONCILE_AGE_SECONDS", "READYZ_MAX_RECONCILE_AGE_SECONDS", CENTURY_DAYS * 86_400),
    # ssh-keygen makes RSA keys of at most 16384 bits: a higher minimum refuses every one.
    ("KEYS_MIN_RSA_BITS", "KEYS_MIN_RSA_BITS", 16_384),
)


@register()
def check_numbers(app_configs, **kwargs) -> list[Error]:
    return (
        [
            Error(f"{variable} must be at least {least}, not {getattr(settings, name)}.", id="keys.E007")
            for name, variable, least in _LEAST
            if getattr(settings, name) < least
        ]
        + [
            Error(f"{variable} must be at most {most:,}, not {getattr(settings, name):,}.", id="keys.E007")
            for name, variable, most in _MOST
            if not getattr(settings, name) <= most  # not <=: an infinity, or NaN, is refused too
        ]
        + (
            []
            if settings.LOGIN_LOCKOUT_MINUTES >= 1
            else [Error("LOGIN_LOCKOUT_MINUTES must be at least 1.", id="keys.E007")]
        )
        + (
            []
            if settings.LOGIN_LOCKOUT_MINUTES <= CENTURY_DAYS * 1_440
            else [Error(f"LOGIN_LOCKOUT_MINUTES must be at most {CENTURY_DAYS * 1_440:,}.", id="keys.E007")]
        )
    )


@register(Tags.caches)
def check_shared_cache(app_configs, **kwargs) -> list[Error]:
    # A cache in each process counts submissions per worker (KEYS_SUBMIT_RATE times the workers) and keeps
    # /readyz's probe to itself; django-ratelimit's own error (E003) does not say which setting to change.
    backend = settings.CACHES["default"]["BACKEND"]
    if settings.DEBUG or not backend.endswith(("LocMemCache", "DummyCache")):
        return []
    return [
        Error(
            "CACHE_URL is not set (or names a cache each process keeps to itself) and DJANGO_DEBUG is off: "
            "set it to the Redis every instance shares, e.g. redis://redis:6379/0.",
            id="keys.E008",
        )
    ]


def _email_address(text: str) -> bool:
    """One address, bare or with a display name (`NSML Key Portal <nsml-keys@localhost>`)."""
    _, address = parseaddr(text)
    if not address or "," in text:
        return False
    try:
        validate_email(address if "." in address.partition("@")[2] else address + ".internal")
    except ValidationError:
        return False
    return True


@register()
def check_email_addresses(app_configs, **kwargs) -> list[Error]:
    # An empty sender (a compose file's DEFAULT_FROM_EMAIL=) started, then every notice failed to send (Django:
    # Invalid address ""); a security copy that is no address was lost at every notice. A host without a dot
    # (nsml-keys@localhost, the default) is an address on an internal mail server.
    named = [("DEFAULT_FROM_EMAIL", settings.DEFAULT_FROM_EMAIL)]
    if settings.SECURITY_NOTIFY_EMAIL:
        named.append(("SECURITY_NOTIFY_EMAIL", settings.SECURITY_NOTIFY_EMAIL))
    return [
        Error(
            f"{variable} must be an email address, such as keys@example.com or NSML Key Portal "
            f"<keys@example.com>, not {value!r}.",
            id="keys.E010",
        )
        for variable, value in named
        if not _email_address(value)
    ]


_OIDC_ADDRESSES = (
    ("OIDC_ISSUER", "OIDC_ISSUER"),
    ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_AUTHORIZATION_ENDPOINT"),
    ("OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT"),
    ("OIDC_OP_USER_ENDPOINT", "OIDC_OP_USER_ENDPOINT"),
    ("OIDC_OP_JWKS_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT"),
    ("OIDC_OP_END_SESSION_ENDPOINT", "OIDC_OP_END_SESSION_ENDPOINT"),
)
# What mozilla-django-oidc verifies: RS and ES with the provider's keys, HS with the client secret.
_OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "HS256", "HS384", "HS512")


@register(Tags.security)
def check_oidc(app_configs, **kwargs) -> list[Error]:
    # With OIDC on (keys/oidc.py's oidc_enabled), each of these mistyped started a portal whose *Sign in with*
    # button no log-in could pass. Off, they are not read, and not judged.
    if not (
        settings.OIDC_RP_CLIENT_ID
        and settings.OIDC_RP_CLIENT_SECRET
        and (settings.OIDC_ISSUER or settings.OIDC_OP_AUTHORIZATION_ENDPOINT)
    ):
        return []
    errors = [
        Error(
            f"{variable} must be an http:// or https:// address with a host, such as "
            f"https://sso.example.com/realms/ml, not {getattr(settings, name)!r}.",
            id="keys.E011",
        )
        for name, variable in _OIDC_ADDRESSES
        if getattr(settings, name) and not _web_address(getattr(settings, name))
    ]
    if settings.OIDC_RP_SIGN_ALGO not in _OIDC_ALGORITHMS:
        errors.append(
            Error(
                f"OIDC_SIGN_ALGO must be {', '.join(_OIDC_ALGORITHMS)}, not {settings.OIDC_RP_SIGN_ALGO!r}.",
                id="keys.E011",
            )
        )
    if not settings.OIDC_USERNAME_CLAIM.strip():
        errors.append(Error("OIDC_USERNAME_CLAIM must name a claim, such as preferred_username.", id="keys.E011"))
    if "openid" not in settings.OIDC_RP_SCOPES.split():
        errors.append(
            Error(
                f"OIDC_SCOPES must include openid (without it the provider sends no ID token), not "
                f"{settings.OIDC_RP_SCOPES!r}.",
                id="keys.E011",
            )
        )
    return errors


# Letters, digits and hyphens: what a proxy sends and gunicorn passes on (it drops a header with an underscore).
_HEADER_NAME = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")


@register(Tags.security)
def check_sso_header(app_configs, **kwargs) -> list[Error]:
    # HTTP_X_FORWARDED_USER (Django's META key) was looked for as HTTP_HTTP_X_FORWARDED_USER, a colon or a space
    # could never arrive: the portal started, and nobody the proxy named was ever logged in.
    header = settings.SSO_REMOTE_USER_HEADER
    if not header or _HEADER_NAME.fullmatch(header):
        return []
    return [
        Error(
            f"SSO_REMOTE_USER_HEADER must be a header's name as the proxy sends it, letters, digits and hyphens, "
            f"such as X-Forwarded-User, not {header!r}.",
            id="keys.E012",
        )
    ]


@register(Tags.staticfiles, deploy=True)
def check_static_manifest(app_configs, **kwargs) -> list[checks.Warning]:
    # A warning, not a refusal at start-up: until collectstatic has run, there is none. /readyz says it too.
    finding = static_finding()
    if not finding:
        return []
    return [
        checks.Warning(
            f"The static files' manifest in STATIC_ROOT ({settings.STATIC_ROOT}) is missing or unreadable"
            f"{f' ({finding.cause})' if finding.cause else ''}: with DJANGO_DEBUG off every page answers 500.",
            hint="Run python manage.py collectstatic --noinput before starting the portal.",
            id="keys.W001",
        )
    ]


_SETTINGS_CHECKS = (
    check_submit_rate,
    check_key_lifetimes,
    check_password_login,
    check_log_format,
    check_metrics_token,
    check_nsml_url,
    check_portal_url,
    check_numbers,
    check_shared_cache,
    check_email_addresses,
    check_oidc,
    check_sso_header,
)


def settings_errors() -> list[Error]:
    """What the checks above find: for a server that runs no system checks (portal/wsgi.py)."""
    return [error for check in _SETTINGS_CHECKS for error in check(None)]
