"""Alert delivery rounds against real Redis, PostgreSQL (guild configuration) and the sandbox:
deduplication with a count, routing (operators' webhook, guild log channel, owner by DM),
the per-destination rate limit, and a send repeated after a crash posting once."""

from __future__ import annotations

import functools
import time
import typing

import aiohttp
import pytest

from tests.support.alerts import (
    alerting_settings,
    channel_texts,
    dm_texts,
    with_operator_webhook,
)
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.world import channel_named, demo_guild
from tests.support.xp import configure
from townsquare.core.alert_delivery import collect, deliver_round
from townsquare.core.alerts import acknowledge_alert, open_alerts, raise_alert
from townsquare.core.discord import resolve_discord_target
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.settings import load_settings
from townsquare.tasks.alert_delivery import deliver, guild_log_channel
from townsquare.tasks.resources import TaskResources

if typing.TYPE_CHECKING:
    from pathlib import Path

    import redis.asyncio as aioredis

    from tests.support.pipeline import Stack
    from townsquare.core.alert_delivery import RoundResult
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

MINUTE_MS = 60_000


async def run_round(
    settings: Settings, redis: aioredis.Redis, keyspace: Keyspace, now_ms: int | None = None
) -> RoundResult:
    """One delivery round as the worker's task runs it, at `now_ms`."""
    resources = TaskResources(settings=settings, keyspace=keyspace, redis=redis)
    return await deliver_round(
        redis,
        keyspace,
        settings.alerting,
        target=resolve_discord_target(settings),
        log_channel_of=functools.partial(guild_log_channel, resources),
        now_ms=now_ms,
    )


async def test_repeats_of_one_key_become_one_message_with_a_count(
    stack: Stack, tmp_path: Path
) -> None:
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    settings, ops_channel = with_operator_webhook(sandbox, tmp_path)
    for attempt in range(37):
        await raise_alert(
            redis,
            keyspace,
            source="tasks.worker",
            message=f"Redis refused ({attempt})",
            key="redis_unavailable",
        )
    await raise_alert(redis, keyspace, source="up/http", message="http exited with code 1")
    start = int(time.time() * 1000)

    first = await run_round(settings, redis, keyspace, start)
    texts = channel_texts(sandbox, ops_channel)
    assert first.routed == 38
    assert len(texts) == 2, texts
    assert "Redis refused (0)" in texts[0]
    assert "http exited with code 1" in texts[1]

    # The window closes: the 36 repeats become one message with their count.
    await run_round(settings, redis, keyspace, start + 10 * MINUTE_MS + 1000)
    texts = channel_texts(sandbox, ops_channel)
    assert len(texts) == 3, texts
    assert "Redis refused (36)" in texts[2]
    assert "x 36 more in the last 10 minutes" in texts[2]

    # A window without repeats closes silently and is forgotten.
    await run_round(settings, redis, keyspace, start + 20 * MINUTE_MS + 2000)
    assert len(channel_texts(sandbox, ops_channel)) == 3
    assert not await redis.hlen(keyspace.key("alert_windows"))
    assert not await redis.xlen(keyspace.key("alert_outbox"))


@pytest.mark.parametrize(
    ("log_channel", "lands_in"),
    [("mod-log", "mod-log"), ("staff-chat", "owner"), (None, "owner")],
    ids=["log-channel", "log-channel-not-writable", "no-log-channel"],
)
async def test_guild_alerts_reach_the_log_channel_or_else_the_owner_by_dm(
    stack: Stack, tmp_path: Path, log_channel: str | None, lands_in: str
) -> None:
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    guild = demo_guild(sandbox)
    await ensure_guild(guild.id)
    await configure(
        guild.id,
        moderation={"log_channel_id": log_channel and channel_named(guild, log_channel)},
    )
    settings = alerting_settings(sandbox, tmp_path)
    message = "cannot give level reward role 42 to member 7: Missing Permissions"
    await raise_alert(
        redis,
        keyspace,
        source="xp.apply_level",
        message=message,
        level="warning",
        guild_id=guild.id,
        key="xp.reward_role_forbidden/42",
    )
    result = await run_round(settings, redis, keyspace)
    assert [outcome.delivered for outcome in result.sent] == [True]
    owner_dms = dm_texts(sandbox, guild.owner_id)
    mod_log = channel_texts(sandbox, channel_named(guild, "mod-log"))
    if lands_in == "owner":
        assert not mod_log
        [dm] = owner_dms
        assert message in dm
        assert f"about your server **{guild.name}**" in dm
    else:
        assert not owner_dms
        assert [text for text in mod_log if message in text] == mod_log
        assert len(mod_log) == 1
    # Operators without a webhook or channel see guild alerts in the console only.
    assert [alert.message for alert in await open_alerts(redis, keyspace, guild.id)] == [message]


async def test_operators_without_a_webhook_get_their_channel_or_the_console(
    stack: Stack, tmp_path: Path
) -> None:
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    general = channel_named(stack.guild, "general")
    await raise_alert(redis, keyspace, source="up/shards", message="shards exited with code 1")
    in_channel = alerting_settings(sandbox, tmp_path, operator_channel_id=general)
    result = await run_round(in_channel, redis, keyspace)
    assert [outcome.where for outcome in result.sent] == [f"channel {general}"]
    assert "shards exited with code 1" in channel_texts(sandbox, general)[-1]
    await raise_alert(redis, keyspace, source="up/http", message="http exited with code 1")
    result = await run_round(alerting_settings(sandbox, tmp_path), redis, keyspace)
    assert [outcome.where for outcome in result.sent] == ["console"]
    assert not any("http exited" in text for text in channel_texts(sandbox, general))


async def test_each_destination_is_rate_limited_and_the_rest_waits(
    stack: Stack, tmp_path: Path
) -> None:
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    settings, ops_channel = with_operator_webhook(
        sandbox, tmp_path, per_destination=2, per_destination_seconds=1
    )
    for number in range(5):
        await raise_alert(redis, keyspace, source="up/worker", message=f"crash {number}")
    result = await run_round(settings, redis, keyspace)
    assert (len(result.sent), result.waiting) == (2, 3)

    async def all_delivered() -> bool:
        await run_round(settings, redis, keyspace)
        return len(channel_texts(sandbox, ops_channel)) >= 5

    await wait_until(all_delivered, within=10, what="the rest, a window later")
    texts = channel_texts(sandbox, ops_channel)
    assert [f"crash {n}" in text for n, text in enumerate(texts)] == [True] * 5


async def test_a_message_sent_again_after_a_crash_posts_once(stack: Stack, tmp_path: Path) -> None:
    """A round killed between Discord's answer and deleting the outbox entry sends the entry
    again; its nonce (the entry id, with enforce_nonce) makes Discord return the first."""
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    guild = demo_guild(sandbox)
    mod_log = channel_named(guild, "mod-log")
    await ensure_guild(guild.id)
    await configure(guild.id, moderation={"log_channel_id": mod_log})
    settings = alerting_settings(sandbox, tmp_path)
    await raise_alert(redis, keyspace, source="xp.apply_level", message="m", guild_id=guild.id)
    await collect(redis, keyspace, settings.alerting, int(time.time() * 1000))
    [(entry_id, _)] = await redis.xrange(keyspace.key("alert_outbox"))
    # What the killed round did: the message is posted, the entry is still in the outbox.
    async with aiohttp.ClientSession() as session:
        await session.post(
            f"{sandbox.info.rest_url}/channels/{mod_log}/messages",
            json={"content": "m", "nonce": entry_id.decode(), "enforce_nonce": True},
            headers={"Authorization": f"Bot {sandbox.info.bot_token}"},
        )
    result = await run_round(settings, redis, keyspace)
    assert [outcome.where for outcome in result.sent] == [f"channel {mod_log}"]
    assert channel_texts(sandbox, mod_log) == ["m"]
    assert not await redis.xlen(keyspace.key("alert_outbox"))


async def test_acknowledged_alerts_are_no_longer_open(stack: Stack) -> None:
    redis, keyspace, guild = stack.redis, stack.keyspace, stack.guild
    ids = [
        await raise_alert(redis, keyspace, source="s", message=f"m{n}", guild_id=guild.id)
        for n in range(3)
    ]
    await raise_alert(redis, keyspace, source="s", message="operators only")
    await acknowledge_alert(redis, keyspace, ids[1])
    await acknowledge_alert(redis, keyspace, ids[1])
    assert [a.message for a in await open_alerts(redis, keyspace, guild.id)] == ["m2", "m0"]
    with pytest.raises(ValueError, match="not an alert id"):
        await acknowledge_alert(redis, keyspace, "nonsense")


async def test_a_round_that_cannot_find_discord_waits_and_says_so_once(
    redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    """No bot token and no sandbox: the round does not fail as a job (no retries, no dead
    letters piling up every few seconds); one operator alert says why, the alerts wait."""
    settings = load_settings(environ={"TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path)}, env_file=None)
    resources = TaskResources(settings=settings, keyspace=keyspace, redis=redis)
    await raise_alert(redis, keyspace, source="up/worker", message="waiting alert")
    assert [await deliver(resources), await deliver(resources)] == [0, 0]
    alerts = await redis.xrange(keyspace.key("alerts"))
    assert [fields[b"key"] for _, fields in alerts] == [
        alerts[0][1][b"key"],
        b"alert_delivery_failing",
    ]
    assert b"alert delivery rounds fail (DiscordTargetError" in alerts[1][1][b"message"]
    assert not await redis.exists(keyspace.key("alert_delivery_lock"))
