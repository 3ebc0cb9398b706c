"""Moderation: the domain (for now only its configuration section, `moderation`)."""
