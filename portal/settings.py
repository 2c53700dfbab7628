"""Portal settings: read once, here, from the environment (django-environ).

Every knob has a default that works for development; README.md lists them all.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env") if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-secret-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    # Installed for its system checks: they refuse a cache that processes do not share (see CACHES).
    "django_ratelimit",
    "keys",
]

MIDDLEWARE = [
    # First, so every later middleware, the view and their log lines know the request id.
    "portal.request_id.RequestIdMiddleware",
    "portal.metrics.HttpMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.timing.ServerTimingMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as axes asks: it turns a locked-out log-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
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
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "keys:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Seoul")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# HTTPS: on by default whenever debug is off, so a production deploy cannot forget it.
HTTPS = env.bool("DJANGO_HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
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
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 60 * 60)

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
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# Django's own RedisCache increments atomically; django-ratelimit 4.1 just does not list it yet
# (jsocol/django-ratelimit#283). Its error for a cache processes do not share stays on in production.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"] + (["django_ratelimit.E003"] if DEBUG else [])
# Sessions are read from the shared cache, written through to the database: a page view costs no
# session query. Not with a per-process cache, where another worker would keep a logged-out session.
_PER_PROCESS_CACHE = CACHES["default"]["BACKEND"].endswith(("LocMemCache", "DummyCache"))
SESSION_ENGINE = "django.contrib.sessions.backends." + ("db" if _PER_PROCESS_CACHE else "cached_db")

# Log-in lock-out (django-axes): after LOGIN_FAILURE_LIMIT failures for one username, or from one
# address, every log-in for it is refused for LOGIN_LOCKOUT_MINUTES, a correct password included.
AXES_ENABLED = True
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own, not the pair
AXES_RESET_ON_SUCCESS = True
# Attempts during a lock-out are refused without counting, so the lock ends when it said it would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "lockout.html"
# Successful log-ins are in the portal's own audit log; axes keeps only the failure counts.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# Behind a proxy every client shares the proxy's address; this reads the real one (see PROXY_HOPS).
AXES_CLIENT_IP_CALLABLE = "keys.audit.client_ip"
# The proxy authenticated single sign-on; counting it as password attempts could lock everyone out.
AXES_WHITELIST_CALLABLE = "keys.auth.is_single_sign_on"
# How many proxies in front append to X-Forwarded-For; 0 trusts only the connection's address.
PROXY_HOPS = env.int("DJANGO_PROXY_HOPS", default=0)

# Single sign-on behind an authenticating proxy (oauth2-proxy and the like): off unless a header is
# named. The proxy must drop the header from clients' requests; README.md says how.
SSO_REMOTE_USER_HEADER = env.str("SSO_REMOTE_USER_HEADER", default="")
SSO_CREATE_USERS_ACTIVE = env.bool("SSO_CREATE_USERS_ACTIVE", default=False)
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
NSML_TIMEOUT = env.float("NSML_TIMEOUT", default=10.0)
NSML_CONNECT_TIMEOUT = env.float("NSML_CONNECT_TIMEOUT", default=3.05)
# The reconciler (nsml_sync) has no member waiting, so it may wait longer for a slow NSML.
NSML_SYNC_TIMEOUT = env.float("NSML_SYNC_TIMEOUT", default=30.0)
# A submission whose outcome is unknown stays `pending` this long before the reconciler, not finding
# it in NSML, calls it failed (and tells the member).
NSML_PENDING_GRACE_SECONDS = env.int("NSML_PENDING_GRACE_SECONDS", default=120)

# Key submissions per member, counted in the shared cache: "10/m", "30/h", "100/d".
# Checked at start-up by the system check keys.E001 (keys/checks.py).
KEYS_SUBMIT_RATE = env.str("KEYS_SUBMIT_RATE", default="10/m")
KEYS_MIN_RSA_BITS = env.int("KEYS_MIN_RSA_BITS", default=2048)
# Adding, rotating or revoking a key needs a password entered this recently (the log-in counts).
KEYS_REAUTH_MINUTES = env.int("KEYS_REAUTH_MINUTES", default=15)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# "plain" (the default) or "json": one object per line with the request id, user, method and path.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain").strip().lower()
# One line per request (status, duration), on by default with JSON logs, where it replaces gunicorn's
# access log (gunicorn.conf.py).
LOG_REQUESTS = env.bool("LOG_REQUESTS", default=LOG_FORMAT == "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "portal.jsonlog.RequestContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "portal.jsonlog.JsonFormatter"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        # axes narrates every log-in at INFO; failures and lock-outs (WARNING) are what matter.
        "axes": {"level": "WARNING"},
    },
}

# Email: notices to members when a key is added or revoked. Console backend by default.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="NSML Key Portal <nsml-keys@localhost>")
SECURITY_NOTIFY_EMAIL = env.str("SECURITY_NOTIFY_EMAIL", default="")

# Offboarding: deactivating a user revokes their keys in NSML unless this is off.
KEYS_REVOKE_ON_DEACTIVATE = env.bool("KEYS_REVOKE_ON_DEACTIVATE", default=True)

# Metrics for Prometheus at /metrics (portal/metrics.py): off (404) unless a token is set; then a scrape
# sends `Authorization: Bearer <token>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# /readyz fails when the last successful reconcile pass finished longer ago than this (seconds).
READYZ_MAX_RECONCILE_AGE_SECONDS = env.int("READYZ_MAX_RECONCILE_AGE_SECONDS", default=600)
