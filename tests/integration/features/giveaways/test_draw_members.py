"""The draw's re-check asks the shard for the candidates in bulk (gateway op 8 through Redis,
answered by the real hikari shard against the sandbox), and decides exactly what the REST path
decides; with no shard, or a shard that never answers, it falls back to REST."""

from __future__ import annotations

import datetime
import typing

import pytest
from tortoise import Tortoise

from tests.support.sandbox import WAIT, target_of
from tests.support.waiting import wait_until
from tests.support.world import demo_guild
from townsquare.core.member_levels import LEVELS_FAMILY
from townsquare.core.settings import load_settings
from townsquare.features.giveaways.domain.config import GiveawaysSection
from townsquare.features.giveaways.domain.lifecycle import end_giveaway
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayPick, GiveawayState
from townsquare.features.giveaways.domain.requirements import Requirements
from townsquare.features.giveaways.domain.service import GiveawaySpec, create_giveaway
from townsquare.features.giveaways.tasks.discord_io import member_check
from townsquare.sandbox.world.members import join_guild, leave_guild
from townsquare.sandbox.world.roles import create_role
from townsquare.shards.cluster import ShardCluster, ShardSet
from townsquare.tasks.resources import TaskResources

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("orm")

ENTRANTS: typing.Final = 150
WINNERS: typing.Final = 30
_MEMBER_ROUTE = "/api/v10/guilds/{guild_id}/members/{user_id}"
_ENTRIES = """
INSERT INTO giveaway_entries (giveaway_id, user_id, weight, active, entered_at, updated_at)
SELECT $1, u, 1 + u % 3, true, now(), now() FROM unnest($2::bigint[]) AS u
"""


class _Draws(typing.NamedTuple):
    settings: Settings
    resources: TaskResources
    giveaway_ids: list[int]
    """Giveaways with the same seed and entries: each draws the same sequence."""
    now: datetime.datetime
    """When every draw happens (the reasons quote times in the server)."""


@pytest.fixture
async def draws(
    sandbox: Sandbox, redis: aioredis.Redis, keyspace: Keyspace
) -> AsyncIterator[_Draws]:
    """ENTRANTS members of the demo guild entered in three identical giveaways requiring the
    Regular role, level 2 and 7 days in the server; among them members without the role, at
    level 1, too new, and some who left the server."""
    world = sandbox.world
    guild = demo_guild(sandbox)
    regular = create_role(world, guild, name="Regular").id
    now = datetime.datetime.now(datetime.UTC)
    users, levels, leaving = [], {}, []
    for number in range(ENTRANTS):
        member = join_guild(world, guild, world.create_user(f"entrant{number}"))
        member.joined_at = now - datetime.timedelta(days=3 if number % 9 == 0 else 30)
        if number % 5:
            member.role_ids.append(regular)
        levels[str(member.user_id)] = 1 if number % 7 == 0 else 4
        users.append(member.user_id)
        if number % 11 == 0:
            leaving.append(member)
    for member in leaving:
        leave_guild(world, guild, member)
    await redis.hset(keyspace.key(LEVELS_FAMILY, guild.id), mapping=levels)
    settings = load_settings(
        environ={"TOWNSQUARE__DISCORD__SERVER_MEMBERS_INTENT": "true"}, env_file=None
    )
    spec = GiveawaySpec(
        prize="Cap",
        duration_seconds=60,
        winners=WINNERS,
        channel_id=1,
        host_id=1,
        requirements=Requirements(
            required_role_ids=[regular], min_level=2, min_member_seconds=7 * 86_400
        ),
    )
    defaults = settings.guild_defaults.section(GiveawaysSection)
    ids = []
    for _ in range(3):
        giveaway = await create_giveaway(guild.id, spec, defaults, now)
        ids.append(int(giveaway.id))
        await Tortoise.get_connection("default").execute_query(_ENTRIES, [giveaway.id, users])
    await Giveaway.filter(id__in=ids).update(state=GiveawayState.RUNNING, seed=giveaway.seed)
    resources = TaskResources(
        settings=settings, keyspace=keyspace, redis=redis, discord=target_of(sandbox.info)
    )
    try:
        yield _Draws(settings, resources, ids, now)
    finally:
        await resources.rest.close()


async def _end(
    sandbox: Sandbox, draws: _Draws, giveaway_id: int, *, gateway_wait: float = 2.0
) -> tuple[list[tuple[int, int, int | None, str | None]], int]:
    """End the giveaway with the worker's re-check: its picks, and how many members it asked
    Discord's REST API for."""
    resources = draws.resources
    rest = await resources.discord_rest()
    before = len(sandbox.rest.calls)
    now = draws.now
    giveaway = await Giveaway.get(id=giveaway_id)
    check = member_check(resources, rest, giveaway, now, gateway_wait=gateway_wait)
    ended = await end_giveaway(
        resources.redis, resources.keyspace, giveaway_id, check, now, force=True
    )
    assert ended is not None
    fetches = sum(
        1 for c in sandbox.rest.calls[before:] if c.route == _MEMBER_ROUTE and c.status != 429
    )
    picks = await GiveawayPick.filter(giveaway_id=giveaway_id).order_by("position")
    return [(p.position, p.user_id, p.slot, p.reason) for p in picks], fetches


async def test_the_draw_rechecks_through_the_gateway_and_decides_as_rest_does(
    sandbox: Sandbox, redis_url: str, keyspace: Keyspace, draws: _Draws
) -> None:
    shards = ShardCluster(
        draws.settings,
        redis_url,
        keyspace,
        ShardSet(target_of(sandbox.info), (0,), 1),
        commands=False,
    )
    redis = draws.resources.redis
    ready = keyspace.key("member_requests_ready", 0)
    await shards.start()
    try:
        health = keyspace.key("shard_health", 0)

        async def answering() -> bool:
            return bool(await redis.exists(ready)) and bool(await redis.hget(health, "shard_count"))

        await wait_until(answering, within=WAIT, what="the shard's ready marker and health")
        through_gateway, gateway_fetches = await _end(sandbox, draws, draws.giveaway_ids[0])
    finally:
        await shards.close()
    assert not await redis.exists(ready), "a stopped shard withdraws its marker"
    through_rest, rest_fetches = await _end(sandbox, draws, draws.giveaway_ids[1])

    assert gateway_fetches == 0, "every candidate came through the gateway"
    assert rest_fetches == len(through_rest)
    assert through_gateway == through_rest
    reasons = {reason for *_, reason in through_gateway if reason}
    assert "left the server" in reasons
    assert any("Regular" in r for r in reasons)
    assert any("level" in r for r in reasons)
    assert sum(1 for _, _, slot, _ in through_gateway if slot is not None) == WINNERS


async def test_a_shard_that_never_answers_leaves_the_recheck_to_rest(
    sandbox: Sandbox, draws: _Draws, keyspace: Keyspace
) -> None:
    """Marked ready, but nobody pops the requests: after the wait, REST decides, the same."""
    redis = draws.resources.redis
    await redis.hset(keyspace.key("shard_health", 0), "shard_count", 1)
    await redis.set(keyspace.key("member_requests_ready", 0), 1, ex=60)
    silent, fetches = await _end(sandbox, draws, draws.giveaway_ids[2], gateway_wait=0.2)
    await redis.delete(keyspace.key("member_requests_ready", 0))
    without_shard, _ = await _end(sandbox, draws, draws.giveaway_ids[1])
    assert fetches == len(silent) > WINNERS
    assert [p[1:] for p in silent] == [p[1:] for p in without_shard]
