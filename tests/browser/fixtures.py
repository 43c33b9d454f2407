"""Playwright against the live server: one Chromium per session, one page per test.

Browser policy: Chromium is looked for at /usr/bin/chromium, then as `chromium` on PATH. When it
is missing, LECTERN_REQUIRE_BROWSER=1 (CI) fails every browser test with that message; otherwise
the browser tests alone are skipped and the run ends with one loud line saying so.
"""
import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls tests make between
# browser steps are still plain synchronous code.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
MISSING = "BROWSER TESTS SKIPPED: Chromium not found at /usr/bin/chromium — install it with apt-get install chromium"
REQUIRED = ("BROWSER TESTS FAILED: LECTERN_REQUIRE_BROWSER=1 but Chromium is not at /usr/bin/chromium nor on PATH — "
            "install it with apt-get install chromium")


def chromium_path():
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def browser_required():
    return os.environ.get("LECTERN_REQUIRE_BROWSER", "") == "1"


_skipped = {"count": 0}


def pytest_runtest_setup(item):
    if item.get_closest_marker("browser") is None or chromium_path():
        return
    if browser_required():
        pytest.fail(REQUIRED, pytrace=False)
    _skipped["count"] += 1
    pytest.skip(MISSING)


def pytest_terminal_summary(terminalreporter):
    if _skipped["count"]:
        terminalreporter.write_line(f"!!! {MISSING} ({_skipped['count']} tests) !!!", red=True, bold=True)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        # While Playwright's loop runs, Django keeps this thread's connections apart from the
        # ones made before it; close those now, or PostgreSQL's test database cannot be dropped.
        from django.db import connections

        connections.close_all()
        chromium.close()


@pytest.fixture
def page(browser, live_server, transactional_db):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error) + (error.stack or "")))
    page.errors = errors
    yield page
    context.close()
    assert not errors, f"uncaught script errors in the page: {errors}"


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def themed(project):
    """The test project with the scheme's default themes and stances."""
    from annotations.schema import schema_install_default

    schema_install_default(project)
    return project
