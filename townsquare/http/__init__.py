"""The Quart service: internal API, public API, dashboard and webhooks."""

from __future__ import annotations

from townsquare.http.app import create_app, run_http
from townsquare.http.errors import APIError

__all__ = ["APIError", "create_app", "run_http"]
