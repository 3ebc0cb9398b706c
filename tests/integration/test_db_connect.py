"""`townsquare.core.db.connect`: a block inside one to the same database shares its pool."""

from __future__ import annotations

import asyncio

from tortoise import connections

from townsquare.core import db


async def test_a_connect_inside_one_to_the_same_database_shares_its_pool_and_leaves_it_open(
    database_url: str,
) -> None:
    async with db.connect(database_url, pool_max=2, idle_seconds=5):
        outer = connections.get("default")

        async def part() -> object:
            # As a part of `up --single-process` does: its own connect, in a task of its own.
            async with db.connect(database_url, pool_max=10):
                inner = connections.get("default")
                await inner.execute_query_dict("SELECT 1")
                return inner

        inners = await asyncio.gather(part(), part())
        assert all(inner is outer for inner in inners)
        # The parts' blocks ended without closing the pool under the outer block.
        assert await outer.execute_query_dict("SELECT 1 AS one") == [{"one": 1}]
        pool = outer._pool  # type: ignore[attr-defined]
        assert pool.get_max_size() == 2
        assert pool._max_inactive_connection_lifetime == 5


def test_idle_seconds_reach_the_pool_configuration() -> None:
    config = db.tortoise_config("postgres://u@h/d", pool_max=3, idle_seconds=10)
    credentials = config["connections"]["default"]["credentials"]
    assert (credentials["host"], credentials["user"], credentials["database"]) == ("h", "u", "d")
    assert (credentials["minsize"], credentials["maxsize"]) == ("1", "3")
    assert credentials["max_inactive_connection_lifetime"] == 10
    default = db.tortoise_config("postgres://u@h/d")["connections"]["default"]
    assert "max_inactive_connection_lifetime" not in default["credentials"]


async def test_a_released_connection_is_not_reset_but_its_open_transaction_is_rolled_back(
    database_url: str,
) -> None:
    # asyncpg's default reset (RESET ALL and more) costs a round trip at every release; the
    # platform keeps no session state, so its pools skip it (core/db.py).
    async with db.connect(database_url, pool_max=1):
        client = connections.get("default")
        await client.execute_query("SELECT set_config('townsquare.probe', 'kept', false)")
        rows = await client.execute_query_dict(
            "SELECT current_setting('townsquare.probe', true) AS probe"
        )
        assert rows == [{"probe": "kept"}]  # the same connection, not reset in between
        pool = client._pool  # type: ignore[attr-defined]
        async with pool.acquire() as connection:
            await connection.execute("BEGIN")
            await connection.execute("SELECT 1")
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
