"""A page that is not there still reads as a page: language, title, no serious accessibility problem."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_a_missing_key_page_is_a_plain_404(page, log_in, check_page):
    log_in(page)

    response = page.goto("/keys/999999/")

    assert response.status == 404
    check_page(page, "not-found")
