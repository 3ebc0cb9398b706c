"""Alerts end to end: a guild condition raised by a real level job (a reward role above the
bot's), delivered by the `alerts.deliver` task that the real scheduler queues on a real worker,
lands once in the guild's log channel however many members hit it."""

from __future__ import annotations

import dataclasses
import time
import typing

import pytest

from tests.support.alerts import alerting_settings, channel_texts, scheduler_running
from tests.support.waiting import wait_until
from tests.support.world import channel_named, role_named, user_named
from tests.support.xp import configure, message, send_batch
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.xp.domain.models import LevelReward

if typing.TYPE_CHECKING:
    from pathlib import Path

    from tests.support.pipeline import Stack

pytestmark = pytest.mark.integration


async def test_a_reward_role_above_the_bot_reaches_the_log_channel_once(
    stack: Stack, tmp_path: Path
) -> None:
    stack = dataclasses.replace(
        stack, settings=alerting_settings(stack.sandbox, tmp_path, deliver_interval_seconds=1)
    )
    sandbox, redis, keyspace, guild = stack.sandbox, stack.redis, stack.keyspace, stack.guild
    mod_log, moderator = channel_named(guild, "mod-log"), role_named(guild, "Moderator")
    await ensure_guild(guild.id)
    await configure(
        guild.id,
        xp={"per_message_min": 100, "per_message_max": 100, "cooldown_seconds": 60},
        levels={"notice": {"mode": "off", "channel_id": None, "template": "x"}},
        moderation={"log_channel_id": mod_log},
    )
    await LevelReward.create(guild_id=guild.id, level=1, role_id=moderator)
    members = [user_named(sandbox, name) for name in ("bryony", "cedar", "dahlia")]
    start = int(time.time() * 1000) - 10 * 60_000
    general = channel_named(guild, "general")
    await send_batch(
        redis,
        keyspace,
        [
            message(guild.id, member, 3_000_000 + 10 * i + n, start + n * 60_000, channel=general)
            for i, member in enumerate(members)
            for n in range(2)
        ],
    )
    async with stack.worker(), scheduler_running(stack.settings, stack.redis_url, keyspace):

        async def alerted() -> bool:
            return await redis.xlen(keyspace.key("alerts")) == len(members)

        await wait_until(alerted, within=20, what="an alert per member")
        await wait_until(
            lambda: bool(channel_texts(sandbox, mod_log)), within=20, what="the log channel told"
        )
        await stack.drained("jobs")
    [text] = channel_texts(sandbox, mod_log)
    assert f"level reward role {moderator}" in text
    assert "move the bot's role above it" in text
    assert await redis.hlen(keyspace.key("alert_windows")) == 1  # the repeats wait for its end
