"""Reading and changing a guild's configuration document.

A change names the version it was based on; if the stored version moved on meanwhile, the
change is refused with :class:`ConfigConflictError` instead of overwriting someone else's
edit. The new document, its version bump and the audit entry commit in one transaction.
"""

from __future__ import annotations

import dataclasses

from tortoise.transactions import in_transaction

from townsquare.core.audit.service import Actor, record
from townsquare.core.config.models import GuildConfigRecord
from townsquare.core.config.schemas import CURRENT_SCHEMA_VERSION, GuildConfig
from townsquare.core.features import guild_config_model
from townsquare.core.guilds.service import ensure_guild

__all__ = ["ConfigConflictError", "VersionedConfig", "load_guild_config", "update_guild_config"]


class ConfigConflictError(Exception):
    """The change was based on an older version of the configuration."""

    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"the configuration changed since you loaded it (you had version {expected}, "
            f"it is now version {actual}); reload and apply your change again"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class VersionedConfig:
    version: int
    config: GuildConfig


async def load_guild_config(guild_id: int, defaults: GuildConfig) -> VersionedConfig:
    """The guild's configuration; a guild without one starts from `defaults` at version 1."""
    async with in_transaction() as connection:
        await ensure_guild(guild_id, using_db=connection)
        row, _ = await GuildConfigRecord.get_or_create(
            guild_id=guild_id,
            defaults={
                "version": 1,
                "schema_version": CURRENT_SCHEMA_VERSION,
                "document": defaults.model_dump(mode="json"),
            },
            using_db=connection,
        )
    return VersionedConfig(row.version, guild_config_model().from_stored(row.document, defaults))


async def update_guild_config(
    guild_id: int,
    new: GuildConfig,
    *,
    expected_version: int,
    actor: Actor,
    defaults: GuildConfig,
) -> VersionedConfig:
    """Replace the guild's document if it is still at `expected_version`, with an audit entry."""
    await load_guild_config(guild_id, defaults)
    async with in_transaction() as connection:
        row = (
            await GuildConfigRecord.filter(guild_id=guild_id)
            .select_for_update()
            .using_db(connection)
            .get()
        )
        if row.version != expected_version:
            raise ConfigConflictError(expected_version, row.version)
        before = row.document
        row.document = new.model_dump(mode="json")
        row.version += 1
        row.schema_version = CURRENT_SCHEMA_VERSION
        await row.save(using_db=connection)
        await record(
            "config.update",
            actor,
            guild_id=guild_id,
            target=f"guild_config v{row.version}",
            before=before,
            after=row.document,
            using_db=connection,
        )
    return VersionedConfig(row.version, new)
