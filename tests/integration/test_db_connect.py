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
    url = db.tortoise_config("postgres://u@h/d", pool_max=3, idle_seconds=10)["connections"]
    assert url["default"] == (
        "postgres://u@h/d?minsize=1&maxsize=3&max_inactive_connection_lifetime=10"
    )
    assert "max_inactive" not in db.tortoise_config("postgres://u@h/d")["connections"]["default"]
