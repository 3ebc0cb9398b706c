"""Scratch PostgreSQL databases: a new, empty one on a server, dropped afterwards (the tests'
per-worker databases and the benchmarks' share it)."""

from __future__ import annotations

import contextlib
import typing
import uuid

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["scratch_database"]


@contextlib.asynccontextmanager
async def scratch_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """The URL of a new database `<prefix>_<random>` on `server_url`, dropped (forcibly, open
    connections too) when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    head, _, tail = server_url.partition("?")
    try:
        yield head.rsplit("/", 1)[0] + f"/{name}" + (f"?{tail}" if tail else "")
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg  # type: ignore[import-untyped,unused-ignore]

    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()
