"""Portal settings: read once, here, from the environment (django-environ).

Every knob has a default that works for development; README.md lists them all.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import re
import zoneinfo
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal.logs import hide_in_logs

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env") if (BASE_DIR / ".env").exists() else None


def _number(read, name: str, default):
    """env.int or env.float, refusing a value that is not a number with a message that names the setting
    (django-environ's own is a traceback about float(''))."""
    if name not in env.ENVIRON:
        return default
    text = env.str(name)
    try:
        # As Python reads it: django-environ's float drops every character that is not a digit, a comma or a
        # point, so NSML_TIMEOUT=1e3 was 13 s, 2.5.1 was 25.1 and 10s was 10, without a word.
        value = (int if read == env.int else float)(text)
        if not math.isfinite(value):
            raise ValueError(text)
    except ValueError:
        # A count (env.int) is told so: "must be a number, not '1e3'" denied what README calls a number.
        kind = "a whole number" if read == env.int else "a number"
        raise ImproperlyConfigured(f"{name} must be {kind}, not {text!r}.") from None
    return value


# django-environ reads any word it does not know as false: DJANGO_HTTPS=ture turned HTTPS off in production,
# KEYS_REVOKE_ON_DEACTIVATE=ture kept a leaver's keys in NSML. Only these words are read, either way.
_TRUE_WORDS = ("true", "on", "yes", "y", "1")
_FALSE_WORDS = ("false", "off", "no", "n", "0")


def _bool(name: str, default: bool) -> bool:
    """A true or false word from the environment; any other stops the portal with a message naming the setting."""
    if name not in env.ENVIRON:
        return default
    word = env.str(name).strip().lower()
    if word not in _TRUE_WORDS + _FALSE_WORDS:
        raise ImproperlyConfigured(f"{name} must be true or false, not {env.str(name)!r}.")
    return word in _TRUE_WORDS


DEBUG = _bool("DJANGO_DEBUG", default=True)
# Public in this repository: whoever has it can sign session and messages cookies.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-secret-key-change-me-in-production-0123456789"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
# Django's own check (security.W009) only warns, and only under --deploy; this stops every command
# and gunicorn before anything is served. The message never repeats the key.
if not DEBUG and (
    len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY == DEVELOPMENT_SECRET_KEY
    or SECRET_KEY.startswith("django-insecure")
):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is missing, shorter than 50 characters or a development value, and "
        "DJANGO_DEBUG is off. Set DJANGO_SECRET_KEY to a long random value, e.g. the output of: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
ALLOWED_HOSTS = [
    host.strip()
    for host in env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
    if host.strip()
]
# With debug off and no host, Django answers every request 400, /healthz included: say so at start instead.
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS is empty and DJANGO_DEBUG is off: every request would be refused. "
        "Set it to the host names the portal answers to, e.g. keys.example.internal."
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # django-axes, named in the admin's language (portal/apps.py).
    "portal.apps.AxesConfig",
    "csp",
    # Installed for its system checks: they refuse a cache that processes do not share (see CACHES).
    "django_ratelimit",
    "keys",
]
# django-ninja is not an installed app: importing an app imports the package, and the API loads only at
# its first request (portal/lazy_urls.py). Its docs page's template and static files are found here.
_NINJA_DIR = Path(importlib.util.find_spec("ninja").origin).parent  # found, not imported

MIDDLEWARE = [
    # First, so every later middleware, the view and their log lines know the request id.
    "portal.request_id.RequestIdMiddleware",
    "portal.metrics.HttpMetricsMiddleware",
    # A HEAD answer's body goes here, not in gunicorn, which logs a warning for each one it drops.
    "portal.head.HeadWithoutBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # A key or a token's secret in a query string (a next= too): the same request at the address without it, so
    # no page echoes it back (portal/addresses.py).
    "portal.addresses.KeylessAddressMiddleware",
    "portal.timing.ServerTimingMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A query that waits past DATABASE_QUERY_TIMEOUT: the request answers 503 instead of holding its thread.
    "portal.query_deadline.QueryDeadlineMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Django's LocaleMiddleware, with the languages a browser refuses (q=0) left out (portal/languages.py).
    "portal.languages.AcceptLanguageMiddleware",
    # Under /api/, Django's and ninja's HTML errors (404, 405, CSRF's 403, 500) in the API's JSON form.
    "portal.api_errors.ApiErrorFormMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Names the signed-in user as the actor of any change to an account (keys/account_audit.py).
    "keys.account_audit.AccountAuditMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # A NUL character in a query string: a 400 in the member's language, not a 500; a body in chunks:
    # 411, not a body read as empty (portal/bad_requests.py).
    "portal.bad_requests.UnreadableRequestMiddleware",
    # Last, as axes asks: it turns a locked-out log-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates", _NINJA_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_DATABASE_URL = env.str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# An empty DATABASE_URL was a KeyError, an unknown scheme a warning that printed the address's password and a
# traceback through Django's backend loader: the scheme is read first, and the address never repeated.
if environ.Env.DB_SCHEMES.get(_DATABASE_URL.partition(":")[0]) not in (
    "django.db.backends.sqlite3",
    "django.db.backends.postgresql",
):
    raise ImproperlyConfigured(
        "DATABASE_URL must be a PostgreSQL or SQLite address, such as postgres://user:password@host:5432/name "
        "or sqlite:///db.sqlite3; it is empty or names another database."
    )
# A port that is not a number (or past 65535) was urllib's ValueError, a traceback naming no setting.
try:
    _database_port = urlsplit(_DATABASE_URL).port
except ValueError:
    _database_port = 0
if _database_port == 0:
    raise ImproperlyConfigured(
        "DATABASE_URL's port is not a number from 1 to 65535: postgres://user:password@host:5432/name."
    )
DATABASES = {"default": env.db_url_config(_DATABASE_URL)}


def _database_option(place: dict, key: str, name: str, kind: str) -> None:
    """An option of DATABASE_URL's query, read as the README writes it, or one line naming it (never the address).

    django-environ keeps a value it cannot read as a string: conn_max_age=60s started, then every request was a
    500 (TypeError: float + str); connect_timeout=5s was an OperationalError at every connection; and
    conn_health_checks=false was the string 'false', which Django reads as on."""
    if key not in place:
        return
    value, text = place[key], str(place[key]).strip()
    if kind == "switch":
        if text.lower() not in _TRUE_WORDS + _FALSE_WORDS:
            raise ImproperlyConfigured(f"DATABASE_URL's {name} must be true or false, not {text!r}.")
        place[key] = text.lower() in _TRUE_WORDS
    elif value is None and kind != "seconds":  # conn_max_age=None: Django keeps the connection for good
        return
    elif not (text.isascii() and text.isdigit()):
        what = "a whole number of seconds (0 or more)" if kind in ("seconds", "age") else "a whole number (0 or more)"
        raise ImproperlyConfigured(f"DATABASE_URL's {name} must be {what}, not {text!r}.")
    else:
        place[key] = int(text)


for _key, _name, _kind in (
    ("CONN_MAX_AGE", "conn_max_age", "age"),
    ("CONN_HEALTH_CHECKS", "conn_health_checks", "switch"),
    ("DISABLE_SERVER_SIDE_CURSORS", "disable_server_side_cursors", "switch"),
):
    _database_option(DATABASES["default"], _key, _name, _kind)
for _key, _kind in (("connect_timeout", "seconds"), ("prepare_threshold", "count")):
    _database_option(DATABASES["default"].get("OPTIONS", {}), _key, _key, _kind)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes write at once (the portal's threads, the reconciler): a transaction takes the
    # write lock when it begins, so two never deadlock upgrading a read lock, and waits rather than fails.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, but `conn_health_checks` costs no round trip on a connection in steady use
    # (portal/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "portal.postgresql"
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    # libpq waits for the operating system (minutes) on a database host that does not answer; the request
    # fails in seconds instead, as a 503 (portal/outages.py). DATABASE_URL's ?connect_timeout=N overrides.
    _pg_options.setdefault("connect_timeout", 5)
    if _bool("DATABASE_PREPARED_STATEMENTS", default=True):
        # The parameters travel apart from the SQL (server-side binding), and a statement a connection has
        # run five times is prepared: PostgreSQL then parses and plans it once per connection, not on every
        # request, and psycopg no longer quotes every value into the SQL text in Python (README,
        # Performance). Off behind a pooler in transaction mode that does not keep prepared statements.
        _pg_options.update(server_side_binding=True)
        _pg_options.setdefault("prepare_threshold", 5)
# A query a page or an API call waits on longer than this is cut off and answered as an outage (503): a database
# that stalls, rather than refusing, would otherwise hold every request that reaches it (portal/query_deadline.py).
# PostgreSQL only; 0 waits for ever. Management commands wait for ever.
DATABASE_QUERY_TIMEOUT = _number(env.float, "DATABASE_QUERY_TIMEOUT", default=30.0)
if DATABASE_QUERY_TIMEOUT < 0:
    raise ImproperlyConfigured(
        f"DATABASE_QUERY_TIMEOUT must be 0 (no limit) or more seconds, not {DATABASE_QUERY_TIMEOUT:g}."
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The lock-out backend comes first: it refuses a locked-out log-in before any password is checked.
AUTHENTICATION_BACKENDS = [
    "keys.auth.LockoutBackend",
    # Django's ModelBackend, with PASSWORD_LOGIN deciding who may still use a password.
    "keys.oidc.PasswordBackend",
    # OpenID Connect; it authenticates nobody while OIDC is not configured.
    "keys.oidc.OidcBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "keys:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
# locale_overrides/: better Korean for a few of Django's own admin and log-in messages.
LOCALE_PATHS = [BASE_DIR / "locale_overrides", BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Seoul")
# An unknown zone was a traceback at start; an empty one was taken, and dates shown in the server's zone.
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (ValueError, zoneinfo.ZoneInfoNotFoundError):
    raise ImproperlyConfigured(
        f"TIME_ZONE must be a time zone name such as Asia/Seoul or UTC, not {TIME_ZONE!r}."
    ) from None
# One date and time format in every language (portal/formats/): 2026-11-28 15:56:52 KST.
FORMAT_MODULE_PATH = ["portal.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static", _NINJA_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# HTTPS: on by default whenever debug is off, so a production deploy cannot forget it.
HTTPS = _bool("DJANGO_HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
LANGUAGE_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# Only behind the TLS proxy HTTPS implies; without one a client could claim https itself.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
# Probes reach the process directly over plain HTTP (the Dockerfile's HEALTHCHECK, a load balancer).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
# The language choice (/i18n/setlang/): no script needs to read it, and other sites' requests need not carry it.
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = _number(env.int, "SESSION_COOKIE_AGE", default=8 * 60 * 60)

# No inline script or style anywhere (the admin included), so an injected tag cannot run.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Error reports (the debug page, mail to admins) hide key material, passwords and credentials.
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.errors.PortalExceptionReporterFilter"

# The shared cache: it counts key submissions, so in production every process must see the same
# one (Redis: redis://host:6379/0). Local memory is per process and only fit for development.
_CACHE_URL = env.str("CACHE_URL", default="locmemcache://")
# An empty or misspelt CACHE_URL was django-environ's "Invalid cache schema " (no setting named), memcache:// a
# traceback from a backend Django no longer has: the scheme is read first, and the address never repeated.
if _CACHE_URL.partition(":")[0] not in ("redis", "rediss", "locmemcache", "dummycache"):
    raise ImproperlyConfigured(
        "CACHE_URL must be a Redis address, such as redis://host:6379/0 (rediss:// with TLS), or locmemcache:// "
        "in development; it is empty or names another cache."
    )
if _CACHE_URL.startswith(("redis:", "rediss:")):
    # redis-py reads a database that is not a number (redis://host:6379/4x) as database 0, without a word, and a
    # port that is not one fails at every request. Neither the address nor its password is repeated.
    _cache_address = urlsplit(_CACHE_URL)
    try:
        _cache_port = _cache_address.port
    except ValueError:
        _cache_port = 0
    if _cache_port == 0:
        raise ImproperlyConfigured("CACHE_URL's port is not a number from 1 to 65535: redis://host:6379/0.")
    if not re.fullmatch(r"/?([0-9]+/?)?", _cache_address.path):
        raise ImproperlyConfigured(
            "CACHE_URL's database must be a number, such as redis://host:6379/0 (or none, for database 0)."
        )
CACHES = {"default": env.cache_url_config(_CACHE_URL)}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "portal.cache.RedisCache"  # one redis client per pool, not one per call
    # A Redis that stops answering fails a request in seconds (a 503, portal/outages.py) instead of holding
    # its thread until gunicorn kills the worker; CACHE_URL's ?socket_timeout=... overrides either.
    _cache_options = CACHES["default"].setdefault("OPTIONS", {})
    for _name in ("socket_connect_timeout", "socket_timeout"):
        # django-environ keeps a value it cannot read as a number as a string: 5s failed every cache call.
        _value = _cache_options.setdefault(_name, 2)
        if isinstance(_value, bool) or not isinstance(_value, int | float) or not 0 < _value < math.inf:
            raise ImproperlyConfigured(f"CACHE_URL's {_name} must be a number of seconds above 0, not {str(_value)!r}.")
# Django's own RedisCache increments atomically; django-ratelimit 4.1 just does not list it yet
# (jsocol/django-ratelimit#283). Its error for a cache processes do not share stays on in production.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"] + (["django_ratelimit.E003"] if DEBUG else [])
# Sessions are read from the shared cache, written through to the database: a page view costs no
# session query. Not with a per-process cache, where another worker would keep a logged-out session.
_PER_PROCESS_CACHE = CACHES["default"]["BACKEND"].endswith(("LocMemCache", "DummyCache"))
SESSION_ENGINE = "keys.sessions." + ("db" if _PER_PROCESS_CACHE else "cached_db")

# Log-in lock-out (django-axes): after LOGIN_FAILURE_LIMIT failures for one username, or from one
# address, every log-in for it is refused for LOGIN_LOCKOUT_MINUTES, a correct password included.
AXES_ENABLED = True
# axes' own tables keep a failed log-in's user agent as the audit does (no token, no private key).
AXES_HANDLER = "keys.auth.LockoutHandler"
AXES_FAILURE_LIMIT = _number(env.int, "LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_MINUTES = _number(env.int, "LOGIN_LOCKOUT_MINUTES", default=15)
# Held within what a timedelta can hold (a billion days), so that keys.E007 names a lock-out past a century
# rather than an OverflowError here.
AXES_COOLOFF_TIME = timedelta(minutes=max(-1, min(LOGIN_LOCKOUT_MINUTES, 10**12)))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own, not the pair
# Not axes' reset: it also wipes the address's count, so anyone sharing an address with a member could
# guess at every other account without end. keys.auth.forgive_own_failures resets the username only.
AXES_RESET_ON_SUCCESS = False
# Attempts during a lock-out are refused without counting, so the lock ends when it said it would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The lock-out page says until when (local time) and links back (keys/lockouts.py, templates/lockout.html).
AXES_LOCKOUT_CALLABLE = "keys.lockouts.lockout_response"
# Successful log-ins are in the portal's own audit log; axes keeps only the failure counts.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# The admin shows the failure counts as "Log-in lock-outs", with an Unlock action (keys.admin).
AXES_ENABLE_ADMIN = False
# Behind a proxy every client shares the proxy's address; this reads the real one (see PROXY_HOPS).
AXES_CLIENT_IP_CALLABLE = "keys.audit.client_ip"
# The proxy authenticated single sign-on; counting it as password attempts could lock everyone out.
AXES_WHITELIST_CALLABLE = "keys.auth.is_single_sign_on"
# A typed name that is no account's is counted (and logged) only as a keyed digest: it may be a password
# typed into the wrong field (keys/login_names.py). The form's copy of it, and its CSRF token, are masked.
AXES_USERNAME_CALLABLE = "keys.login_names.axes_username"
AXES_SENSITIVE_PARAMETERS = ["username", "csrfmiddlewaretoken"]
# How many proxies in front append to X-Forwarded-For; 0 trusts only the connection's address.
PROXY_HOPS = _number(env.int, "DJANGO_PROXY_HOPS", default=0)

# Single sign-on behind an authenticating proxy (oauth2-proxy and the like): off unless a header is
# named. The proxy must drop the header from clients' requests; README.md says how.
SSO_REMOTE_USER_HEADER = env.str("SSO_REMOTE_USER_HEADER", default="")
SSO_CREATE_USERS_ACTIVE = _bool("SSO_CREATE_USERS_ACTIVE", default=False)
if SSO_REMOTE_USER_HEADER:
    _auth = MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    MIDDLEWARE.insert(_auth + 1, "keys.auth.TrustedHeaderMiddleware")
    AUTHENTICATION_BACKENDS.append("keys.auth.TrustedHeaderBackend")

# The upstream: CLOVA NSML behind the NCP API Gateway. Defaults point at the local simulator
# (`make run` starts it) with development credentials that are worthless anywhere else.
NSML_API_URL = env.str("NSML_API_URL", default="http://127.0.0.1:8001/nsml/v1").rstrip("/")
NCP_ACCESS_KEY = env.str("NCP_ACCESS_KEY", default="dev-access-key")
NCP_SECRET_KEY = env.str("NCP_SECRET_KEY", default="dev-secret-key")
NSML_API_KEY = env.str("NSML_API_KEY", default="dev-api-gateway-key")
# Each NCP credential, its value and its development default.
_CREDENTIALS = (
    ("NCP_ACCESS_KEY", NCP_ACCESS_KEY, "dev-access-key"),
    ("NCP_SECRET_KEY", NCP_SECRET_KEY, "dev-secret-key"),
    ("NSML_API_KEY", NSML_API_KEY, "dev-api-gateway-key"),
)
# Like the secret key: production does not start on the development credentials (the values are not named).
_development_credentials = [
    name for name, value, development in _CREDENTIALS if not value.strip() or value.strip() == development
]
if not DEBUG and _development_credentials:
    raise ImproperlyConfigured(
        f"{', '.join(_development_credentials)}: missing or the development value, and DJANGO_DEBUG is off. "
        "Set the team's NCP access key, secret key and API Gateway key (README.md, Pointing it at the real NSML)."
    )
# A credential pasted with a space or a line break around it signs every call wrong, and NSML refuses them all
# as bad credentials: stopped here, naming it (not its value).
_padded_credentials = [name for name, value, _ in _CREDENTIALS if value.strip() and value != value.strip()]
if _padded_credentials:
    raise ImproperlyConfigured(
        f"{', '.join(_padded_credentials)}: starts or ends with a space or a line break, so every call to NSML "
        "would be signed wrong. Set it without them."
    )
NSML_TIMEOUT = _number(env.float, "NSML_TIMEOUT", default=10.0)
NSML_CONNECT_TIMEOUT = _number(env.float, "NSML_CONNECT_TIMEOUT", default=3.05)
# The reconciler (nsml_sync) has no member waiting, so it may wait longer for a slow NSML.
NSML_SYNC_TIMEOUT = _number(env.float, "NSML_SYNC_TIMEOUT", default=30.0)
# A submission whose outcome is unknown stays `pending` this long before the reconciler, not finding
# it in NSML, calls it failed (and tells the member).
NSML_PENDING_GRACE_SECONDS = _number(env.int, "NSML_PENDING_GRACE_SECONDS", default=120)
# A pass that finds more active keys missing from NSML than this marks none of them revoked, and says so: a
# list that lost that many is more likely a wrong NSML_API_URL or subscription than keys really gone
# (nsml_sync --apply --accept-missing marks them anyway).
RECONCILE_MISSING_LIMIT = _number(env.int, "RECONCILE_MISSING_LIMIT", default=25)

# Key submissions per member, counted in the shared cache: "10/m", "30/h", "100/d".
# Checked at start-up by the system check keys.E001 (keys/checks.py).
KEYS_SUBMIT_RATE = env.str("KEYS_SUBMIT_RATE", default="10/m")
KEYS_MIN_RSA_BITS = _number(env.int, "KEYS_MIN_RSA_BITS", default=2048)
# Adding, rotating or revoking a key needs a password entered this recently (the log-in counts).
KEYS_REAUTH_MINUTES = _number(env.int, "KEYS_REAUTH_MINUTES", default=15)
# A key's lifetime: the add-key form offers today + the default; a member may choose up to the maximum
# (0: no maximum, and then a key may never expire). Checked at start-up (keys.E002, keys/checks.py).
KEYS_DEFAULT_LIFETIME_DAYS = _number(env.int, "KEYS_DEFAULT_LIFETIME_DAYS", default=90)
KEYS_MAX_LIFETIME_DAYS = _number(env.int, "KEYS_MAX_LIFETIME_DAYS", default=365)
# Where members reach the portal: the links in emails sent by the periodic job, which has no request.
PORTAL_URL = env.str("PORTAL_URL", default="http://127.0.0.1:8000").rstrip("/")

# Personal access tokens for the API (/tokens/, /api/v1/): the longest lifetime a member may choose.
API_TOKEN_MAX_DAYS = _number(env.int, "API_TOKEN_MAX_DAYS", default=90)
# Who may still log in with a password: "all", "staff-only" (a break-glass admin beside OIDC) or "off".
PASSWORD_LOGIN = env.str("PASSWORD_LOGIN", default="all")

# OpenID Connect log-in (mozilla-django-oidc, wrapped by keys/oidc.py): off unless a client and a provider
# are named. OIDC_ISSUER finds the endpoints by discovery; the OIDC_OP_* variables name them instead.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_OP_END_SESSION_ENDPOINT = env.str("OIDC_OP_END_SESSION_ENDPOINT", default="")
OIDC_RP_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("OIDC_SCOPES", default="openid email profile")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="single sign-on")
OIDC_USERNAME_CLAIM = env.str("OIDC_USERNAME_CLAIM", default="preferred_username")
OIDC_CREATE_USERS_ACTIVE = _bool("OIDC_CREATE_USERS_ACTIVE", default=False)
OIDC_TIMEOUT = _number(env.float, "OIDC_TIMEOUT", default=10.0)
# The ID token is kept in the (server-side) session only to end the provider's session at log-out.
OIDC_STORE_ID_TOKEN = True
OIDC_USE_PKCE = True
OIDC_CALLBACK_CLASS = "keys.oidc_provider.CallbackView"
OIDC_AUTHENTICATE_CLASS = "keys.oidc_provider.AuthenticateView"
LOGIN_REDIRECT_URL_FAILURE = "login"

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").strip().upper()
# logging's own refusal is a traceback ending in "Unable to configure logger 'django'".
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {env.str('LOG_LEVEL')!r}."
    )
# "plain" (the default) or "json": one object per line with the request id, user, method and path.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain").strip().lower()
# One line per request (status, duration), on by default with JSON logs, where it replaces gunicorn's
# access log (gunicorn.conf.py).
LOG_REQUESTS = _bool("LOG_REQUESTS", default=LOG_FORMAT == "json")
# With JSON logs, a warning Python writes (a library's UserWarning, a RuntimeWarning) is a log line (logger
# py.warnings) rather than two plain lines on stderr.
logging.captureWarnings(LOG_FORMAT == "json")
# Every handler escapes control and bidirectional characters, so a user name or a title with a line
# break in it cannot write a line of its own (portal/logs.py); tracebacks keep their lines.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request": {"()": "portal.jsonlog.RequestContextFilter"},
        "escape_controls": {"()": "portal.logs.EscapeControlCharacters"},
    },
    "formatters": {
        "plain": {"()": "portal.logs.PlainFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "portal.jsonlog.JsonFormatter"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request", "escape_controls"],
        },
        # runserver's request lines, as Django's default logging writes them, escaped like the rest.
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["escape_controls"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        # axes narrates every log-in at INFO; failures and lock-outs (WARNING) are what matter.
        "axes": {"level": "WARNING"},
    },
}

# Email: notices to members when a key is added or revoked. Console backend by default in development;
# production must say (an SMTP server, or dummymail:// for no notices): the console's emails on stdout
# would go unread, and break one-JSON-object-per-line logs.
if not DEBUG and not env.str("EMAIL_URL", default="").strip():
    raise ImproperlyConfigured(
        "EMAIL_URL is not set and DJANGO_DEBUG is off: set it to the SMTP server that sends the members' "
        "notices (smtp+tls://user:password@host:587), or to dummymail:// to send none."
    )
try:
    EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
except ValueError:  # a port that is not one: urllib's words, a traceback; the address (a password) is not repeated
    raise ImproperlyConfigured(
        "EMAIL_URL's port is not a number from 1 to 65535: smtp+tls://user:password@host:587, or dummymail://."
    ) from None
except ImproperlyConfigured:  # django-environ's "Invalid email schema smtp+tsl", which names no setting
    raise ImproperlyConfigured(
        "EMAIL_URL must be an smtp://, smtp+tls:// or smtp+ssl:// address, such as "
        "smtp+tls://user:password@host:587, or dummymail:// to send none (consolemail:// in development)."
    ) from None
# smtp+tls:/host (a slash lost) has no host: the portal started, and every notice then failed to send.
_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
if EMAIL_CONFIG["EMAIL_BACKEND"] == _SMTP_BACKEND and not EMAIL_CONFIG.get("EMAIL_HOST"):
    raise ImproperlyConfigured(
        "EMAIL_URL names no SMTP host: write it as smtp+tls://user:password@host:587, or dummymail:// to send none."
    )
# consolemail:// with JSON logs: each notice one JSON line, not the message's own lines among them.
if LOG_FORMAT == "json" and EMAIL_CONFIG["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend":
    EMAIL_CONFIG["EMAIL_BACKEND"] = "portal.console_mail.LoggedEmailBackend"
vars().update(EMAIL_CONFIG)
# Notices go out after the member's response (keys/outbox.py): an SMTP server that stops answering holds a worker's
# thread this long at most per connection (Django's default is no limit), never the member's page; the notice waits
# in the outbox for the next nsml_sync pass.
EMAIL_TIMEOUT = _number(env.float, "EMAIL_TIMEOUT", default=10.0)
# Notices sent, given up on or dropped are deleted this many days after they were written (keys/outbox.py): their
# bodies hold keys' titles, fingerprints and the addresses changes came from. Checked at start-up (keys.E007).
EMAIL_NOTICE_RETENTION_DAYS = _number(env.int, "EMAIL_NOTICE_RETENTION_DAYS", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="NSML Key Portal <nsml-keys@localhost>")
SECURITY_NOTIFY_EMAIL = env.str("SECURITY_NOTIFY_EMAIL", default="")

# Offboarding: deactivating a user revokes their keys in NSML unless this is off.
KEYS_REVOKE_ON_DEACTIVATE = _bool("KEYS_REVOKE_ON_DEACTIVATE", default=True)

# Metrics for Prometheus at /metrics (portal/metrics.py): off (404) unless a token is set; then a scrape
# sends `Authorization: Bearer <token>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# A scraper configured with the token in its URL (/metrics/<token>) wrote it into the request's log lines; and a
# script that sent one of the portal's credentials as its X-Request-ID (a sane token) had it echoed, logged and
# kept on audit rows for good.
# Real credentials are long: a short one (a test's) would cut its letters out of every log line.
hide_in_logs(
    METRICS_TOKEN,
    *(
        secret
        for secret in (NCP_ACCESS_KEY, NCP_SECRET_KEY, NSML_API_KEY, OIDC_RP_CLIENT_SECRET, SECRET_KEY)
        if len(secret) >= 8
    ),
)
# /readyz fails when the last successful reconcile pass finished longer ago than this (seconds).
READYZ_MAX_RECONCILE_AGE_SECONDS = _number(env.int, "READYZ_MAX_RECONCILE_AGE_SECONDS", default=600)
