"""Level rewards and notices end to end: records on the `xp` stream, a real worker, the real
hikari REST client against the sandbox, and the sandbox world checked afterwards."""

from __future__ import annotations

import time
import typing

import pytest

from tests.support.sandbox import control
from tests.support.waiting import wait_until
from tests.support.world import channel_named, demo_guild, role_named, user_named
from tests.support.xp import configure, message, send_batch
from townsquare.core.audit.service import Actor
from townsquare.core.events import GuildRecord
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.xp.domain.admin import GuildXPAdmin
from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.curve import curve_for
from townsquare.features.xp.domain.models import LevelReward

if typing.TYPE_CHECKING:
    import aiohttp
    import redis.asyncio as aioredis

    from tests.support.pipeline import Stack
    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox
    from townsquare.sandbox.world.models import Guild

pytestmark = pytest.mark.integration

WITHIN = 45.0
TEMPLATE = "{user} reached level {level} in {guild}! @everyone @here <@&{role}>"


NO_NOTICE: typing.Final = {"mode": "off", "channel_id": None, "template": "x"}


async def setup_guild(
    sandbox: Sandbox,
    *,
    mode: str,
    rewards: dict[int, int],
    notice: dict[str, object] = NO_NOTICE,
) -> Guild:
    guild = demo_guild(sandbox)
    await ensure_guild(guild.id)
    await configure(
        guild.id,
        xp={"per_message_min": 100, "per_message_max": 100, "cooldown_seconds": 60},
        levels={"reward_mode": mode, "notice": notice},
    )
    for level, role in rewards.items():
        await LevelReward.create(guild_id=guild.id, level=level, role_id=role)
    return guild


async def chat(
    redis: aioredis.Redis, keyspace: Keyspace, guild: Guild, user: int, channel: int, count: int
) -> None:
    """`count` messages a minute apart (each earns 100 XP), as the shard would publish them."""
    now = int(time.time() * 1000) - count * 60_000
    header = GuildRecord(
        guild_id=guild.id,
        name=guild.name,
        owner_id=guild.owner_id,
        afk_channel_id=None,
        timestamp_ms=now,
    )
    records = [
        message(guild.id, user, 1_000_000 + n, now + n * 60_000, channel=channel)
        for n in range(count)
    ]
    await send_batch(redis, keyspace, [header, *records])


@pytest.mark.parametrize(
    ("mode", "expected"), [("stack", {"Level 5", "Level 10"}), ("replace", {"Level 10"})]
)
async def test_a_level_up_applies_reward_roles_in_the_sandbox(
    stack: Stack, mode: str, expected: set[str]
) -> None:
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    guild = demo_guild(sandbox)
    level_5, level_10 = role_named(guild, "Level 5"), role_named(guild, "Level 10")
    await setup_guild(
        sandbox,
        mode=mode,
        rewards={1: level_5, 2: level_10},
    )
    alder = user_named(sandbox, "alder")
    general = channel_named(guild, "general")
    names = {role_named(guild, "Level 5"): "Level 5", role_named(guild, "Level 10"): "Level 10"}
    settings = stack.settings
    async with stack.worker():
        await chat(redis, keyspace, guild, alder, general, 3)  # 300 XP: level 2
        await stack.drained("xp", "jobs")
        await wait_until(
            lambda: {names.get(r) for r in guild.members[alder].role_ids} == expected,
            within=WITHIN,
            what="reward roles",
        )
        # XP taken away: back to level 0, every reward role goes.
        curve = curve_for(settings.guild_defaults.section(XPSection))
        await GuildXPAdmin(redis, keyspace, guild.id, curve, Actor.system()).set(alder, 0)
        await stack.drained("xp", "jobs")
        await wait_until(
            lambda: not guild.members[alder].role_ids, within=WITHIN, what="roles removed"
        )
    assert not await redis.xlen(keyspace.key("alerts"))


async def test_a_reward_role_above_the_bot_raises_an_alert_and_nothing_crashes(
    stack: Stack,
) -> None:
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    guild = demo_guild(sandbox)
    level_5, moderator = role_named(guild, "Level 5"), role_named(guild, "Moderator")
    await setup_guild(
        sandbox,
        mode="stack",
        rewards={1: level_5, 2: moderator},
    )
    bryony = user_named(sandbox, "bryony")
    async with stack.worker():
        await chat(redis, keyspace, guild, bryony, channel_named(guild, "general"), 3)
        await stack.drained("xp", "jobs")
        await wait_until(lambda: redis.xlen(keyspace.key("alerts")), within=WITHIN, what="an alert")
    assert guild.members[bryony].role_ids == [level_5]
    [(_, alert)] = await redis.xrange(keyspace.key("alerts"))
    assert alert[b"source"] == b"xp.apply_level"
    assert alert[b"guild_id"] == str(guild.id).encode()
    assert str(moderator).encode() in alert[b"message"]
    assert not await redis.exists(keyspace.key("dead_letter", "jobs"))


@pytest.mark.parametrize("mode", ["channel", "current_channel"])
async def test_the_notice_lands_once_in_the_configured_place_without_role_or_everyone_pings(
    stack: Stack, mode: str
) -> None:
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    guild = demo_guild(sandbox)
    general, bot_commands = channel_named(guild, "general"), channel_named(guild, "bot-commands")
    streamer = role_named(guild, "Streamer")
    await setup_guild(
        sandbox,
        mode="stack",
        notice={
            "mode": mode,
            "channel_id": bot_commands if mode == "channel" else None,
            "template": TEMPLATE.replace("{role}", str(streamer)),
        },
        rewards={},
    )
    cedar = user_named(sandbox, "cedar")
    target = bot_commands if mode == "channel" else general
    async with stack.worker():
        await chat(redis, keyspace, guild, cedar, general, 3)  # levels 1 and 2 in one batch
        await stack.drained("xp", "jobs")
        await chat(redis, keyspace, guild, cedar, general, 3)  # the same messages again
        await stack.drained("xp", "jobs")

        def notices() -> list[str]:
            return [m.content for m in sandbox.world.messages.values() if m.channel_id == target]

        await wait_until(lambda: len(notices()) == 1, within=WITHIN, what="the notice")
    # One batch took cedar from level 0 to 2: one notice, for level 2.
    assert notices() == [
        f"<@{cedar}> reached level 2 in {guild.name}! @everyone @here <@&{streamer}>"
    ]
    [call] = [c for c in sandbox.rest.calls if c.method == "POST" and c.route.endswith("/messages")]
    mentions = call.body["allowed_mentions"]
    assert mentions.get("parse", []) == []
    assert mentions.get("roles", []) == []
    assert mentions["users"] == [str(cedar)]
    # The sandbox's world applies allowed_mentions as Discord does (docs/sandbox.md): only
    # cedar is pinged although the text names @everyone, @here and a role.
    [posted] = [m for m in sandbox.world.messages.values() if m.channel_id == target]
    assert posted.mention_ids == [cedar]
    assert posted.mention_role_ids == []
    assert not posted.mention_everyone


async def test_a_dm_notice_reaches_the_member_in_their_dm_channel(stack: Stack) -> None:
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    guild = demo_guild(sandbox)
    general = channel_named(guild, "general")
    await setup_guild(
        sandbox,
        mode="stack",
        notice={"mode": "dm", "channel_id": None, "template": "{user} reached level {level}!"},
        rewards={},
    )
    dahlia = user_named(sandbox, "dahlia")
    bot = sandbox.world.application.bot_user_id

    def dm_notices() -> list[tuple[int, str]]:
        dms = {c.id for c in sandbox.world.dm_channels.values() if dahlia in c.recipient_ids}
        return [
            (m.author_id, m.content) for m in sandbox.world.messages.values() if m.channel_id in dms
        ]

    async with stack.worker():
        await chat(redis, keyspace, guild, dahlia, general, 3)  # level 2
        await stack.drained("xp", "jobs")
        await wait_until(lambda: len(dm_notices()) == 1, within=WITHIN, what="the DM notice")
    assert dm_notices() == [(bot, f"<@{dahlia}> reached level 2!")]
    [dm] = [c for c in sandbox.world.dm_channels.values() if dahlia in c.recipient_ids]
    assert sorted(dm.recipient_ids) == sorted([bot, dahlia])
    assert not [
        m for m in sandbox.world.messages.values() if m.guild_id is not None and m.author_id == bot
    ]
    assert not await redis.xlen(keyspace.key("alerts"))


async def test_a_notice_whose_answers_are_lost_is_posted_once(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    """Discord took the notice but its answers were lost (503 after the route ran), more times
    than hikari retries: the job runs again and posts with the same nonce, which Discord
    (`enforce_nonce`) answers with the first message, so the channel has one notice."""
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    guild = demo_guild(sandbox)
    general = channel_named(guild, "general")
    template = "{user} reached level {level}!"
    notice = {"mode": "current_channel", "channel_id": None, "template": template}
    await setup_guild(sandbox, mode="stack", notice=notice, rewards={})
    cedar = user_named(sandbox, "cedar")
    route = "/api/v10/channels/{channel_id}/messages"
    fault = {"method": "POST", "route": route, "path": f"/api/v10/channels/{general}"}
    lost = await control(
        http,
        sandbox.info,
        "POST",
        "/faults/rest",
        fault | {"status": 503, "when": "after", "count": 4},
    )
    async with stack.worker():
        await chat(redis, keyspace, guild, cedar, general, 3)
        await stack.drained("xp", "jobs")
    notices = [m.content for m in sandbox.world.messages.values() if m.channel_id == general]
    assert notices == [f"<@{cedar}> reached level 2!"]
    path = route.replace("{channel_id}", str(general))
    tried = [c for c in sandbox.rest.calls if c.method == "POST" and c.path == path]
    assert [c.fault for c in tried][:4] == [lost["id"]] * 4
    assert len(tried) >= 5, "the job ran again after hikari gave up"
    assert len({c.body.get("nonce") for c in tried}) == 1, "every attempt is the same post"
