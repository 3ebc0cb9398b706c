"""A configuration change as the dashboard and the API make it (flow 9).

Validation happened before this point (pydantic); here: the database update with its audit
entry in one transaction (:func:`update_guild_config`, refused when the version moved on), then
the Redis cache, so the bot sees the change on its next read.
"""

from __future__ import annotations

import contextlib
import typing

import structlog
from redis.exceptions import RedisError

from townsquare.core.audit.models import ActorKind
from townsquare.core.audit.service import Actor
from townsquare.core.config.cache import drop_config, get_config, store_config
from townsquare.core.config.service import (
    ConfigConflictError,
    load_guild_config,
    update_guild_config,
)
from townsquare.http.errors import APIError
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from townsquare.core.config.schemas import GuildConfig
    from townsquare.core.config.service import VersionedConfig
    from townsquare.http.access import Session

__all__ = ["apply_change", "read_config"]

log = structlog.get_logger(__name__)


async def read_config(guild_id: int) -> VersionedConfig:
    app_state = state()
    return await get_config(
        app_state.require_redis(), app_state.keyspace, guild_id, app_state.defaults
    )


async def apply_change(
    guild_id: int, new: GuildConfig, expected_version: int, session: Session
) -> VersionedConfig:
    """Store `new` if the guild is still at `expected_version`; 409 otherwise."""
    app_state = state()
    actor = Actor(ActorKind.USER, session.user_id, session.username)
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
