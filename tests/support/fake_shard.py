"""A stand-in for a hikari shard, for handing gateway payloads to the event factory without a
gateway (the normaliser's tests and the shard publishing benchmark)."""

from __future__ import annotations

import hikari

__all__ = ["FakeShard"]


class FakeShard:
    """What the event factory asks of a shard: its id, the shard count, the bot's user id."""

    id = 0
    shard_count = 1

    def __init__(self, bot_id: int) -> None:
        self._bot_id = bot_id

    def get_user_id(self) -> hikari.Snowflake:
        return hikari.Snowflake(self._bot_id)
