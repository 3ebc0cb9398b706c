"""The sandbox REST API under /api/v10."""

from __future__ import annotations

from townsquare.sandbox.rest.app import API_PREFIX, RestApi, RestCall
from townsquare.sandbox.rest.ratelimits import Bucket, RateLimitSettings

__all__ = ["API_PREFIX", "Bucket", "RateLimitSettings", "RestApi", "RestCall"]
