"""Admitting one public API request in one Redis call: the key, its rate limit, a cached body.

:func:`admit` runs a Lua script that reads the key's cached entry (`api_key`), checks the
token's hash, counts the request in the key's fixed window (`api_rate`: INCR, EXPIRE on the
first request of a window) and, when admitted, returns the cached response body asked for. So
a request for a cached page costs one round trip to Redis, which requests arriving together
share when the caller passes a :class:`~townsquare.core.redis_batch.CommandBatcher`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import hashlib
import typing

from redis.exceptions import NoScriptError

from townsquare.core.replies import as_text
from townsquare.features.apikeys.domain.service import CACHE_FAMILY

if typing.TYPE_CHECKING:
    from townsquare.core.keyspace import Keyspace

__all__ = ["RATE_FAMILY", "Admission", "Commands", "Outcome", "RateLimit", "admit"]

RATE_FAMILY: typing.Final = "api_rate"

# KEYS: the key's entry, its rate counter (one slot: both are tagged with the key's prefix).
# ARGV: the token's SHA-256 (hex), the limit, the window in seconds.
_ADMIT = """
local entry = redis.call('GET', KEYS[1])
if not entry then return {'miss'} end
local ok, doc = pcall(cjson.decode, entry)
if not ok or type(doc) ~= 'table' or doc['hash'] ~= ARGV[1] then return {'invalid'} end
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
if count > tonumber(ARGV[2]) then
  local ttl = redis.call('TTL', KEYS[2])
  if ttl < 0 then
    redis.call('EXPIRE', KEYS[2], ARGV[3])
    ttl = tonumber(ARGV[3])
  end
  return {'limited', tostring(ttl)}
end
return {'ok', doc['guild'], tostring(doc['ordinal'] or 0)}
"""
_ADMIT_SHA: typing.Final = hashlib.sha1(_ADMIT.encode(), usedforsecurity=False).hexdigest()


class Outcome(enum.StrEnum):
    MISS = "miss"
    """No cached entry for the prefix: load it (:func:`load_cache_entry`) and ask again."""
    INVALID = "invalid"
    """Unknown, revoked, or the secret does not match."""
    LIMITED = "limited"
    OK = "ok"


class Commands(typing.Protocol):
    """What :func:`admit` sends its script through: a redis-py client or a batcher."""

    async def execute_command(self, *args: typing.Any) -> typing.Any: ...


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimit:
    requests: int
    """Requests admitted per key and window."""
    window_seconds: int


@dataclasses.dataclass(frozen=True, slots=True)
class Admission:
    outcome: Outcome
    guild_id: int = 0
    """The key's guild (OK only)."""
    retry_after: int = 0
    """Seconds until the window ends (LIMITED only)."""
    cached: bytes = b""
    """The cached body asked for, or empty (OK only)."""
    ordinal: int = 0
    """How many of the guild's active keys are older than this one (OK only)."""


async def admit(
    redis: Commands,
    keyspace: Keyspace,
    prefix: str,
    token_hash: str,
    limit: RateLimit,
    *,
    cached_key: str | None = None,
) -> Admission:
    keys = (keyspace.key(CACHE_FAMILY, prefix), keyspace.key(RATE_FAMILY, prefix))
    args = (token_hash, limit.requests, limit.window_seconds)
    body: typing.Any = None
    if cached_key is None:
        reply = await _admit(redis, keys, args)
    else:
        # The cached answer is a guild's key, in another Redis Cluster slot than the API key's:
        # read beside the script, not in it. Issued together, through the batcher they still
        # share one round trip on a single server; a refused request ignores what was read.
        reply, body = await asyncio.gather(
            _admit(redis, keys, args), redis.execute_command("GET", cached_key)
        )
    outcome = Outcome(as_text(reply[0]))
    if outcome is Outcome.LIMITED:
        return Admission(outcome, retry_after=max(1, int(as_text(reply[1]))))
    if outcome is Outcome.OK:
        cached = body if isinstance(body, bytes) else str(body or "").encode()
        ordinal = int(as_text(reply[2])) if len(reply) > 2 else 0
        return Admission(outcome, guild_id=int(as_text(reply[1])), cached=cached, ordinal=ordinal)
    return Admission(outcome)


async def _admit(redis: Commands, keys: tuple[str, str], args: tuple[str, int, int]) -> typing.Any:
    try:
        return await redis.execute_command("EVALSHA", _ADMIT_SHA, len(keys), *keys, *args)
    except NoScriptError:
        return await redis.execute_command("EVAL", _ADMIT, len(keys), *keys, *args)
