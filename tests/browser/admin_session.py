"""An admin's browser tab at 1280 px, in English or Korean, logged in through the admin's own form."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.browser.conftest import ACTION_TIMEOUT_MS

ADMIN_PASSWORD = "admin-password-1"
WIDTH = 1280


@contextmanager
def admin_tab(browser, base_url: str, lang: str, username: str = "root") -> Iterator:
    """A logged-in admin tab; fails the test on a script error or a Content-Security-Policy refusal."""
    context = browser.new_context(
        base_url=base_url, locale="ko-KR" if lang == "ko" else "en-US", viewport={"width": WIDTH, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))

    def on_console(message) -> None:
        # axe's own preload (evaluated by the test, so with no script URL) adds <style> on change forms,
        # which the CSP rightly refuses; only the page's own scripts count.
        if message.type == "error" and "Content Security Policy" in message.text and message.location["url"]:
            problems.append(f"console: {message.text}")

    page.on("console", on_console)
    page.goto("/admin/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(ADMIN_PASSWORD)
    page.locator("#login-form input[type=submit]").click()
    page.wait_for_url("**/admin/")
    try:
        yield page
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def fits_the_width(page) -> bool:
    """No horizontal scrolling: the page is no wider than the window."""
    return page.evaluate("document.documentElement.scrollWidth") <= WIDTH


def run_action(page, name: str, *row_ids: int) -> None:
    """Tick the rows and run the list's action `name` with its Go button."""
    for row_id in row_ids:
        page.locator(f'input[name="_selected_action"][value="{row_id}"]').check()
    page.locator('select[name="action"]').select_option(name)
    page.locator('button[name="index"]').click()
