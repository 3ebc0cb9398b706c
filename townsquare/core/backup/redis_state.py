"""Redis's half of a backup: every key of the namespace that is not rebuilt or transient, one
JSON line per key (gzip'd): `{"key", "type", "ttl_ms", "value"}`.

`key` is relative to the namespace (`xp:1191...`), so an archive restores under any namespace.
Values are text when they are UTF-8 and `{"b64": ...}` otherwise. A stream's line also has
its last generated id and its consumer groups; a group is recreated just before its oldest
pending entry, so entries that were delivered but not acknowledged are delivered again (tasks
are idempotent). Everything is read by cursor (SCAN, HSCAN, XRANGE ...) in batches, so no
call blocks the server for long; what is written while the export runs may or may not be in
it, as with any online backup.
"""

from __future__ import annotations

import base64
import gzip
import json
import typing

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable
    from pathlib import Path

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "SKIPPED_FAMILIES",
    "export_namespace",
    "import_lines",
    "namespace_keys",
    "read_lines",
]

SKIPPED_FAMILIES: typing.Final[dict[str, str]] = {
    # Leases and locks: held by processes of the platform that backed up, not of the new one.
    "reclaim_lock": "a lease",
    "scheduler_lock": "a lease",
    "shard_lease": "a lease",
    "xp_notice_lock": "a lease",
    "alert_delivery_lock": "a lease",
    "streams_card_lock": "a lease",
    "streams_person_lock": "a lease",
    "backup_lock": "a lease",
    "restore": "the restore's own marker",
    # Caches of PostgreSQL or Discord, refilled on a miss.
    "guild_config": "a cache of PostgreSQL",
    "api_key": "a cache of PostgreSQL",
    "public_leaderboard": "a cache",
    "guild_channels": "a cache of Discord",
    "guild_roles": "a cache of Discord",
    "session_guilds": "a cache of Discord",
    "streams_token": "a cache of the platforms' tokens, fetched again",
    "streams_kick_key": "a cache of Kick's key",
    "streams_video": "a cache of YouTube's answers",
    # Live state of running processes.
    "shard_health": "written every 5 s by running shards",
    "shard_session": "gateway sessions cannot be resumed by another platform",
    "xp_loading": "a load in progress",
    "ping": "health checks",
    "alert_once": "short de-duplication of alerts",
    "premium_reconciled": "reconciliation runs again at start",
    "giveaway_kick": "short de-duplication of the tick",
    # Secrets of people, not of the platform: they log in again.
    "oauth_state": "a login in progress",
    "dashboard_session": "people's Discord OAuth tokens stay out of backup files",
}
"""Families not exported, with the reason; every other key of the namespace is."""

_BATCH: typing.Final = 500
"""Keys per SCAN and elements per HSCAN, XRANGE, LRANGE ... call, and per write pipeline."""

Value = str | dict[str, str]


def _encode(raw: bytes | str) -> Value:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(raw).decode("ascii")}


def _decode(value: Value) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return base64.b64decode(value["b64"])


def _family(relative_key: str) -> str:
    return relative_key.split(":", 1)[0]


async def namespace_keys(redis: aioredis.Redis, keyspace: Keyspace) -> AsyncIterator[bytes]:
    """Every key of the namespace (SCAN, in batches)."""
    async for key in redis.scan_iter(match=keyspace.everything(), count=_BATCH):
        yield key


async def _stream_value(redis: aioredis.Redis, key: bytes) -> dict[str, typing.Any]:
    entries: list[list[typing.Any]] = []
    start = "-"
    while True:
        batch: list[typing.Any] = (await redis.xrange(key, min=start, max="+", count=_BATCH)) or []
        entries.extend(
            [_encode(entry_id), [[_encode(f), _encode(v)] for f, v in fields.items()]]
            for entry_id, fields in batch
        )
        if len(batch) < _BATCH:
            break
        start = "(" + batch[-1][0].decode()
    info = await redis.xinfo_stream(key)
    groups = []
    for group in await redis.xinfo_groups(key):
        name = group["name"]
        last = group["last-delivered-id"]
        if group.get("pending"):
            summary = await redis.xpending(key, name)
            last = _before(summary["min"])
        groups.append({"name": _encode(name), "last_delivered": _encode(last)})
    return {
        "entries": entries,
        "last_id": _encode(info["last-generated-id"]),
        "groups": groups,
    }


def _before(entry_id: bytes | str) -> str:
    """The stream id just before `entry_id`."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    if int(seq or 0) > 0:
        return f"{ms}-{int(seq) - 1}"
    return f"{int(ms) - 1}-{2**64 - 1}" if int(ms) > 0 else "0-0"


async def _read_string(redis: aioredis.Redis, key: bytes) -> typing.Any:
    raw = await redis.get(key)
    return None if raw is None else _encode(raw)


async def _read_hash(redis: aioredis.Redis, key: bytes) -> typing.Any:
    return [[_encode(f), _encode(v)] async for f, v in redis.hscan_iter(key, count=_BATCH)]


async def _read_set(redis: aioredis.Redis, key: bytes) -> typing.Any:
    return [_encode(m) async for m in redis.sscan_iter(key, count=_BATCH)]


async def _read_zset(redis: aioredis.Redis, key: bytes) -> typing.Any:
    return [[_encode(m), s] async for m, s in redis.zscan_iter(key, count=_BATCH)]


async def _read_list(redis: aioredis.Redis, key: bytes) -> typing.Any:
    items: list[Value] = []
    while True:
        batch = await redis.lrange(key, len(items), len(items) + _BATCH - 1)
        items.extend(_encode(item) for item in batch)
        if len(batch) < _BATCH:
            return items


_READERS: typing.Final = {
    "string": _read_string,
    "hash": _read_hash,
    "set": _read_set,
    "zset": _read_zset,
    "list": _read_list,
    "stream": _stream_value,
}


async def _value(redis: aioredis.Redis, key: bytes, kind: str) -> typing.Any:
    """The key's value, or None when it is gone meanwhile ("none") or of a type never written."""
    reader = _READERS.get(kind)
    return None if reader is None else await reader(redis, key)


async def export_namespace(
    redis: aioredis.Redis, keyspace: Keyspace, path: Path
) -> tuple[int, dict[str, int]]:
    """Write the namespace's keys to `path`; the number written and the count per family."""
    prefix = keyspace.prefix.encode()
    written = 0
    families: dict[str, int] = {}
    with gzip.open(path, "wt", encoding="utf-8") as out:
        async for key in namespace_keys(redis, keyspace):
            relative = key[len(prefix) :].decode("utf-8", errors="replace")
            family = _family(relative)
            if family in SKIPPED_FAMILIES:
                continue
            kind = typing.cast("bytes", await redis.type(key)).decode()
            ttl_ms = await redis.pttl(key)
            value = await _value(redis, key, kind)
            if value is None or ttl_ms == -2:
                continue
            line = {
                "key": relative,
                "type": kind,
                "ttl_ms": ttl_ms if ttl_ms > 0 else None,
                "value": value,
            }
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
            written += 1
            families[family] = families.get(family, 0) + 1
    return written, families


def read_lines(path: Path) -> list[dict[str, typing.Any]]:
    """Every line of an export, checked for shape; raises ValueError naming the bad line."""
    lines = []
    with gzip.open(path, "rt", encoding="utf-8") as source:
        for number, text in enumerate(source, 1):
            try:
                line = json.loads(text)
                if not isinstance(line["key"], str) or line["type"] not in _WRITERS:
                    raise ValueError("bad key or type")
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"line {number}: {error}") from None
            lines.append(line)
    return lines


def _chunks(items: list[typing.Any]) -> Iterable[list[typing.Any]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


async def _write_string(redis: aioredis.Redis, key: str, value: typing.Any) -> None:
    await redis.set(key, _decode(value))


async def _write_hash(redis: aioredis.Redis, key: str, value: typing.Any) -> None:
    for chunk in _chunks(value):
        await redis.hset(key, mapping={_decode(f): _decode(v) for f, v in chunk})


async def _write_set(redis: aioredis.Redis, key: str, value: typing.Any) -> None:
    for chunk in _chunks(value):
        await redis.sadd(key, *(_decode(m) for m in chunk))


async def _write_zset(redis: aioredis.Redis, key: str, value: typing.Any) -> None:
    for chunk in _chunks(value):
        await redis.zadd(key, {_decode(m): float(s) for m, s in chunk})


async def _write_list(redis: aioredis.Redis, key: str, value: typing.Any) -> None:
    for chunk in _chunks(value):
        await redis.rpush(key, *(_decode(item) for item in chunk))


async def _write_stream(redis: aioredis.Redis, key: str, value: typing.Any) -> None:
    last_id = _decode(value["last_id"])
    for chunk in _chunks(value["entries"]):
        async with redis.pipeline(transaction=False) as pipe:
            for entry_id, fields in chunk:
                pipe.xadd(key, {_decode(f): _decode(v) for f, v in fields}, id=_decode(entry_id))
            await pipe.execute()
    if not value["entries"] and last_id != b"0-0":
        # An empty stream still exists (its last id matters): create it, then empty it.
        await redis.xadd(key, {b"_": b""}, id=last_id)
        await redis.xdel(key, last_id)
    if last_id != b"0-0":
        await redis.execute_command("XSETID", key, last_id)  # type: ignore[no-untyped-call]
    for group in value["groups"]:
        await redis.xgroup_create(
            key, _decode(group["name"]), id=_decode(group["last_delivered"]), mkstream=True
        )


_WRITERS: typing.Final = {
    "string": _write_string,
    "hash": _write_hash,
    "set": _write_set,
    "zset": _write_zset,
    "list": _write_list,
    "stream": _write_stream,
}


async def import_lines(
    redis: aioredis.Redis, keyspace: Keyspace, lines: list[dict[str, typing.Any]]
) -> int:
    """Write every exported key under `namespace` (keys that exist are replaced); the count."""
    for line in lines:
        key = keyspace.relocated(line["key"])
        await redis.delete(key)  # a resumed restore writes a key again from scratch
        await _WRITERS[line["type"]](redis, key, line["value"])
        if line["ttl_ms"]:
            await redis.pexpire(key, int(line["ttl_ms"]))
    return len(lines)
