"""A loopback Discord (gateway, REST, OAuth2) with a seeded guild and a simulated community."""
