"""Moderation's test helpers: the guild's moderation section with chosen changes."""

from __future__ import annotations

import contextlib
import dataclasses
import typing

from tests.support.sandbox import target_of
from tests.support.world import demo_guild, user_named
from townsquare.core.audit.service import Actor
from townsquare.core.config.cache import drop_config
from townsquare.core.config.service import load_guild_config, update_guild_config
from townsquare.core.discord_rest import DiscordRest
from townsquare.core.guard.actions import Action, ActionRequest, ActorKind, Source
from townsquare.core.guard.guard import GuardContext
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.settings import load_settings
from townsquare.features.moderation.domain.config import ModerationSection
from townsquare.features.moderation.domain.enforce import context_for

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import redis.asyncio as aioredis

    from tests.support.pipeline import Stack
    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox
    from townsquare.sandbox.world.models import Message

__all__ = [
    "by_moderator",
    "configure_moderation",
    "dms_to",
    "guard_context",
    "log_entries",
    "moderation_section",
    "rule",
    "with_defaults",
]

_DEFAULTS: typing.Final = load_settings(environ={}, env_file=None).guild_defaults


def rule(action: str = "delete", points: int = 1, **changes: object) -> dict[str, object]:
    """One rule's settings: on, no exemptions, a 10-minute timeout, with `changes`."""
    return {
        "enabled": True,
        "action": action,
        "points": points,
        "timeout_seconds": 600,
        "exempt_role_ids": [],
        "exempt_channel_ids": [],
        **changes,
    }


def moderation_section(
    *,
    automod: dict[str, object] | None = None,
    rules: dict[str, object] | None = None,
    **changes: object,
) -> ModerationSection:
    """The default moderation section with `changes`, automod keys `automod` and rule settings
    `rules` (by rule name) replaced."""
    document = _DEFAULTS.section(ModerationSection).model_dump(mode="json")
    document |= changes
    document["automod"] = {**document["automod"], **(automod or {})}
    document["automod"]["rules"] = {**document["automod"]["rules"], **(rules or {})}
    return ModerationSection.model_validate(document)


async def configure_moderation(
    guild_id: int,
    section: ModerationSection,
    cache: tuple[aioredis.Redis, Keyspace] | None = None,
) -> None:
    """Store the guild's configuration: the defaults with `section` as its moderation (and
    drop the Redis copy in `cache`, for a test whose app has read it already)."""
    await ensure_guild(guild_id)
    current = await load_guild_config(guild_id, _DEFAULTS)
    await update_guild_config(
        guild_id,
        _DEFAULTS.with_section(section),
        expected_version=current.version,
        actor=Actor.system(),
        defaults=_DEFAULTS,
    )
    if cache is not None:
        await drop_config(*cache, guild_id)


def dms_to(sandbox: Sandbox, user_id: int) -> list[Message]:
    """The bot's DMs to `user_id`, oldest first."""
    world = sandbox.world
    channels = {c.id for c in world.dm_channels.values() if user_id in c.recipient_ids}
    return sorted(
        (m for m in world.messages.values() if m.channel_id in channels), key=lambda m: m.id
    )


def log_entries(sandbox: Sandbox, channel_id: int) -> list[Message]:
    """The bot's messages in the log channel, oldest first."""
    return sorted(
        (m for m in sandbox.world.messages.values() if m.channel_id == channel_id),
        key=lambda m: m.id,
    )


@contextlib.asynccontextmanager
async def guard_context(
    sandbox: Sandbox, redis: aioredis.Redis, keyspace: Keyspace, section: ModerationSection
) -> AsyncIterator[GuardContext]:
    """The guard's context as a worker has it: the real hikari REST client on the sandbox."""
    rest = DiscordRest()
    try:
        client = await rest.client(target_of(sandbox.info))
        yield context_for(client, redis, keyspace, section)
    finally:
        await rest.close()


def by_moderator(
    sandbox: Sandbox, action: Action, target: int, key: str, actor: str = "ada", **extra: typing.Any
) -> ActionRequest:
    """A command's request in the demo guild: `actor` (a username) takes `action` on `target`."""
    return ActionRequest(
        guild_id=demo_guild(sandbox).id,
        action=action,
        target_id=target,
        key=key,
        source=Source.COMMAND,
        actor_kind=ActorKind.USER,
        actor_id=user_named(sandbox, actor),
        actor_name=actor,
        **extra,
    )


def with_defaults(stack: Stack, **moderation: str) -> Stack:
    """`stack` whose settings change keys of `guild_defaults.moderation` (what the shards ask
    Discord for follows them): `with_defaults(stack, anti_raid__enabled="true")`."""
    prefix = "TOWNSQUARE__GUILD_DEFAULTS__MODERATION__"
    environ = {prefix + key.upper(): value for key, value in moderation.items()}
    environ["TOWNSQUARE__PATHS__VAR_DIR"] = str(stack.settings.paths.var_dir)
    return dataclasses.replace(stack, settings=load_settings(environ=environ, env_file=None))
