"""Production (DJANGO_DEBUG=false) does not start on settings it cannot run with: the development NCP
credentials, no email backend chosen, a number that is not one; and gunicorn, which runs no system
checks, stops on what `manage.py check` stops on. Each run is a fresh process, as an operator starts one.
Found by starting gunicorn with the settings an operator might get wrong: it served them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.helpers import PRODUCTION_REQUIRED

GOOD_KEY = "pRod-7c1f0b9e4a2d8f6e3b5a9c7d1e0f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8"
OURS = ("DJANGO_", "CACHE_URL", "NCP_", "NSML_", "EMAIL_URL", "KEYS_", "METRICS_TOKEN", "LOG_FORMAT", "PASSWORD_LOGIN")


def run(*command: str, **changes: str | None) -> subprocess.CompletedProcess:
    """A command with sound production settings, then `changes` (None: the setting unset)."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith(OURS)}
    environment.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=GOOD_KEY,
        DJANGO_ALLOWED_HOSTS="keys.example.internal",
        CACHE_URL="redis://127.0.0.1:6379/0",
        **PRODUCTION_REQUIRED,
    )
    for name, value in changes.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run(command, cwd=settings.BASE_DIR, env=environment, capture_output=True, text=True, timeout=120)


def check(**changes: str | None) -> subprocess.CompletedProcess:
    return run(sys.executable, "manage.py", "check", **changes)


def gunicorn(**changes: str | None) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "gunicorn", "--check-config", "portal.wsgi", **changes)


def test_sound_production_settings_start():
    assert check().returncode == 0, check().stderr
    result = gunicorn()
    assert result.returncode == 0, result.stdout + result.stderr


DEVELOPMENT_CREDENTIALS = {
    "NCP_ACCESS_KEY": "dev-access-key",
    "NCP_SECRET_KEY": "dev-secret-key",
    "NSML_API_KEY": "dev-api-gateway-key",
}


@pytest.mark.parametrize("name", DEVELOPMENT_CREDENTIALS)
@pytest.mark.parametrize("value", ["unset", "development"])
def test_the_development_credentials_or_none_stop_production(name, value):
    result = check(**{name: None if value == "unset" else DEVELOPMENT_CREDENTIALS[name]})

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{name}: missing or the development value" in output
    for other, secret in PRODUCTION_REQUIRED.items():
        assert other == "EMAIL_URL" or secret not in output  # the sound ones are never repeated


@pytest.mark.parametrize("name", DEVELOPMENT_CREDENTIALS)
@pytest.mark.parametrize("padding", [" ", "\n", "\t"], ids=["space", "newline", "tab"])
def test_a_credential_with_a_space_or_line_break_around_it_stops_the_portal_naming_it(name, padding):
    """Found by QA: "dev-secret-key " passed the development-value check, and a real credential pasted with a
    trailing newline started the portal, whose every call NSML then refused as bad credentials."""
    sound = PRODUCTION_REQUIRED[name]
    for value, says in (
        (DEVELOPMENT_CREDENTIALS[name] + padding, "missing or the development value"),
        (
            sound + padding,
            "starts or ends with a space or a line break",
        ),
    ):
        result = check(**{name: value})

        assert result.returncode != 0
        assert f"{name}: {says}" in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert sound not in result.stderr


def test_production_without_an_email_backend_stops_and_says_how_to_choose_one():
    result = check(EMAIL_URL=None)

    assert result.returncode != 0
    assert "EMAIL_URL is not set" in result.stderr
    assert "dummymail://" in result.stderr


def test_development_keeps_its_defaults():
    result = run(
        sys.executable,
        "manage.py",
        "check",
        DJANGO_DEBUG="true",
        DJANGO_SECRET_KEY=None,
        EMAIL_URL=None,
        NCP_ACCESS_KEY=None,
        NCP_SECRET_KEY=None,
        NSML_API_KEY=None,
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "kind"),
    [("NSML_TIMEOUT", "a number"), ("KEYS_MIN_RSA_BITS", "a whole number"), ("SESSION_COOKIE_AGE", "a whole number")],
)
def test_a_number_that_is_not_one_is_named_without_a_traceback_about_float(name, kind):
    result = check(**{name: "abc"})

    assert result.returncode != 0
    assert f"{name} must be {kind}, not 'abc'." in result.stderr
    assert "could not convert" not in result.stderr
    # One line that names the setting, not a traceback through settings.py.
    assert result.stderr.strip() == f"ImproperlyConfigured: {name} must be {kind}, not 'abc'."


@pytest.mark.parametrize("value", ["1e3", "15.0"])
def test_a_count_written_as_a_fraction_is_refused_as_not_a_whole_number(value):
    """Found reviewing 195ff61: README says a number is read as Python reads one, 1e3 being 1000, but
    KEYS_REAUTH_MINUTES=1e3 (or 15.0) stopped the portal saying it must be a number, not '1e3'."""
    result = check(KEYS_REAUTH_MINUTES=value)

    assert result.returncode != 0
    assert result.stderr.strip() == f"ImproperlyConfigured: KEYS_REAUTH_MINUTES must be a whole number, not {value!r}."


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [
        ("KEYS_SUBMIT_RATE", "abc", "keys.E001"),
        ("METRICS_TOKEN", "short", "keys.E005"),
        ("NSML_API_URL", "not-a-url", "keys.E006"),
        ("NSML_API_URL", "ftp://nsml.example/nsml/v1", "keys.E006"),
        ("LOG_FORMAT", "xml", "keys.E004"),
    ],
)
def test_gunicorn_stops_on_what_the_system_checks_refuse(name, value, check_id):
    served = gunicorn(**{name: value})
    checked = check(**{name: value})

    assert served.returncode != 0
    assert check_id in served.stdout + served.stderr
    assert checked.returncode != 0 and check_id in checked.stderr


def test_gunicorn_stops_on_a_cache_each_worker_keeps_to_itself_and_names_cache_url():
    """Found by starting gunicorn in production without CACHE_URL: `manage.py check` stopped on
    django_ratelimit.E003 ("Use a supported cache backend"), but gunicorn served, each worker counting
    KEYS_SUBMIT_RATE on its own."""
    for cache_url in (None, "locmemcache://", "dummycache://"):
        served = gunicorn(CACHE_URL=cache_url)
        checked = check(CACHE_URL=cache_url)

        assert served.returncode != 0
        assert "CACHE_URL is not set" in served.stderr and "keys.E008" in served.stderr
        assert checked.returncode != 0 and "keys.E008" in checked.stderr


def test_the_dockerfiles_build_step_loads_the_settings_it_refuses_without():
    """Found after production began refusing the development NCP credentials and a missing EMAIL_URL: the
    image's collectstatic, which runs with debug off, must give them too. Runs the build step's settings
    (its environment assignments, DJANGO_DEBUG=false from ENV) with `check` instead of collectstatic."""
    import re
    import shlex

    dockerfile = (settings.BASE_DIR / "Dockerfile").read_text()
    step = re.search(r"^RUN ((?:(?!^RUN ).)*?)python manage\.py collectstatic", dockerfile, re.S | re.M)[1]
    assignments = dict(part.split("=", 1) for part in shlex.split(step.replace("\\\n", " ")))
    assignments["DJANGO_SECRET_KEY"] = GOOD_KEY  # the step makes one with a shell command
    unset = {name: None for name in ("NCP_ACCESS_KEY", "NCP_SECRET_KEY", "NSML_API_KEY", "EMAIL_URL")}

    result = check(**{**unset, **assignments})

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KEYS_SUBMIT_RATE", "10/0m"),
        ("KEYS_SUBMIT_RATE", "10/00s"),
        ("NSML_TIMEOUT", "0"),
        ("NSML_CONNECT_TIMEOUT", "-1"),
        ("EMAIL_TIMEOUT", "0"),
        ("LOGIN_FAILURE_LIMIT", "0"),
        ("API_TOKEN_MAX_DAYS", "0"),
    ],
)
def test_a_number_that_parses_but_cannot_work_stops_gunicorn(name, value):
    """Found with KEYS_SUBMIT_RATE=10/0m and NSML_TIMEOUT=0: each passed the checks, then every submission
    was a 500 (a division by zero in the rate limiter; requests refusing a timeout of 0)."""
    served = gunicorn(**{name: value})

    assert served.returncode != 0
    assert "keys.E00" in served.stdout + served.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("READYZ_MAX_RECONCILE_AGE_SECONDS", "0"),
        ("NSML_PENDING_GRACE_SECONDS", "0"),
        ("KEYS_REAUTH_MINUTES", "0"),
    ],
)
def test_the_lowest_value_the_readme_documents_starts(name, value):
    """Found by turning the reconciler out of /readyz as the README's settings table says (0): gunicorn and
    every manage.py command refused to start, READYZ_MAX_RECONCILE_AGE_SECONDS "must be at least 1"."""
    served = gunicorn(**{name: value})
    checked = check(**{name: value})

    assert served.returncode == 0, served.stdout + served.stderr
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DJANGO_HTTPS", "flase", "DJANGO_HTTPS must be true or false, not 'flase'."),
        ("KEYS_REVOKE_ON_DEACTIVATE", "ture", "KEYS_REVOKE_ON_DEACTIVATE must be true or false, not 'ture'."),
        ("DJANGO_DEBUG", "", "DJANGO_DEBUG must be true or false, not ''."),
        ("DATABASE_URL", "", "DATABASE_URL must be a PostgreSQL or SQLite address"),
        ("DATABASE_URL", "postgress://portal:Db-Pass-123@db/portal", "DATABASE_URL must be a PostgreSQL or SQLite"),
        ("TIME_ZONE", "Asia/Busan", "TIME_ZONE must be a time zone name such as Asia/Seoul or UTC, not 'Asia/Busan'."),
        ("TIME_ZONE", "", "TIME_ZONE must be a time zone name"),
        ("LOG_LEVEL", "VERBOSE", "LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not 'VERBOSE'."),
        ("DJANGO_ALLOWED_HOSTS", "", "DJANGO_ALLOWED_HOSTS is empty and DJANGO_DEBUG is off"),
        # Found by following the README's production steps with CACHE_URL empty or misspelt: django-environ's
        # "Invalid cache schema " named no setting, and memcache:// was a traceback from a backend Django dropped.
        ("CACHE_URL", "", "CACHE_URL must be a Redis address"),
        ("CACHE_URL", "redis//cache:Db-Pass-123@redis:6379/0", "CACHE_URL must be a Redis address"),
        ("CACHE_URL", "memcache://127.0.0.1:11211", "CACHE_URL must be a Redis address"),
        # Found following the README's several-instances section: a database that is not a number (redis://.../4x)
        # was read as database 0, silently shared with whatever else uses it; a port that is not one was a 503 at
        # every request, and /readyz's "cache: ValueError".
        ("CACHE_URL", "redis://:Db-Pass-123@redis:6379/4x", "CACHE_URL's database must be a number"),
        ("CACHE_URL", "redis://:Db-Pass-123@redis:63x9/0", "CACHE_URL's port is not a number from 1 to 65535"),
        # Found later, the same way: a port that is not one was urllib's ValueError, a traceback.
        ("EMAIL_URL", "smtp://mailer:Db-Pass-123@smtp.example.com:58x7", "EMAIL_URL's port is not a number"),
        # Found following the README's production steps: a misspelt scheme stopped it with django-environ's
        # "Invalid email schema smtp+tsl", naming no setting; one without a host (smtp+tls:/host, a slash lost)
        # started, and every notice then failed to send.
        ("EMAIL_URL", "smtp+tsl://mailer:Db-Pass-123@smtp.example.com:587", "EMAIL_URL must be an smtp://"),
        ("EMAIL_URL", "smtps//mailer:Db-Pass-123@smtp.example.com", "EMAIL_URL must be an smtp://"),
        ("EMAIL_URL", "smtp+tls:/mailer:Db-Pass-123@smtp.example.com:587", "EMAIL_URL names no SMTP host"),
        # Found following the README's production steps with its DATABASE_URL options mistyped: conn_max_age=60s
        # started, then every request was a 500 (TypeError: float + str); connect_timeout=5s made every request a
        # 503 and /readyz "database: OperationalError", naming no setting; conn_health_checks=false (any word
        # but True/False) was a non-empty string, so health checks stayed on.
        (
            "DATABASE_URL",
            "postgres://portal:Db-Pass-123@db:5432/portal?conn_max_age=60s",
            "DATABASE_URL's conn_max_age must be a whole number of seconds (0 or more), not '60s'.",
        ),
        (
            "DATABASE_URL",
            "postgres://portal:Db-Pass-123@db:5432/portal?conn_max_age=-5",
            "DATABASE_URL's conn_max_age must be a whole number of seconds (0 or more), not '-5'.",
        ),
        (
            "DATABASE_URL",
            "postgres://portal:Db-Pass-123@db:5432/portal?connect_timeout=5s",
            "DATABASE_URL's connect_timeout must be a whole number of seconds (0 or more), not '5s'.",
        ),
        (
            "DATABASE_URL",
            "postgres://portal:Db-Pass-123@db:5432/portal?conn_health_checks=maybe",
            "DATABASE_URL's conn_health_checks must be true or false, not 'maybe'.",
        ),
        (
            "DATABASE_URL",
            "postgres://portal:Db-Pass-123@db:5432/portal?prepare_threshold=five",
            "DATABASE_URL's prepare_threshold must be a whole number (0 or more), not 'five'.",
        ),
        # Found in QA: CACHE_URL's timeouts (the settings' comment: ?socket_timeout=... overrides the default) written
        # with a unit, or as 0, started, then every request that reached the cache was a 500 (TypeError).
        (
            "CACHE_URL",
            "redis://:Db-Pass-123@127.0.0.1:6379/0?socket_timeout=5s",
            "CACHE_URL's socket_timeout must be a number of seconds above 0, not '5s'.",
        ),
        (
            "CACHE_URL",
            "redis://:Db-Pass-123@127.0.0.1:6379/0?socket_connect_timeout=0",
            "CACHE_URL's socket_connect_timeout must be a number of seconds above 0, not '0'.",
        ),
        # Found in QA: a port that is not a number, or past 65535, was urllib's ValueError and a traceback through
        # django-environ, naming no setting, from every command and gunicorn (CACHE_URL and EMAIL_URL said so).
        (
            "DATABASE_URL",
            "postgres://portal:Db-Pass-123@db:54x2/portal",
            "DATABASE_URL's port is not a number from 1 to 65535: postgres://user:password@host:5432/name.",
        ),
        (
            "DATABASE_URL",
            "postgres://portal:Db-Pass-123@db:99999/portal",
            "DATABASE_URL's port is not a number from 1 to 65535: postgres://user:password@host:5432/name.",
        ),
    ],
)
def test_a_setting_it_cannot_use_stops_every_command_in_one_line(name, value, says):
    """Found by starting the portal in production with each setting of the README's table misspelt: a word
    that is not true or false was read as false (DJANGO_HTTPS=flase served plain HTTP, KEYS_REVOKE_ON_DEACTIVATE=
    ture kept a leaver's keys in NSML), an empty DATABASE_URL was a KeyError, an unknown time zone or log level a
    traceback, an empty TIME_ZONE showed dates in the server's zone, and no allowed host a 400 for every request.
    A misspelt DATABASE_URL scheme printed django-environ's warning with the address's password in it."""
    result = check(**{name: value})

    assert result.returncode != 0
    assert says in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Db-Pass-123" not in result.stderr


@pytest.mark.parametrize(
    ("query", "name", "expected"),
    [
        ("conn_health_checks=false", "CONN_HEALTH_CHECKS", False),
        ("conn_health_checks=true", "CONN_HEALTH_CHECKS", True),
        ("disable_server_side_cursors=True", "DISABLE_SERVER_SIDE_CURSORS", True),
        ("disable_server_side_cursors=off", "DISABLE_SERVER_SIDE_CURSORS", False),
        ("conn_max_age=600", "CONN_MAX_AGE", 600),
        ("conn_max_age=None", "CONN_MAX_AGE", None),
    ],
)
def test_a_database_url_option_is_read_as_the_readme_writes_it(query, name, expected):
    """conn_health_checks=false was the string 'false', which Django reads as on."""
    url = f"postgres://portal@db:5432/portal?{query}"
    result = read_setting(f"DATABASES['default'][{name!r}]", DATABASE_URL=url)

    assert result.stdout.strip() == str(expected), result.stderr


def test_a_log_level_in_lower_case_is_read():
    result = check(LOG_LEVEL="debug", DJANGO_HTTPS="TRUE")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEFAULT_FROM_EMAIL", ""),
        ("DEFAULT_FROM_EMAIL", "NSML Key Portal"),
        ("DEFAULT_FROM_EMAIL", "NSML Key Portal <nsml-keys@>"),
        ("SECURITY_NOTIFY_EMAIL", "security-team"),
        ("SECURITY_NOTIFY_EMAIL", "sec@example.com, soc@example.com"),
    ],
)
def test_a_sender_or_security_copy_that_is_no_email_address_stops_it(name, value):
    """Found following the README's production steps with DEFAULT_FROM_EMAIL set but empty (a compose file's
    `DEFAULT_FROM_EMAIL=`): the portal started, and every notice then failed to send (Django: Invalid address
    ""); a SECURITY_NOTIFY_EMAIL that is no address was taken too, and its copies lost."""
    served = gunicorn(**{name: value})
    checked = check(**{name: value})

    assert served.returncode != 0 and "keys.E010" in served.stdout + served.stderr
    assert checked.returncode != 0 and f"{name} must be an email address" in checked.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEFAULT_FROM_EMAIL", "NSML Key Portal <nsml-keys@localhost>"),
        ("DEFAULT_FROM_EMAIL", "keys@example.com"),
        ("SECURITY_NOTIFY_EMAIL", "security@example.com"),
        ("SECURITY_NOTIFY_EMAIL", ""),
    ],
)
def test_a_sender_or_security_copy_the_readme_shows_starts(name, value):
    assert check(**{name: value}).returncode == 0


OIDC_ON = {
    "OIDC_CLIENT_ID": "portal",
    "OIDC_CLIENT_SECRET": "oidc-Secret-77",
    "OIDC_ISSUER": "https://sso.example.com/realms/ml",
}


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("OIDC_ISSUER", "sso.example.com/realms/ml", "OIDC_ISSUER must be an http:// or https:// address"),
        ("OIDC_OP_TOKEN_ENDPOINT", "/protocol/openid-connect/token", "OIDC_OP_TOKEN_ENDPOINT must be an http://"),
        ("OIDC_SIGN_ALGO", "RSA256", "OIDC_SIGN_ALGO must be RS256, RS384, RS512, ES256, ES384, ES512, HS256"),
        ("OIDC_USERNAME_CLAIM", "", "OIDC_USERNAME_CLAIM must name a claim"),
        ("OIDC_SCOPES", "email profile", "OIDC_SCOPES must include openid"),
    ],
)
def test_an_oidc_setting_no_log_in_could_pass_stops_it(name, value, says):
    """Found following the README's OIDC settings with each mistyped: the portal started and showed the *Sign in
    with* button, and no log-in could pass (an issuer without a scheme is no address to discover; an ID token
    signed RS256 never matched OIDC_SIGN_ALGO=RSA256; no username claim names nobody; without the openid scope
    the provider sends no ID token)."""
    served = gunicorn(**{**OIDC_ON, name: value})
    checked = check(**{**OIDC_ON, name: value})

    assert served.returncode != 0 and "keys.E011" in served.stdout + served.stderr
    assert checked.returncode != 0 and says in checked.stderr
    assert "oidc-Secret-77" not in checked.stderr + served.stdout + served.stderr


def test_oidc_settings_are_not_judged_while_oidc_is_off():
    assert check(OIDC_SIGN_ALGO="RSA256", OIDC_SCOPES="email").returncode == 0
    assert check(**OIDC_ON, OIDC_SIGN_ALGO="ES256", OIDC_SCOPES="openid email").returncode == 0


@pytest.mark.parametrize(
    "value", ["HTTP_X_FORWARDED_USER", "X-Forwarded-User:", "X Forwarded User", "X_Forwarded_User"]
)
def test_a_single_sign_on_header_no_proxy_could_send_stops_it(value):
    """Found following the README's single sign-on section with the header written as Django's META key
    (HTTP_X_FORWARDED_USER, looked for as HTTP_HTTP_X_...), with its colon, with spaces or with underscores
    (gunicorn drops such a header): the portal started, and the proxy's user was never logged in; every member
    met the log-in page, without a word in the log."""
    served = gunicorn(SSO_REMOTE_USER_HEADER=value)
    checked = check(SSO_REMOTE_USER_HEADER=value)

    assert served.returncode != 0 and "keys.E012" in served.stdout + served.stderr
    assert checked.returncode != 0 and "SSO_REMOTE_USER_HEADER must be a header's name" in checked.stderr


def test_a_single_sign_on_header_as_the_readme_writes_it_starts():
    assert check(SSO_REMOTE_USER_HEADER="X-Forwarded-User").returncode == 0


@pytest.mark.parametrize("value", ["", "keys.example.internal", "ftp://keys.example.internal"])
def test_gunicorn_stops_on_a_portal_url_no_member_could_follow(value):
    """Found with PORTAL_URL empty: the reminders' links were a bare path, which no mail reader opens."""
    served = gunicorn(PORTAL_URL=value)
    checked = check(PORTAL_URL=value)

    assert served.returncode != 0 and "keys.E009" in served.stdout + served.stderr
    assert checked.returncode != 0 and "PORTAL_URL must be the http:// or https:// address" in checked.stderr


def read_setting(name: str, **changes: str | None) -> subprocess.CompletedProcess:
    code = f"from django.conf import settings; print(settings.{name})"
    return run(sys.executable, "manage.py", "shell", "--no-imports", "-c", code, **changes)


def test_a_number_is_read_as_python_reads_it():
    """Found probing NSML_TIMEOUT with odd values: django-environ's float drops every character that is not a
    digit, a comma or a point, so 1e1 was read as 11 seconds, 2.5.1 as 25.1 and 10s as 10, without a word."""
    assert read_setting("NSML_TIMEOUT", NSML_TIMEOUT="1e1").stdout.strip() == "10.0"
    assert read_setting("NSML_TIMEOUT", NSML_TIMEOUT=" 7.5 ").stdout.strip() == "7.5"
    for value in ("2.5.1", "10s", "1e400", "inf"):
        result = check(NSML_TIMEOUT=value)
        assert result.returncode != 0
        assert result.stderr.strip() == f"ImproperlyConfigured: NSML_TIMEOUT must be a number, not {value!r}."


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("KEYS_MAX_LIFETIME_DAYS", "99999999", "KEYS_MAX_LIFETIME_DAYS must be at most 36,500, not 99,999,999."),
        ("API_TOKEN_MAX_DAYS", "99999999", "API_TOKEN_MAX_DAYS must be at most 36,500"),
        ("SESSION_COOKIE_AGE", "999999999999", "SESSION_COOKIE_AGE must be at most 3,153,600,000"),
        ("LOGIN_LOCKOUT_MINUTES", "99999999999", "LOGIN_LOCKOUT_MINUTES must be at most 52,560,000."),
        ("NSML_TIMEOUT", "86401", "NSML_TIMEOUT must be at most 86,400"),
    ],
)
def test_a_number_past_what_dates_can_hold_stops_it(name, value, says):
    """Found with KEYS_MAX_LIFETIME_DAYS=99999999 and LOGIN_LOCKOUT_MINUTES=99999999999: each started, then
    the add-key page, or every log-in, was a 500 (OverflowError: date value out of range)."""
    result = check(**{name: value})

    assert result.returncode != 0
    assert says in result.stderr and "keys.E007" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("RECONCILE_MISSING_LIMIT", "-1", "RECONCILE_MISSING_LIMIT must be at least 0, not -1."),
        ("KEYS_MIN_RSA_BITS", "512", "KEYS_MIN_RSA_BITS must be at least 1024, not 512."),
        ("KEYS_MIN_RSA_BITS", "32768", "KEYS_MIN_RSA_BITS must be at most 16,384, not 32,768."),
    ],
)
def test_a_limit_that_holds_back_every_pass_or_a_key_size_nobody_can_meet_stops_it(name, value, says):
    """Found following the README's production steps with each setting of its table mistyped: with
    RECONCILE_MISSING_LIMIT=-1 every reconcile pass logged "held back: 0 active keys are missing from NSML's list",
    and would never mark a key NSML lost; KEYS_MIN_RSA_BITS=512 took RSA keys OpenSSH itself refuses, 32768 refused
    every RSA key ssh-keygen can make (it makes at most 16384 bits). Each was taken without a word."""
    checked = check(**{name: value})
    served = gunicorn(**{name: value})

    assert checked.returncode != 0 and says in checked.stderr and "keys.E007" in checked.stderr
    assert served.returncode != 0 and says in served.stdout + served.stderr


@pytest.mark.parametrize(
    ("name", "value"), [("RECONCILE_MISSING_LIMIT", "0"), ("KEYS_MIN_RSA_BITS", "1024"), ("KEYS_MIN_RSA_BITS", "16384")]
)
def test_the_ends_of_the_limit_and_key_size_ranges_start(name, value):
    assert check(**{name: value}).returncode == 0


@pytest.mark.parametrize("value", ["2000000000000", "-2000000000000", "52561000"])
def test_a_lock_out_past_a_century_stops_it_in_one_line(value):
    """Found reviewing keys.E007: LOGIN_LOCKOUT_MINUTES=2000000000000 (past what a timedelta holds) stopped every
    command with an OverflowError traceback from settings.py, not the check's line; and 52,561,000 minutes, past
    the 52,560,000 the check names, was taken (it compared whole days only)."""
    result = check(LOGIN_LOCKOUT_MINUTES=value)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    least_or_most = "at least 1" if value.startswith("-") else "at most 52,560,000"
    assert f"LOGIN_LOCKOUT_MINUTES must be {least_or_most}" in result.stderr and "keys.E007" in result.stderr


def test_a_lock_out_of_a_century_is_allowed():
    assert check(LOGIN_LOCKOUT_MINUTES="52560000").returncode == 0


def test_gunicorn_stops_on_a_number_past_what_dates_can_hold():
    served = gunicorn(KEYS_MAX_LIFETIME_DAYS="99999999")

    assert served.returncode != 0
    assert "KEYS_MAX_LIFETIME_DAYS must be at most 36,500" in served.stdout + served.stderr


def test_a_century_is_allowed():
    assert check(KEYS_MAX_LIFETIME_DAYS="36500", KEYS_DEFAULT_LIFETIME_DAYS="36500").returncode == 0


def json_objects(text: str) -> list[dict]:
    """Each line of `text` read as a JSON object: a line that is not one fails the test, naming it."""
    objects = []
    for line in text.splitlines():
        try:
            objects.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    return objects


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DJANGO_HTTPS", "maybe", "DJANGO_HTTPS must be true or false, not 'maybe'."),
        ("METRICS_TOKEN", "short", "METRICS_TOKEN must be at least 16 characters"),
    ],
)
def test_with_json_logs_the_line_that_stops_a_command_is_json(name, value, says):
    """Found by starting the reconciler with LOG_FORMAT=json and a misspelt setting: its log lines are JSON,
    but the one that said why it would not start was plain text, which a JSON log pipeline drops or mangles."""
    result = run(sys.executable, "manage.py", "nsml_sync", LOG_FORMAT="json", **{name: value})

    assert result.returncode != 0
    lines = json_objects(result.stdout + result.stderr)
    assert any(says in line["message"] and line["level"] in ("ERROR", "CRITICAL") for line in lines), lines


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DJANGO_HTTPS", "maybe", "DJANGO_HTTPS must be true or false, not 'maybe'."),
        ("METRICS_TOKEN", "short", "METRICS_TOKEN must be at least 16 characters"),
    ],
)
def test_with_json_logs_every_line_of_a_gunicorn_that_will_not_start_is_json(tmp_path, name, value, says):
    """Found by starting gunicorn (gunicorn.conf.py, LOG_FORMAT=json) with a misspelt setting: its own lines were
    JSON, but each worker also printed the refusal as a plain line on stderr (gunicorn's print after its log)."""
    result = run(
        sys.executable,
        "-m",
        "gunicorn",
        "portal.wsgi",
        LOG_FORMAT="json",
        GUNICORN_BIND="127.0.0.1:0",
        GUNICORN_WORKERS="1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
        **{name: value},
    )

    assert result.returncode != 0
    lines = json_objects(result.stdout + result.stderr)
    assert any(says in line["message"] for line in lines), lines
    assert any(line["message"] == "Reason: Worker failed to boot." for line in lines), lines
