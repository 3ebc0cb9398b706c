from __future__ import annotations

from pathlib import Path

import pytest

from townsquare.core.audit.models import ActorKind, AuditEntry
from townsquare.core.audit.service import Actor
from townsquare.core.config import GuildConfig
from townsquare.core.config.models import GuildConfigRecord
from townsquare.core.config.service import (
    ConfigConflictError,
    load_guild_config,
    update_guild_config,
)
from townsquare.core.settings import load_settings

GUILD = 81_384_788_765_712_384
ADMIN = Actor(ActorKind.USER, 80_351_110_224_678_912, "admin")


@pytest.fixture
def defaults(tmp_path: Path) -> GuildConfig:
    return load_settings(environ={}, env_file=tmp_path / ".env").guild_defaults


def _with_cooldown(config: GuildConfig, seconds: int) -> GuildConfig:
    return config.model_copy(
        update={"xp": config.xp.model_copy(update={"cooldown_seconds": seconds})}
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
    assert (await load_guild_config(GUILD, defaults)).config.xp.cooldown_seconds == 30

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
