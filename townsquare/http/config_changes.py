"""A configuration change as the dashboard and the API make it (flow 9).

Both check a new document the same way: the schema (pydantic), then :func:`reference_problems`
(the roles and channels it adds, against what Discord says the guild has, by the rules of
`townsquare.core.config.references`). Then :func:`apply_change`: the database update with its
audit entry in one transaction (:func:`update_guild_config`, refused when the version moved
on), then the Redis cache, so the bot sees the change on its next read.

When Discord cannot be asked, the two differ on purpose: the dashboard takes typed ids as they
are (the admin typed them, the page said Discord could not be asked), the API refuses a change
that adds references with 503 `discord_unavailable` and `Retry-After`, so a program never stores
an unchecked id without knowing.
"""

from __future__ import annotations

import contextlib
import typing

import structlog
from redis.exceptions import RedisError

from townsquare.core.audit.models import ActorKind
from townsquare.core.audit.service import Actor
from townsquare.core.config.cache import drop_config, get_config, store_config
from townsquare.core.config.references import (
    added_references,
    needs_channels,
    needs_roles,
    reference_errors,
)
from townsquare.core.config.service import (
    ConfigConflictError,
    load_guild_config,
    update_guild_config,
)
from townsquare.http.errors import APIError
from townsquare.http.guild_lookups import (
    FAILURE_SECONDS,
    guild_channel_facts,
    guild_role_facts,
)
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from townsquare.core.config.references import GuildRoles
    from townsquare.core.config.schemas import GuildConfig
    from townsquare.core.config.service import VersionedConfig
    from townsquare.http.access import Session

__all__ = [
    "DiscordUnavailableError",
    "WhenUnknown",
    "apply_change",
    "read_config",
    "reference_problems",
    "role_facts",
]

log = structlog.get_logger(__name__)

type WhenUnknown = typing.Literal["accept", "refuse"]
"""What to do with a reference Discord could not be asked about (see the module docs)."""


class DiscordUnavailableError(APIError):
    """503: the change names roles or channels and Discord could not be asked about them."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "discord_unavailable",
            "Discord could not be asked whether this server has the roles and channels named; "
            "try again shortly",
        )
        self.retry_after = FAILURE_SECONDS


async def reference_problems(
    guild_id: int, current: GuildConfig, new: GuildConfig, *, when_unknown: WhenUnknown
) -> dict[str, list[str]]:
    """Per field (dotted path in the document), what is wrong with the roles and channels `new`
    adds to `current`; empty when nothing is."""
    added = added_references(current, new)
    if not added:
        return {}
    kinds = list(added.values())
    roles = await guild_role_facts(guild_id) if needs_roles(kinds) else None
    channels = await guild_channel_facts(guild_id) if needs_channels(kinds) else None
    unknown = (needs_roles(kinds) and roles is None) or (needs_channels(kinds) and channels is None)
    if unknown and when_unknown == "refuse":
        raise DiscordUnavailableError
    return reference_errors(added, roles, channels)


async def role_facts(guild_id: int, *, when_unknown: WhenUnknown) -> GuildRoles | None:
    """The guild's roles as Discord describes them, for a feature's own rules on roles (XP's
    level rewards); None when Discord cannot be asked and `when_unknown` is "accept", 503
    `discord_unavailable` when it is "refuse"."""
    roles = await guild_role_facts(guild_id)
    if roles is None and when_unknown == "refuse":
        raise DiscordUnavailableError
    return roles


async def read_config(guild_id: int) -> VersionedConfig:
    app_state = state()
    return await get_config(
        app_state.require_redis(), app_state.keyspace, guild_id, app_state.defaults
    )


async def _check_premium_counts(guild_id: int, new: GuildConfig) -> None:
    """Refuse (402, :class:`~townsquare.core.premium.PremiumRefused`) a change that raises a
    section's premium count (`ConfigSection.premium_counts`) past the guild's tier; a count
    that does not grow (a guild over its limit after a downgrade) is let through."""
    counted = [
        (section, name, count)
        for section in new.sections().values()
        for name, count in type(section).premium_counts.items()
    ]
    if not counted:
        return
    current = (await read_config(guild_id)).config.sections()
    gate = state().require_gate()
    for section, name, count in counted:
        after = count(section)
        before = count(current[section.key]) if section.key in current else 0
        if after > before:
            await gate.check(guild_id, name, usage=after, adding=0)


async def apply_change(
    guild_id: int, new: GuildConfig, expected_version: int, session: Session
) -> VersionedConfig:
    """Store `new` if the guild is still at `expected_version`; 409 otherwise."""
    app_state = state()
    actor = Actor(ActorKind.USER, session.user_id, session.username)
    await _check_premium_counts(guild_id, new)
    try:
        versioned = await update_guild_config(
            guild_id,
            new,
            expected_version=expected_version,
            actor=actor,
            defaults=app_state.defaults,
        )
    except ConfigConflictError as conflict:
        app_state.metrics.config_changes.labels("conflict").inc()
        # The cache may be what showed the old version: bring it up to the database's.
        latest = await load_guild_config(guild_id, app_state.defaults)
        await store_config(app_state.require_redis(), app_state.keyspace, guild_id, latest)
        raise APIError(409, "version_conflict", str(conflict)) from None
    redis = app_state.require_redis()
    try:
        await store_config(redis, app_state.keyspace, guild_id, versioned)
    except RedisError:
        # The change is committed; a cache left at the old version would hide it for an hour,
        # so forget the copy if we can and let the next read load it from PostgreSQL.
        log.error("config_cache_write_failed", guild_id=guild_id, version=versioned.version)
        with contextlib.suppress(RedisError):
            await drop_config(redis, app_state.keyspace, guild_id)
    app_state.metrics.config_changes.labels("applied").inc()
    log.info("config_changed", guild_id=guild_id, version=versioned.version, user_id=actor.id)
    return versioned
