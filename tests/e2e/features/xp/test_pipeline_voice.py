"""Voice XP end to end: voice states injected at the sandbox reach the worker through the real
hikari `GatewayBot` (`run_shards`) and Redis, and `xp.voice_tick`, queued for a chosen
minute instead of waiting for the scheduler, pays exactly the members the anti-AFK rules
allow."""

from __future__ import annotations

import json
import time
import typing

import pytest

from tests.support.pipeline import WITHIN, enqueue, int_hash
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.world import channel_named, demo_guild, user_named
from tests.support.xp import configure, drained
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.xp.tasks import VOICE_TICK_TASK
from townsquare.sandbox.world.members import join_guild
from townsquare.sandbox.world.voice import set_voice_state

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

    import redis.asyncio as aioredis

    from tests.support.pipeline import Stack
    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox.world.models import Guild

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]


async def voice_states_stored(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild: Guild,
    expected: Mapping[int, tuple[int | None, bool]],
) -> bool:
    """Whether Redis holds each member's (channel, self-deafened), as the worker stored them."""
    raw = await redis.hgetall(keyspace.key("xp_voice", guild.id))
    stored = {int(m): json.loads(v) for m, v in raw.items()}
    return all(
        m in stored and (stored[m]["channel"], stored[m]["self_deaf"]) == (c and str(c), deaf)
        for m, (c, deaf) in expected.items()
    )


async def test_voice_xp_follows_every_anti_afk_rule(stack: Stack) -> None:
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    world, guild = sandbox.world, demo_guild(sandbox)
    await ensure_guild(guild.id)
    await configure(guild.id)  # defaults: 10 XP a minute, self-muted members do not earn
    lounge, gaming, music, afk = (
        channel_named(guild, n) for n in ("Lounge", "Gaming", "Music", "AFK")
    )
    who = {
        n: user_named(sandbox, n)
        for n in (
            "alder",
            "bryony",
            "cedar",
            "dahlia",
            "ember",
            "flint",
            "garnet",
            "hazel",
            "indigo",
            "juniper",
        )
    }
    helper = world.create_user("helperbot")
    helper.bot = True
    join_guild(world, guild, helper)
    # From the scenario (they arrive in the guild record): dorian and harper (self-muted) in
    # the Lounge, lark in Gaming, marlow (self-muted and deafened) in AFK.
    scenario = {
        user_named(sandbox, "dorian"): (lounge, False),
        user_named(sandbox, "harper"): (lounge, False),
        user_named(sandbox, "lark"): (gaming, False),
        user_named(sandbox, "marlow"): (afk, True),
    }
    moves: list[tuple[int, int, dict[str, bool]]] = [
        (who["alder"], music, {}),  # alone in Music ...
        (who["indigo"], music, {"self_deaf": True}),  # ... a deafened member does not count
        (helper.id, music, {}),  # ... nor does a bot
        (who["bryony"], gaming, {}),  # with lark: three humans in Gaming
        (who["cedar"], gaming, {}),
        (who["juniper"], gaming, {"deaf": True}),  # server-deafened: does not earn
        (who["dahlia"], afk, {}),  # two humans, but the AFK channel
        (who["ember"], afk, {}),
        (who["flint"], lounge, {"self_deaf": True}),  # self-deafened: does not earn
        (who["garnet"], lounge, {}),  # earns with dorian; harper is self-muted
    ]
    async with stack.pipeline(("xp",)):
        for user, channel, flags in moves:
            set_voice_state(world, guild, guild.members[user], world.channel(channel), **flags)
        placed = scenario | {
            user: (channel, flags.get("self_deaf", False)) for user, channel, flags in moves
        }
        await wait_until(
            lambda: voice_states_stored(redis, keyspace, guild, placed),
            within=WITHIN,
            what="voice states in Redis",
        )
        minute = int(time.time()) // 60
        for tick in (minute, minute):  # the second tick of the same minute pays nothing
            await enqueue(redis, keyspace, "xp", VOICE_TICK_TASK, minute=tick)
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="ticks")
        earners = {
            who["bryony"],
            who["cedar"],
            user_named(sandbox, "lark"),
            user_named(sandbox, "dorian"),
            who["garnet"],
        }
        assert await int_hash(redis, keyspace.key("xp", guild.id)) == dict.fromkeys(earners, 10)

        # indigo undeafens: Music now has two humans; garnet leaves the Lounge, where dorian
        # still counts harper (self-muted members are present, they just do not earn).
        indigo, garnet = guild.members[who["indigo"]], guild.members[who["garnet"]]
        set_voice_state(world, guild, indigo, world.channel(music), self_deaf=False)
        set_voice_state(world, guild, garnet, None)
        changed = {indigo.user_id: (music, False), garnet.user_id: (None, False)}
        await wait_until(
            lambda: voice_states_stored(redis, keyspace, guild, changed),
            within=WITHIN,
            what="the changes in Redis",
        )
        await enqueue(redis, keyspace, "xp", VOICE_TICK_TASK, minute=minute + 1)
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="tick")
    xp = await int_hash(redis, keyspace.key("xp", guild.id))
    second = earners - {who["garnet"]} | {who["alder"], who["indigo"]}
    assert xp == {m: 10 * ((m in earners) + (m in second)) for m in earners | second}
    minutes = await int_hash(redis, keyspace.key("xp_voice_minutes", guild.id))
    assert minutes == {m: x // 10 for m, x in xp.items()}
