"""Playwright fixtures and the Chromium policy live in tests/browser/fixtures.py, loaded once from tests/conftest.py."""
