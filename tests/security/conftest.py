"""The browser tests here follow the same Chromium policy and share the one browser of tests/browser."""
from ..browser.conftest import browser, pytest_runtest_setup  # noqa: F401 - fixture and hook re-exported
