"""The activity rollups as a test reads them back from PostgreSQL."""

from __future__ import annotations

import datetime

from tortoise import Tortoise

__all__ = ["rollup_rows"]


async def rollup_rows(guild_id: int, period: str) -> dict[tuple[datetime.datetime, str], int]:
    """`(bucket, metric) -> value` of the guild's `hour` or `day` rollups."""
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT bucket, metric, value FROM activity_rollups WHERE guild_id = $1 AND period = $2",
        [guild_id, period],
    )
    return {(row["bucket"], row["metric"]): int(row["value"]) for row in rows}
