"""The platforms' HTTP APIs, as far as live alerts need them (docs/streams.md)."""
