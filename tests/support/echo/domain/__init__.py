"""Echo's domain: remember a text in Redis, count what was remembered (no framework)."""

from __future__ import annotations

import typing

from townsquare.core.keyspace import Family, Part, RedisType, TTLPolicy

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["ECHO_FAMILY", "ECHO_TASK", "echo", "remember", "remembered"]

ECHO_TASK: typing.Final = "echo.remember"
ECHO_FAMILY: typing.Final = Family(
    "echo",
    RedisType.STRING,
    (Part.HASHED,),
    TTLPolicy.fixed(300, "test data"),
    "the echo test feature's task",
    "A text the echo task remembered (tests only).",
)


def echo(text: str) -> str:
    """The rule: what the feature answers to `text`."""
    return f"echo: {text}"


async def remember(redis: aioredis.Redis, keyspace: Keyspace, text: str) -> None:
    await redis.set(keyspace.key("echo", text), text, ex=keyspace.ttl("echo"))


async def remembered(redis: aioredis.Redis, keyspace: Keyspace) -> int:
    return len([key async for key in redis.scan_iter(match=keyspace.pattern("echo"))])
