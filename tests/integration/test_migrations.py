from __future__ import annotations

import importlib
from pathlib import Path

import asyncpg

from townsquare.core.db import MIGRATIONS_MODULE, make_migrations, migrate

migrations = importlib.import_module(MIGRATIONS_MODULE)

ON_DISK = [
    f"townsquare.{path.stem}"
    for path in sorted(Path(migrations.__file__).parent.glob("[0-9][0-9][0-9][0-9]_*.py"))
]

EXPECTED_TABLES = {
    "guilds",
    "guild_configs",
    "member_xp",
    "level_rewards",
    "premium_subscriptions",
    "audit_entries",
}


async def _tables(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


async def test_migrations_apply_to_an_empty_database_and_rerun_as_a_no_op(
    empty_database_url: str,
) -> None:
    assert await _tables(empty_database_url) == set()
    applied = await migrate(empty_database_url)
    assert applied == ON_DISK
    assert await _tables(empty_database_url) >= EXPECTED_TABLES
    assert await migrate(empty_database_url) == []


async def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    needed = await make_migrations(database_url, write=False)
    assert needed == [], (
        f"the models changed without a migration: {needed}; run `townsquare migrate --make`"
    )


async def test_guild_ids_are_discord_snowflakes_without_a_sequence(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        default = await connection.fetchval(
            "SELECT column_default FROM information_schema.columns "
            "WHERE table_name = 'guilds' AND column_name = 'id'"
        )
    finally:
        await connection.close()
    assert default is None
