"""Browser tests: Debian's headless Chromium, driven by Playwright, against the live portal and simulator.

Playwright's own browser download does not work on our machines, so these tests use the system
Chromium (`apt-get install chromium`; `.ci/run` installs it) and skip, saying so, where it is missing.
The accessibility audit is axe-core, bundled by the axe-playwright-python package: nothing is fetched
at test time.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_MISSING = "Debian chromium not installed: apt-get install chromium"
# Without the background-networking flags Chromium keeps calling Google's hosts, which this network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
PASSWORD = "browser-password-1"
# How long a click or a navigation may take: generous, as CI's two cores run the portal, PostgreSQL and the
# browser at once (a loaded machine took more than 5 s to finish one OIDC navigation).
ACTION_TIMEOUT_MS = 15_000
FAILING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(CHROMIUM_MISSING)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: make install")
    # Playwright's sync API keeps an event loop on this thread; Django then refuses ORM calls from the
    # test body as "async unsafe". The test body is plain synchronous code, so the check does not apply.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _set_audit_triggers(present: bool) -> None:
    """SQLite only: the append-only triggers refuse the DELETEs that empty the database after a live-server
    test (PostgreSQL empties it with TRUNCATE, which they allow). The SQL is the migration's own."""
    if connection.vendor != "sqlite":
        return
    try:
        migration = importlib.import_module("keys.migrations.0003_audit_append_only")
    except ModuleNotFoundError:
        return
    with connection.cursor() as cursor:
        for statement in migration.SQLITE_DROP + (migration.SQLITE_CREATE if present else []):
            cursor.execute(statement)


@pytest.fixture(scope="package")
def _audit_triggers_back(django_db_setup, django_db_blocker) -> Iterator[None]:
    # Package scope: set up before, and torn down after, every test's database flush in this folder,
    # so the tests that run after the browser tests find the audit table append-only again.
    yield
    with django_db_blocker.unblock():
        _set_audit_triggers(present=True)


@pytest.fixture
def portal(_audit_triggers_back, live_server, nsml, transactional_db, settings) -> Iterator[str]:
    """The live portal's base URL, talking to a fresh simulator; submission counters start at zero.

    The live server runs in this process, so the settings the `nsml` fixture changes apply to it.
    """
    cache.clear()
    _set_audit_triggers(present=True)
    yield live_server.url
    _set_audit_triggers(present=False)


@pytest.fixture
def context(browser, portal) -> Iterator:
    made = browser.new_context(base_url=portal, locale="en-US", viewport={"width": 1100, "height": 900})
    yield made
    made.close()


@pytest.fixture
def page(context) -> Iterator:
    """A tab that fails the test on a script error or a Content-Security-Policy refusal."""
    opened = context.new_page()
    opened.set_default_timeout(ACTION_TIMEOUT_MS)
    problems: list[str] = []

    def on_console(message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(f"console: {message.text}")

    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on("console", on_console)
    yield opened
    assert not problems, "\n".join(problems)


@pytest.fixture
def page_without_script(browser, portal) -> Iterator:
    """A tab in a browser with JavaScript off: what the server does on its own."""
    made = browser.new_context(base_url=portal, locale="en-US", java_script_enabled=False)
    opened = made.new_page()
    opened.set_default_timeout(ACTION_TIMEOUT_MS)
    yield opened
    made.close()


@pytest.fixture
def browser_member(django_user_model, portal):
    return django_user_model.objects.create_user(username="kim.minsu", password=PASSWORD)


@pytest.fixture
def log_in(browser_member) -> Callable:
    """Log in through the real form, as a person does."""

    def go(page, username: str = "kim.minsu", password: str = PASSWORD) -> None:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/keys/")

    return go


@pytest.fixture(scope="session")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


@pytest.fixture
def check_page(axe) -> Callable:
    """Screenshot the page to tests/screenshots/<name>-<lang>.png, then fail on serious a11y problems."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def check(page, name: str) -> None:
        # axe runs in the page: a tab with JavaScript off would wait for it forever.
        lang = page.locator("html").get_attribute("lang") or "none"
        page.screenshot(path=SCREENSHOTS / f"{name}-{lang}.png", full_page=True)
        # axe goes in through page.evaluate (the DevTools protocol), which a strict CSP does not block,
        # so the pages are audited exactly as served, without bypass_csp.
        results = axe.run(page)
        serious = [v for v in results.response["violations"] if v["impact"] in FAILING_IMPACTS]
        assert not serious, f"accessibility problems on {name} ({page.url}):\n" + "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']} at {', '.join(t for n in v['nodes'] for t in n['target'])}"
            for v in serious
        )

    return check


def sha256_fingerprint(public_line: str) -> str:
    """What `ssh-keygen -lf` prints for the key, computed from its blob."""
    blob = base64.b64decode(public_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
