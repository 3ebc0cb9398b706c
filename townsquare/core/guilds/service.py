"""Guild rows: created on first sight, kept after the bot leaves."""

from __future__ import annotations

import typing

from townsquare.core.guilds.models import Guild

if typing.TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

__all__ = ["ensure_guild"]


async def ensure_guild(
    guild_id: int, *, name: str = "", using_db: BaseDBAsyncClient | None = None
) -> Guild:
    """The guild's row, created if missing (concurrent callers get the same row)."""
    guild, _ = await Guild.get_or_create(id=guild_id, defaults={"name": name}, using_db=using_db)
    return guild
