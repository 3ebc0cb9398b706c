"""The features' demo set-up in the sandbox, run by `townsquare up` (`Feature.demo`).

`make run` is the demo: against the sandbox, each enabled feature with a `demo` module gets
the chance to set itself up in the sandbox's demo guild (the bot's first guild), e.g. the
assistant's rules and FAQ, so a new user finds every feature working without a setup command.
Each hook is idempotent (it runs at every start) and a failing one is reported, not fatal.
"""

from __future__ import annotations

import importlib
import typing

from townsquare.core import db
from townsquare.core.discord_rest import DiscordRest
from townsquare.core.features import DemoContext, enabled_features
from townsquare.core.keyspace import Keyspace
from townsquare.core.redis_client import connect_redis

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.settings import Settings

__all__ = ["DemoHook", "run_demos"]


type DemoHook = Callable[[DemoContext], Awaitable[str | None]]


async def _first_guild(target: DiscordTarget) -> int | None:
    rest = DiscordRest()
    try:
        client = await rest.client(target)
        async for guild in client.fetch_my_guilds():
            return int(guild.id)
    finally:
        await rest.close()
    return None


async def run_demos(
    settings: Settings, target: DiscordTarget, redis_url: str, database_url: str
) -> list[str]:
    """Run every enabled feature's demo hook in the sandbox's demo guild; their lines."""
    hooks: list[tuple[str, DemoHook]] = [
        (feature.name, importlib.import_module(feature.demo).DEMO)
        for feature in enabled_features()
        if feature.demo is not None
    ]
    if not hooks:
        return []
    guild_id = await _first_guild(target)
    if guild_id is None:
        return ["demo: the bot is in no guild of the sandbox"]
    lines = []
    client = connect_redis(redis_url)
    try:
        async with db.connect(database_url, pool_max=2):
            context = DemoContext(settings, client, Keyspace(settings.redis.namespace), guild_id)
            for name, hook in hooks:
                try:
                    line = await hook(context)
                except Exception as error:
                    line = f"{name}: demo not set up ({error!r})"
                if line:
                    lines.append(line)
    finally:
        await client.aclose()
    return lines
