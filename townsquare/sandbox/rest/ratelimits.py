"""Discord-style rate limits: per-route buckets and the global limit.

Buckets are fixed windows keyed by caller, route and major parameter (channel, guild or webhook
id); the global limit counts per caller too (the bot, or each bearer token's user).
Every limited response carries `X-RateLimit-*` headers; going over a bucket or the global
limit answers 429 with `retry_after`, which hikari's rate limiter waits out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Bucket", "RateLimitSettings", "RateLimiter", "Verdict"]

_MAJOR_PARAMETERS: typing.Final = ("channel_id", "guild_id", "webhook_id")


@dataclasses.dataclass(frozen=True, slots=True)
class Bucket:
    limit: int
    window: float
    """Seconds."""


def _default_routes() -> dict[tuple[str, str], Bucket]:
    messages = "/api/v10/channels/{channel_id}/messages"
    return {
        ("POST", messages): Bucket(5, 5.0),
        ("PATCH", messages + "/{message_id}"): Bucket(5, 5.0),
        ("PUT", "/api/v10/guilds/{guild_id}/members/{user_id}/roles/{role_id}"): Bucket(10, 10.0),
        ("DELETE", "/api/v10/guilds/{guild_id}/members/{user_id}/roles/{role_id}"): Bucket(
            10, 10.0
        ),
    }


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimitSettings:
    routes: dict[tuple[str, str], Bucket] = dataclasses.field(default_factory=_default_routes)
    """(method, route template) -> bucket; others get `default`."""
    default: Bucket = Bucket(50, 1.0)
    global_per_second: int = 50
    unlimited: frozenset[str] = frozenset(
        {"/api/v10/interactions/{interaction_id}/{interaction_token}/callback"}
    )
    """Route templates that carry no rate limit headers at all."""


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    headers: dict[str, str]
    retry_after: float = 0.0
    is_global: bool = False


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._windows: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._global_windows: dict[str, tuple[float, int]] = {}

    def check(
        self, method: str, route: str, params: typing.Mapping[str, str], caller: str = "bot"
    ) -> Verdict:
        """Count one request of `caller`; the headers to send and whether it may proceed."""
        if route in self._settings.unlimited:
            return Verdict(True, {})
        now = self._clock()
        if not self._count_global(caller, now):
            retry = math.ceil(now) - now or 1.0
            headers = {"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"}
            headers["Retry-After"] = str(math.ceil(retry))
            return Verdict(False, headers, retry, is_global=True)
        bucket = self._settings.routes.get((method, route), self._settings.default)
        major = next((params[p] for p in _MAJOR_PARAMETERS if p in params), "")
        bucket_hash = hashlib.sha1(f"{method} {route}".encode(), usedforsecurity=False)
        key = (bucket_hash.hexdigest(), major, caller)
        started, count = self._windows.get(key, (now, 0))
        if now - started >= bucket.window:
            started, count = now, 0
        count += 1
        self._windows[key] = (started, count)
        reset_at = started + bucket.window
        # Never "0.000": Discord's reset-after is at least a millisecond, and hikari divides by
        # it (a zero period crashes its bucket with ZeroDivisionError).
        reset_after = max(reset_at - now, 0.001)
        headers = {
            "X-RateLimit-Bucket": key[0],
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(bucket.limit - count, 0)),
            "X-RateLimit-Reset": f"{reset_at:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        }
        if count > bucket.limit:
            headers["X-RateLimit-Scope"] = "user"
            headers["Retry-After"] = str(math.ceil(reset_after))
            return Verdict(False, headers, reset_after)
        return Verdict(True, headers)

    def _count_global(self, caller: str, now: float) -> bool:
        second, count = self._global_windows.get(caller, (0.0, 0))
        if math.floor(now) != second:
            second, count = math.floor(now), 0
        self._global_windows[caller] = (second, count + 1)
        return count + 1 <= self._settings.global_per_second
