"""The Quart service: internal API, public API, dashboard and webhooks."""
