"""A real browser for UI tests: Debian's Chromium driven by Playwright (no downloaded browser)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from django_scopes import scopes_disabled

CHROMIUM = os.environ.get("RUMBO_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser() -> Iterator[object]:
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the test itself
    # (set-up, assertions) are still synchronous and safe here.
    # Function-scoped on purpose: Playwright switches greenlets, and every switch back restores the context
    # variables captured when it started; started per test, that context includes the test's
    # django-scopes state (set by the autouse fixture in conftest.py at the repository root).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(locale="es-MX", viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    # Starting Playwright switched this thread to another context-variable context, losing the test's
    # django-scopes state: set it again here, for the ORM calls of the test body.
    with scopes_disabled():
        yield page
    context.close()
    # The test body ran in Playwright's context-variable context, where Django opened a database connection
    # of its own (connections are per context); close it here, in that context, or on PostgreSQL it outlives
    # the test and the test database cannot be dropped at the end ("being accessed by other users").
    from django.db import connections

    connections.close_all()


def settle(page: object) -> None:
    """Wait until the page has no request in flight, before the test reads the database: the live server may
    still be answering a request the page made after it loaded (a fragment, the favicon), and on SQLite its
    writes would race the test's reads."""
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]


def screenshot(page: object, name: str) -> None:
    """Keep a full-page screenshot ``<name>.png`` in ``$RUMBO_SCREENSHOTS`` when that is set (to look at the
    pages a browser test walked through); otherwise nothing."""
    from pathlib import Path

    folder = os.environ.get("RUMBO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
