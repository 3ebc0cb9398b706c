"""OAuth2 for the dashboard: the consent page, codes and bearer tokens.

The token endpoint is a REST route (`rest/routes_oauth.py`).
"""

from __future__ import annotations

from townsquare.sandbox.oauth.consent import AUTHORIZE_PATH, consent_routes
from townsquare.sandbox.oauth.grants import AccessToken, OAuthError, OAuthStore

__all__ = [
    "AUTHORIZE_PATH",
    "AccessToken",
    "OAuthError",
    "OAuthStore",
    "consent_routes",
]
