"""API keys: keys a guild's admins create on the dashboard to read `/public/v1` (docs/http.md).

- `domain/`: keys (`api_keys`: only hashes stored), their Redis entries and the admission
  script (key check, rate limit and a cached answer in one call);
- `web/`: the dashboard's keys page, and `PUBLIC_GATE`, which admits every `/public/v1`
  request. The routes behind it are other features' (XP's leaderboard and ranks): they meet
  through the HTTP runtime's public blueprint, not by importing this feature.
"""

from __future__ import annotations

from townsquare.core.features import Feature
from townsquare.features.apikeys.domain.keys import APIKEY_FAMILIES

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="apikeys",
    models=("townsquare.features.apikeys.domain.models",),
    key_families=APIKEY_FAMILIES,
    web="townsquare.features.apikeys.web",
    usage="townsquare.features.apikeys.usage",
)
