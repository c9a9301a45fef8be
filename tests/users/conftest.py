"""The browser tests here use the same Chromium fixtures as tests/browser."""

from tests.browser.conftest import browser, page  # noqa: F401 - fixtures
