"""The browser tests' fixtures (tests/support/browser.py)."""

from __future__ import annotations

from tests.support.browser import environ, http_service

__all__ = ["environ", "http_service"]
