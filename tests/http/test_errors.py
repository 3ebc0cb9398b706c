"""`unavailable_backend`: which exceptions mean "Redis/PostgreSQL cannot answer now" (503).

The routes' side is tests/http/test_backends_down.py, against servers that really go away;
here, the edges of the rule with real exception instances.
"""

from __future__ import annotations

import aiohttp
import asyncpg
import pytest
import redis.exceptions
import tortoise.exceptions

from townsquare.http.errors import unavailable_backend


def _raised(error: BaseException) -> BaseException:
    """`error` with a traceback from here (a test module, neither asyncpg nor tortoise)."""
    try:
        raise error
    except BaseException as caught:
        return caught


async def _refused_by_asyncpg() -> BaseException:
    """What connecting asyncpg to a port nobody listens on raises: a plain OSError."""
    from townsquare.core.processes import free_port

    try:
        await asyncpg.connect(f"postgres://postgres@127.0.0.1:{free_port()}/x", timeout=5)
    except BaseException as caught:
        return caught
    raise AssertionError("nothing listens there")


@pytest.mark.parametrize(
    ("error", "backend"),
    [
        (redis.exceptions.ConnectionError("Connection refused"), "redis"),
        (redis.exceptions.BusyLoadingError("LOADING"), "redis"),
        (redis.exceptions.TimeoutError("Timeout reading"), "redis"),
        (redis.exceptions.ResponseError("BUSY Redis is busy running a script."), "redis"),
        (redis.exceptions.ResponseError("MASTERDOWN Link with MASTER is down"), "redis"),
        (redis.exceptions.ReadOnlyError("You can't write against a read only replica."), "redis"),
        (redis.exceptions.ResponseError("WRONGTYPE Operation against a key"), None),  # a bug
        (redis.exceptions.NoScriptError("No matching script"), None),
        (tortoise.exceptions.DBConnectionError("can't connect"), "postgresql"),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), "postgresql"),
        (
            asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
            "postgresql",
        ),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), "postgresql"),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients"), "postgresql"),
        (asyncpg.exceptions.InterfaceError("pool is closing"), "postgresql"),
        (tortoise.exceptions.IntegrityError("duplicate key"), None),
        (tortoise.exceptions.OperationalError("syntax error"), None),
        (ConnectionRefusedError(111, "refused"), None),  # not raised in asyncpg: not ours
        (TimeoutError(), None),
        (ValueError("x"), None),
    ],
    ids=repr,
)
def test_what_counts_as_a_server_unavailable(error: BaseException, backend: str | None) -> None:
    assert unavailable_backend(_raised(error)) == backend


async def test_asyncpg_refused_is_postgresql_but_an_unreachable_discord_is_not() -> None:
    from townsquare.core.processes import free_port

    refused = await _refused_by_asyncpg()
    assert isinstance(refused, OSError)
    assert unavailable_backend(refused) == "postgresql"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorError) as unreachable:
            await http.get(f"http://127.0.0.1:{free_port()}/")
    assert isinstance(unreachable.value, OSError)
    assert unavailable_backend(unreachable.value) is None


def _wrapped() -> None:
    try:
        raise redis.exceptions.ConnectionError("reset")
    except redis.exceptions.ConnectionError as cause:
        raise RuntimeError("the cache could not be read") from cause


def test_causes_and_groups_are_looked_through() -> None:
    with pytest.raises(RuntimeError) as wrapped:
        _wrapped()
    assert unavailable_backend(wrapped.value) == "redis"
    assert unavailable_backend(ExceptionGroup("gathered", [ValueError("x")])) is None
    group = ExceptionGroup("gathered", [ValueError("x"), redis.exceptions.TimeoutError()])
    assert unavailable_backend(group) == "redis"
