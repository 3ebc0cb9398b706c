"""The console opens (and closes) its own PostgreSQL connection when its caller has none."""

from __future__ import annotations

import asyncio
import contextvars
import typing

import pytest

from tests.support.console import until
from townsquare.console import ConsoleApp

if typing.TYPE_CHECKING:
    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration


async def test_without_a_connected_orm_the_console_connects_and_disconnects_itself(
    redis_url: str, database_url: str, keyspace: Keyspace
) -> None:
    app = ConsoleApp(redis_url, database_url, keyspace, refresh_seconds=0.1)

    async def run() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            assert app._database._owned is not None
            await until(
                pilot,
                lambda: app.snapshot is not None and "premium" in app.snapshot.features,
                what="premium read through the console's own connection",
            )
        assert app._database._owned is None

    # A fresh context: no tortoise context from other tests' fixtures can leak in.
    await asyncio.create_task(run(), context=contextvars.Context())
