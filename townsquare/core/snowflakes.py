"""The time in a Discord snowflake: its top 42 bits are milliseconds since Discord's epoch.

The one copy in the product (the shards' records, giveaway account ages); the sandbox keeps
its own (`sandbox/snowflakes.py`), since it imports nothing of the product.
"""

from __future__ import annotations

import typing

__all__ = ["DISCORD_EPOCH_MS", "snowflake_ms"]

DISCORD_EPOCH_MS: typing.Final = 1_420_070_400_000
"""2015-01-01T00:00:00Z, the zero of Discord's snowflake timestamps."""


def snowflake_ms(snowflake: int) -> int:
    """When Discord created `snowflake`, in Unix milliseconds (its top 42 bits)."""
    return (snowflake >> 22) + DISCORD_EPOCH_MS
