"""API keys for the public read-only API: created by guild admins, stored hashed, revocable."""
