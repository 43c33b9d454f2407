"""The browser fixture comes from tests/browser/fixtures.py, registered once in tests/conftest.py."""
