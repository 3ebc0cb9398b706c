from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from tests.support.echo import PATH as ECHO_PATH
from tests.support.echo import SETTINGS_FILE as ECHO_SETTINGS
from tests.support.echo.domain.config import EchoSection
from townsquare.core.audit.models import ActorKind, AuditEntry
from townsquare.core.audit.service import Actor
from townsquare.core.config.cache import cached_config
from townsquare.core.config.models import GuildConfigRecord
from townsquare.core.config.schemas import CURRENT_SCHEMA_VERSION, GuildConfig
from townsquare.core.config.service import (
    ConfigConflictError,
    load_guild_config,
    update_guild_config,
)
from townsquare.core.features import use_features
from townsquare.core.settings import load_settings
from townsquare.features.access.domain.config import CommandsSection
from townsquare.features.xp.domain.config import XPSection

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

GUILD = 81_384_788_765_712_384
ADMIN = Actor(ActorKind.USER, 80_351_110_224_678_912, "admin")


@pytest.fixture
def defaults(tmp_path: Path) -> GuildConfig:
    return load_settings(environ={}, env_file=tmp_path / ".env").guild_defaults


def _with_cooldown(config: GuildConfig, seconds: int) -> GuildConfig:
    return config.with_section(
        config.section(XPSection).model_copy(update={"cooldown_seconds": seconds})
    )


@pytest.mark.usefixtures("orm")
async def test_a_new_guild_starts_from_the_defaults(defaults: GuildConfig) -> None:
    loaded = await load_guild_config(GUILD, defaults)
    assert loaded.version == 1
    assert loaded.config == defaults
    assert (await load_guild_config(GUILD, defaults)).version == 1


@pytest.mark.usefixtures("orm")
async def test_a_change_bumps_the_version_and_is_audited(defaults: GuildConfig) -> None:
    current = await load_guild_config(GUILD, defaults)
    changed = _with_cooldown(current.config, 30)
    saved = await update_guild_config(
        GUILD, changed, expected_version=current.version, actor=ADMIN, defaults=defaults
    )
    assert saved.version == 2
    assert (await load_guild_config(GUILD, defaults)).config.section(
        XPSection
    ).cooldown_seconds == 30

    [entry] = await AuditEntry.filter(guild_id=GUILD, action="config.update")
    assert entry.actor_id == ADMIN.id and entry.actor_kind is ActorKind.USER
    assert entry.before["xp"]["cooldown_seconds"] == 60
    assert entry.after["xp"]["cooldown_seconds"] == 30


@pytest.mark.usefixtures("orm")
async def test_a_change_based_on_an_old_version_is_refused(defaults: GuildConfig) -> None:
    first = await load_guild_config(GUILD, defaults)
    await update_guild_config(
        GUILD, _with_cooldown(first.config, 10), expected_version=1, actor=ADMIN, defaults=defaults
    )
    with pytest.raises(ConfigConflictError, match="you had version 1, it is now version 2"):
        await update_guild_config(
            GUILD,
            _with_cooldown(first.config, 99),
            expected_version=1,
            actor=ADMIN,
            defaults=defaults,
        )
    record = await GuildConfigRecord.get(guild_id=GUILD)
    assert record.version == 2
    assert record.document["xp"]["cooldown_seconds"] == 10
    assert await AuditEntry.filter(guild_id=GUILD).count() == 1


def _version_1(config: GuildConfig) -> dict[str, object]:
    """`config` as a document written before schema version 2 (no `commands` section)."""
    document = config.model_dump(mode="json")
    del document["commands"]
    return document | {"schema_version": 1}


@pytest.mark.usefixtures("orm")
async def test_a_stored_version_1_document_is_read_and_rewritten_forward(
    defaults: GuildConfig,
) -> None:
    await load_guild_config(GUILD, defaults)
    old = _version_1(_with_cooldown(defaults, 42))
    await GuildConfigRecord.filter(guild_id=GUILD).update(document=old, schema_version=1)

    loaded = await load_guild_config(GUILD, defaults)
    assert loaded.config.section(XPSection).cooldown_seconds == 42
    assert loaded.config.section(CommandsSection).manager_role_ids == []

    await update_guild_config(
        GUILD, loaded.config, expected_version=loaded.version, actor=ADMIN, defaults=defaults
    )
    record = await GuildConfigRecord.get(guild_id=GUILD)
    assert record.schema_version == CURRENT_SCHEMA_VERSION
    assert record.document["commands"] == {"manager_role_ids": []}


async def test_a_cached_version_1_copy_is_still_used(
    redis: aioredis.Redis, keyspace: Keyspace, defaults: GuildConfig
) -> None:
    payload = {"version": 3, "config": _version_1(_with_cooldown(defaults, 42))}
    await redis.set(keyspace.key("guild_config", GUILD), json.dumps(payload))
    cached = await cached_config(redis, keyspace, GUILD)
    assert cached is not None
    assert cached.version == 3
    assert cached.config.section(XPSection).cooldown_seconds == 42
    assert cached.config.schema_version == CURRENT_SCHEMA_VERSION


@pytest.mark.usefixtures("orm")
async def test_stored_documents_follow_the_enabled_features(defaults: GuildConfig) -> None:
    """A feature enabled later starts from its defaults in every stored document; a disabled
    feature's section is left out when read and gone at the next write."""
    await load_guild_config(GUILD, defaults)
    await GuildConfigRecord.filter(guild_id=GUILD).update(
        document=_with_cooldown(defaults, 42).model_dump(mode="json")
    )
    with use_features(ECHO_PATH):
        echo_defaults = load_settings(ECHO_SETTINGS, environ={}, env_file=None).guild_defaults
        loaded = await load_guild_config(GUILD, echo_defaults)
        assert loaded.config.section(EchoSection).prefix == "echo: "
        assert loaded.config.section(XPSection).cooldown_seconds == 42
        changed = loaded.config.with_section(EchoSection(prefix="> "))
        await update_guild_config(
            GUILD, changed, expected_version=1, actor=ADMIN, defaults=echo_defaults
        )
    assert (await GuildConfigRecord.get(guild_id=GUILD)).document["echo"] == {"prefix": "> "}

    loaded = await load_guild_config(GUILD, defaults)
    assert "echo" not in loaded.config.model_dump()
    assert loaded.config.section(XPSection).cooldown_seconds == 42
    await update_guild_config(
        GUILD, loaded.config, expected_version=2, actor=ADMIN, defaults=defaults
    )
    assert "echo" not in (await GuildConfigRecord.get(guild_id=GUILD)).document
