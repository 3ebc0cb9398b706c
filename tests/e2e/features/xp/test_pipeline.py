"""The whole XP pipeline in one process: the sandbox, the real hikari `GatewayBot` run by
`run_shards`, real Redis, a real worker for the `xp` and `jobs` pipelines with PostgreSQL
connected, and Discord REST calls coming back to the sandbox.

Chosen timestamps: the sandbox makes a message's id (a snowflake) and its `timestamp` from the
clock it was given (`Sandbox(clock=...)`), and the shard takes `timestamp_ms` from the
snowflake. The tests give it a `SteppedClock` set to the chosen time before each message is
created in the sandbox's world, so every message carries exactly that time (checked).

Expected XP is computed independently of `townsquare.features.xp.domain` by `reference_totals` (the
documented formula: sha256 of the message id, decimal multipliers, cooldown on message times)
and `reference_levels` (walking MEE6's 5L^2 + 50L + 100).
"""

from __future__ import annotations

import collections
import typing

import pytest

from tests.support.pipeline import (
    WITHIN,
    SteppedClock,
    chat_plan,
    create_posts,
    enqueue,
    int_hash,
    settled,
)
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.world import channel_named, demo_guild, role_named, user_named
from tests.support.xp import configure, drained, reference_levels, reference_totals
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.xp.domain.models import LevelReward, MemberXP
from townsquare.features.xp.tasks import FLUSH_TASK

if typing.TYPE_CHECKING:
    from tests.support.pipeline import Stack
    from townsquare.core.config.schemas import GuildConfig
    from townsquare.sandbox.world.models import Guild, Message

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

TEMPLATE = "{user} reached level {level} in {guild}! @everyone @here <@&{role}>"


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def sandbox_options(clock: SteppedClock) -> dict[str, typing.Any]:
    """The sandbox makes every message's id from the clock the test sets."""
    return {"clock": clock}


async def configure_guild(
    guild: Guild, rewards: dict[int, int], notice_channel: int
) -> GuildConfig:
    """Multipliers, a no-XP channel and role, the MEE6 curve, rewards stacked, notices to a
    channel (with a template that tries to ping everyone and a role)."""
    await ensure_guild(guild.id)
    config = await configure(
        guild.id,
        xp={
            "per_message_min": 15,
            "per_message_max": 25,
            "cooldown_seconds": 60,
            "no_xp_channel_ids": [channel_named(guild, "off-topic")],
            "no_xp_role_ids": [role_named(guild, "Muted")],
            "role_multipliers": {str(role_named(guild, "Streamer")): 1.5},
            "channel_multipliers": {str(channel_named(guild, "media")): 1.1},
        },
        levels={
            "reward_mode": "stack",
            "notice": {
                "mode": "channel",
                "channel_id": notice_channel,
                "template": TEMPLATE.replace("{role}", str(role_named(guild, "Streamer"))),
            },
        },
    )
    for level, role in rewards.items():
        await LevelReward.create(guild_id=guild.id, level=level, role_id=role)
    return config


async def test_messages_earn_exactly_the_reference_xp_in_redis_then_in_postgresql(
    stack: Stack, clock: SteppedClock
) -> None:
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    guild = demo_guild(sandbox)
    config = await configure_guild(guild, {}, channel_named(guild, "bot-commands"))
    authors = [user_named(sandbox, n) for n in ("alder", "bryony", "cedar", "dorian", "thorn")]
    channels = [channel_named(guild, n) for n in ("general", "general", "media", "off-topic")]
    posts = chat_plan(authors, channels, per_member=32, seed=6)
    async with stack.pipeline():
        sent = create_posts(sandbox, clock, posts)
        await settled(redis, keyspace, guild, len(sent))
        await enqueue(redis, keyspace, "jobs", FLUSH_TASK)
        await wait_until(lambda: drained(redis, keyspace, "jobs"), within=WITHIN, what="flush")

    totals = reference_totals(sent, config)
    levels = reference_levels(totals)
    counts = collections.Counter(r.author_id for r in sent)
    # The plan exercises every rule: the cooldown, both multipliers, the exclusions.
    assert 0 < sum(totals.values()) < sum(25 * n for n in counts.values())
    assert totals[user_named(sandbox, "thorn")] == 0  # holds the no-XP role
    assert {levels[a] for a in authors} >= {0, 2}

    assert await int_hash(redis, keyspace.key("xp", guild.id)) == totals
    assert await int_hash(redis, keyspace.key("xp_messages", guild.id)) == dict(counts)
    applied = await int_hash(redis, keyspace.key("xp_levels", guild.id))
    assert applied == {m: level for m, level in levels.items() if level}
    rows = await MemberXP.filter(guild_id=guild.id).values_list(
        "user_id", "xp", "level", "message_count", "voice_minutes"
    )
    assert sorted(rows) == sorted((m, totals[m], levels[m], counts[m], 0) for m in authors)


async def test_level_roles_land_on_the_members_and_notices_in_the_configured_channel(
    stack: Stack, clock: SteppedClock
) -> None:
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    guild = demo_guild(sandbox)
    rewards = {1: role_named(guild, "Level 5"), 2: role_named(guild, "Level 10")}
    notices_channel = channel_named(guild, "bot-commands")
    config = await configure_guild(guild, rewards, notices_channel)
    authors = [user_named(sandbox, n) for n in ("alder", "bryony", "dorian", "thorn")]
    before = {a: set(guild.members[a].role_ids) for a in authors}
    channels = [channel_named(guild, n) for n in ("general", "media")]
    posts = chat_plan(authors, channels, per_member=30, seed=11)
    async with stack.pipeline():
        sent = create_posts(sandbox, clock, posts)
        await settled(redis, keyspace, guild, len(sent))
        levels = reference_levels(reference_totals(sent, config))
        expected_roles = {
            a: before[a] - set(rewards.values()) | {r for at, r in rewards.items() if at <= level}
            for a, level in levels.items()
        }
        await wait_until(
            lambda: {a: set(guild.members[a].role_ids) for a in authors} == expected_roles,
            within=WITHIN,
            what="reward roles in the sandbox",
        )

        def notices() -> list[Message]:
            bot = sandbox.world.application.bot_user_id
            return [m for m in sandbox.world.messages.values() if m.author_id == bot]

        leveled = {a for a, level in levels.items() if level}

        def announced() -> dict[int, int]:
            """Each member's highest level announced so far."""
            highest: dict[int, int] = {}
            for message in notices():
                if message.mention_ids:
                    level = int(message.content.split("reached level ")[1].split(" ")[0])
                    member = message.mention_ids[0]
                    highest[member] = max(level, highest.get(member, 0))
            return highest

        await wait_until(
            lambda: announced() == {a: levels[a] for a in leveled},
            within=WITHIN,
            what="every member's final level announced",
        )
    assert levels[user_named(sandbox, "thorn")] == 0
    assert len(leveled) == 3
    streamer = role_named(guild, "Streamer")
    by_member: dict[int, list[int]] = collections.defaultdict(list)
    for message in notices():
        assert message.channel_id == notices_channel
        # No one but the member is pinged, whatever the template says.
        assert (message.mention_everyone, message.mention_role_ids) == (False, [])
        [member] = message.mention_ids
        level = int(message.content.split("reached level ")[1].split(" ")[0])
        assert message.content == (
            f"<@{member}> reached level {level} in {guild.name}! @everyone @here <@&{streamer}>"
        )
        by_member[member].append(level)
    # At most one notice per level, never going backwards (a late job for a lower level
    # posts nothing), ending at the member's level.
    assert {m: (sorted(set(lv)) == lv, lv[-1]) for m, lv in by_member.items()} == {
        m: (True, levels[m]) for m in leveled
    }
    posted = [c for c in sandbox.rest.calls if c.method == "POST" and c.route.endswith("/messages")]
    for call in posted:
        allowed = call.body["allowed_mentions"]
        assert (allowed.get("parse", []), allowed.get("roles", [])) == ([], [])
        assert len(allowed["users"]) == 1
