"""Creating, listing, revoking and resolving API keys (each change audited).

A key is `tsk_<prefix>_<secret>`: `prefix` is 10 random lowercase letters and digits, public
(it names the key in lists, logs and Redis keys); `secret` is 32 random bytes (256 bits), in
URL-safe base64. Only the SHA-256 of the whole key is stored. A fast unsalted hash is right
here, where bcrypt or argon2 would only cost CPU on every request: those slow hashes protect
low-entropy passwords against guessing, and nobody can guess 256 random bits, hashed or not.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import re
import secrets
import string
import typing

from tortoise.transactions import in_transaction

from townsquare.core.audit.service import record
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.apikeys.domain.models import ApiKey

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.audit.service import Actor
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.premium import Gate

__all__ = [
    "CACHE_FAMILY",
    "KEYS_LIMIT",
    "MAX_ACTIVE_KEYS",
    "RATE_LIMIT",
    "ApiKeyError",
    "CreatedKey",
    "KeyInfo",
    "create_key",
    "hash_token",
    "list_keys",
    "load_cache_entry",
    "parse_token",
    "revoke_key",
]

CACHE_FAMILY: typing.Final = "api_key"
MAX_ACTIVE_KEYS: typing.Final = 25
KEYS_LIMIT: typing.Final = "apikeys.keys"
"""The premium limit on active keys per guild: past it (after a downgrade) the newest keys are
paused, refused with 402 until the tier allows them again (`ordinal` in the cache entry)."""
RATE_LIMIT: typing.Final = "apikeys.requests_per_minute"
"""The premium limit on each key's requests per minute."""
_PREFIX_ALPHABET: typing.Final = string.ascii_lowercase + string.digits
_PREFIX_LENGTH: typing.Final = 10
_TOKEN = re.compile(r"^tsk_([a-z0-9]{10})_([A-Za-z0-9_-]{43})$")


class ApiKeyError(Exception):
    """A refused key operation: `code` is stable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    guild_id: int
    name: str
    prefix: str
    created_by: int
    created_at: datetime.datetime
    revoked_at: datetime.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclasses.dataclass(frozen=True, slots=True)
class CreatedKey:
    info: KeyInfo
    token: str
    """The whole key: shown to the admin once, never stored."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_token(token: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    match = _TOKEN.match(token)
    return match.group(1) if match else None


def _new_token() -> tuple[str, str]:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(_PREFIX_LENGTH))
    return prefix, f"tsk_{prefix}_{secrets.token_urlsafe(32)}"


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        guild_id=typing.cast("int", row.guild_id),  # type: ignore[attr-defined]
        name=row.name,
        prefix=row.prefix,
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


async def list_keys(guild_id: int) -> list[KeyInfo]:
    """The guild's keys, newest first, revoked ones included."""
    rows = await ApiKey.filter(guild_id=guild_id).order_by("-created_at", "-id")
    return [_info(row) for row in rows]


async def create_key(
    guild_id: int, name: str, actor: Actor, *, gate: Gate | None = None
) -> CreatedKey:
    """A new key; raises :class:`ApiKeyError` when the guild has too many active keys, and
    :class:`~townsquare.core.premium.PremiumRefused` past its tier's `apikeys.keys`."""
    prefix, token = _new_token()
    async with in_transaction() as connection:
        await ensure_guild(guild_id, using_db=connection)
        # Serialise creations per guild so two at once cannot pass the limit together.
        await connection.execute_query("SELECT id FROM guilds WHERE id = $1 FOR UPDATE", [guild_id])
        active = (
            await ApiKey.filter(guild_id=guild_id, revoked_at__isnull=True)
            .using_db(connection)
            .count()
        )
        if active >= MAX_ACTIVE_KEYS:
            raise ApiKeyError(
                "too_many_keys", f"a server has at most {MAX_ACTIVE_KEYS} active keys"
            )
        if gate is not None:
            await gate.check(guild_id, KEYS_LIMIT, usage=active)
        row = await ApiKey.create(
            guild_id=guild_id,
            name=name,
            prefix=prefix,
            token_hash=hash_token(token),
            created_by=actor.id or 0,
            using_db=connection,
        )
        await record(
            "api_key.create",
            actor,
            guild_id=guild_id,
            target=f"api key {prefix}",
            after={"id": row.id, "name": name, "prefix": prefix},
            using_db=connection,
        )
    return CreatedKey(_info(row), token)


async def revoke_key(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, key_id: int, actor: Actor
) -> KeyInfo:
    """Revoke a key of `guild_id` (a no-op if it already is); effective at once.

    The Redis entry becomes a tombstone that a reader refilling from an older database read
    cannot overwrite (refills use SET NX), so no request is admitted after this returns.
    """
    async with in_transaction() as connection:
        row = (
            await ApiKey.filter(id=key_id, guild_id=guild_id)
            .using_db(connection)
            .select_for_update()
            .first()
        )
        if row is None:
            raise ApiKeyError("key_not_found", "no such API key in this server")
        if row.revoked_at is None:
            row.revoked_at = datetime.datetime.now(datetime.UTC)
            row.revoked_by = actor.id
            await row.save(update_fields=["revoked_at", "revoked_by"], using_db=connection)
            await record(
                "api_key.revoke",
                actor,
                guild_id=guild_id,
                target=f"api key {row.prefix}",
                before={"id": row.id, "name": row.name, "prefix": row.prefix},
                using_db=connection,
            )
    await redis.set(
        keyspace.key(CACHE_FAMILY, row.prefix),
        json.dumps({"revoked": True}),
        ex=keyspace.ttl(CACHE_FAMILY),
    )
    # The newer keys' ordinals (their place among the guild's active keys) moved down: their
    # entries are reloaded on their next request.
    newer = await ApiKey.filter(
        guild_id=guild_id, revoked_at__isnull=True, created_at__gte=row.created_at
    ).values_list("prefix", flat=True)
    if newer:
        await redis.delete(*(keyspace.key(CACHE_FAMILY, str(prefix)) for prefix in newer))
    return _info(row)


async def load_cache_entry(redis: aioredis.Redis, keyspace: Keyspace, prefix: str) -> None:
    """Fill the Redis entry of `prefix` from PostgreSQL unless one exists."""
    row = await ApiKey.filter(prefix=prefix).first()
    if row is None:
        entry: dict[str, typing.Any] = {"unknown": True}
    elif row.revoked_at is not None:
        entry = {"revoked": True}
    else:
        guild_id = typing.cast("int", row.guild_id)  # type: ignore[attr-defined]
        older = await ApiKey.filter(
            guild_id=guild_id, revoked_at__isnull=True, created_at__lt=row.created_at
        ).count()
        entry = {"guild": str(guild_id), "hash": row.token_hash, "ordinal": older}
    await redis.set(
        keyspace.key(CACHE_FAMILY, prefix),
        json.dumps(entry),
        ex=keyspace.ttl(CACHE_FAMILY),
        nx=True,
    )
