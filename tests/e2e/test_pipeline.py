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
import contextlib
import dataclasses
import datetime
import random
import time
import typing

import pytest

from tests.e2e.test_shards import shards_running
from tests.e2e.test_xp_levels import channel_named, role_named, settings_for, user_named
from tests.integration.test_tasks_support import running_worker, wait_until
from tests.integration.test_xp_support import (
    configure,
    drained,
    reference_levels,
    reference_totals,
)
from townsquare.core.events import MessageRecord, encode_job
from townsquare.core.events.wire import DATA_FIELD
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.xp.domain.models import LevelReward, MemberXP
from townsquare.features.xp.tasks import FLUSH_TASK
from townsquare.sandbox import Sandbox
from townsquare.sandbox.snowflakes import DISCORD_EPOCH_MS
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from pathlib import Path

    import redis.asyncio as aioredis

    from townsquare.core.config.schemas import GuildConfig
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox.world.models import Guild, Message

pytestmark = pytest.mark.integration

WITHIN = 20.0
"""Upper bound of every wait (notices may wait out the sandbox's 5-per-5-s channel limit)."""
TEMPLATE = "{user} reached level {level} in {guild}! @everyone @here <@&{role}>"


class SteppedClock:
    """The sandbox's clock: whatever time the test set last.

    It starts an hour back, before every chosen time: the sandbox's snowflakes never go
    backwards, so an id made at the real time before the chat (a registered command, say)
    would push every chosen time after it.
    """

    def __init__(self) -> None:
        self.now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)

    def __call__(self) -> datetime.datetime:
        return self.now

    def set_ms(self, unix_ms: int) -> None:
        self.now = datetime.datetime.fromtimestamp(unix_ms / 1000, tz=datetime.UTC)


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
async def sandbox(clock: SteppedClock) -> AsyncIterator[Sandbox]:
    server = Sandbox(clock=clock)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def the_guild(sandbox: Sandbox) -> Guild:
    return next(iter(sandbox.world.guilds.values()))


@dataclasses.dataclass(frozen=True, slots=True)
class Post:
    """One message to inject: when (Unix ms), who, where."""

    ts: int
    author: int
    channel: int


COOLDOWN_GAPS: typing.Final = (5_000, 30_000, 59_999, 60_000, 60_001, 90_000)
"""Milliseconds between a member's messages: below, exactly at and above the 60 s cooldown."""


def chat_plan(
    authors: Sequence[int],
    channels: Sequence[int],
    *,
    per_member: int,
    seed: int,
    gaps: Sequence[int] = COOLDOWN_GAPS,
) -> list[Post]:
    """Each member's messages at `gaps` (chosen at random) from 45 minutes ago, interleaved
    in time order; keep `per_member` times the mean gap under 45 minutes (the lateness
    window is an hour)."""
    rng = random.Random(seed)
    start = int(time.time() * 1000) - 45 * 60_000
    posts = []
    for index, author in enumerate(authors):
        ts = start + index * 1_000
        for _ in range(per_member):
            posts.append(Post(ts, author, rng.choice(channels)))
            ts += rng.choice(gaps)
    return sorted(posts, key=lambda p: p.ts)


def inject(sandbox: Sandbox, clock: SteppedClock, posts: Sequence[Post]) -> list[MessageRecord]:
    """Create the messages in the sandbox's world at their chosen times; returns what each
    should become, built from the sandbox's own view (not from the shard's records)."""
    world, guild = sandbox.world, the_guild(sandbox)
    expected = []
    for number, post in enumerate(posts):
        clock.set_ms(post.ts)
        channel = world.channel(post.channel)
        assert channel is not None
        message = world.create_message(channel, post.author, f"chat line {number}")
        assert (message.id >> 22) + DISCORD_EPOCH_MS == post.ts  # the chosen time, in the id
        expected.append(
            MessageRecord(
                guild_id=guild.id,
                channel_id=post.channel,
                author_id=post.author,
                message_id=message.id,
                timestamp_ms=post.ts,
                role_ids=tuple(guild.members[post.author].role_ids),
                length=len(message.content),
                mention_count=0,
                link_count=0,
            )
        )
    clock.now = datetime.datetime.now(datetime.UTC)
    return expected


@contextlib.asynccontextmanager
async def pipeline_running(
    sandbox: Sandbox,
    settings: Settings,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    pipelines: Sequence[str] = ("xp", "jobs"),
) -> AsyncIterator[None]:
    """A worker and the shard, returning once the shard's guild record has been applied."""
    guild = the_guild(sandbox)
    async with (
        running_worker(settings, redis_url, keyspace, load_tasks(), pipelines),
        shards_running(settings, redis_url, keyspace, sandbox.info),
    ):
        await wait_until(
            lambda: redis.hexists(keyspace.key("xp_guild", guild.id), "name"),
            within=WITHIN,
            what="the guild record applied",
        )
        yield


async def settled(redis: aioredis.Redis, keyspace: Keyspace, guild: Guild, messages: int) -> None:
    """Every message counted, then both pipelines drained (level jobs are queued by the
    same script that records the level, so a drained `xp` stream has queued them all)."""
    key = keyspace.key("xp_messages", guild.id)

    async def counted() -> bool:
        return sum(int(v) for v in await redis.hvals(key)) == messages

    await wait_until(counted, within=WITHIN, what=f"{messages} messages counted")
    for pipeline in ("xp", "jobs"):
        await wait_until(
            lambda p=pipeline: drained(redis, keyspace, p),
            within=WITHIN,
            what=f"{pipeline} drained",
        )


async def int_hash(redis: aioredis.Redis, key: str) -> dict[int, int]:
    return {int(k): int(v) for k, v in (await redis.hgetall(key)).items()}


async def enqueue(
    redis: aioredis.Redis, keyspace: Keyspace, pipeline: str, task: str, **kwargs: typing.Any
) -> None:
    job = encode_job(task, **kwargs)
    await redis.xadd(keyspace.key("stream", pipeline), {DATA_FIELD: job})


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
    sandbox: Sandbox,
    clock: SteppedClock,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    orm: None,
    tmp_path: Path,
) -> None:
    guild = the_guild(sandbox)
    config = await configure_guild(guild, {}, channel_named(guild, "bot-commands"))
    authors = [user_named(sandbox, n) for n in ("alder", "bryony", "cedar", "dorian", "thorn")]
    channels = [channel_named(guild, n) for n in ("general", "general", "media", "off-topic")]
    posts = chat_plan(authors, channels, per_member=32, seed=6)
    settings = settings_for(sandbox, tmp_path)
    async with pipeline_running(sandbox, settings, redis, redis_url, keyspace):
        sent = inject(sandbox, clock, posts)
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
    sandbox: Sandbox,
    clock: SteppedClock,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    orm: None,
    tmp_path: Path,
) -> None:
    guild = the_guild(sandbox)
    rewards = {1: role_named(guild, "Level 5"), 2: role_named(guild, "Level 10")}
    notices_channel = channel_named(guild, "bot-commands")
    config = await configure_guild(guild, rewards, notices_channel)
    authors = [user_named(sandbox, n) for n in ("alder", "bryony", "dorian", "thorn")]
    before = {a: set(guild.members[a].role_ids) for a in authors}
    channels = [channel_named(guild, n) for n in ("general", "media")]
    posts = chat_plan(authors, channels, per_member=30, seed=11)
    async with pipeline_running(
        sandbox, settings_for(sandbox, tmp_path), redis, redis_url, keyspace
    ):
        sent = inject(sandbox, clock, posts)
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
        await wait_until(
            lambda: {m.mention_ids[0] for m in notices() if m.mention_ids} == leveled,
            within=WITHIN,
            what="a notice for every member who levelled up",
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
    # One notice per level reached in a batch: increasing, ending at the member's level.
    assert {m: (sorted(set(lv)) == lv, lv[-1]) for m, lv in by_member.items()} == {
        m: (True, levels[m]) for m in leveled
    }
    posted = [c for c in sandbox.rest.calls if c.method == "POST" and c.route.endswith("/messages")]
    for call in posted:
        allowed = call.body["allowed_mentions"]
        assert (allowed.get("parse", []), allowed.get("roles", [])) == ([], [])
        assert len(allowed["users"]) == 1
