"""The shipped `large` scenario has the promised shape (5,000 guilds, 300,000 members, 16
shards), and a scaled copy builds exactly what its numbers say. Nothing starts a shard: the
benchmark (`benchmarks/bench_large.py`) runs it; the full build takes seconds, so only the
arithmetic of the full size is checked here, and a 1/25 copy is built."""

from __future__ import annotations

import collections
import datetime
import typing

import pytest

from townsquare.sandbox import Sandbox
from townsquare.sandbox.world import build_world, load_scenario
from townsquare.sandbox.world.generated import GeneratedShape, guild_sizes

if typing.TYPE_CHECKING:
    import aiohttp

    from townsquare.sandbox.world import Scenario

SHARDS = 16
EPOCH = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)


def small_large() -> Scenario:
    scenario = load_scenario("large")
    assert scenario.generated is not None
    return scenario.model_copy(update={"generated": scenario.generated.scaled(1 / 25)})


def test_the_large_scenario_promises_thousands_of_guilds_and_hundreds_of_thousands_of_members() -> (
    None
):
    scenario = load_scenario("large")
    assert scenario.shards == SHARDS
    spec = scenario.generated
    assert spec is not None
    sizes = guild_sizes(spec.shape())
    assert len(sizes) == 5_000
    assert sum(sizes) == 300_000
    assert min(sizes) >= 2
    assert max(sizes) <= spec.people == 150_000
    # A long tail with some big communities: GUILD_CREATE leaves out their members.
    assert 100 <= sum(size > 250 for size in sizes) <= 200
    assert sorted(sizes)[len(sizes) // 2] < 50
    assert guild_sizes(spec.shape()) == sizes  # the seed decides, nothing else


def test_a_scaled_copy_builds_every_guild_member_and_shard_its_numbers_say() -> None:
    scenario = small_large()
    spec = scenario.generated
    assert spec is not None
    assert (spec.guilds, spec.members, spec.people) == (200, 12_000, 6_000)
    world = build_world(scenario, clock=lambda: EPOCH)
    sizes = guild_sizes(spec.shape())
    guilds = list(world.guilds.values())
    bot = world.application.bot_user_id
    assert [len(g.members) - 1 for g in guilds] == sizes  # each guild also has the bot
    assert all(bot in g.members for g in guilds)
    assert all(g.owner_id in g.members and g.owner_id != bot for g in guilds)
    assert len(world.users) == spec.people + 1
    people = {u for g in guilds for u in g.members} - {bot}
    assert len(people) <= spec.people
    assert sum(len(g.voice_states) for g in guilds) == len(guilds)  # one in the lounge each
    per_shard = collections.Counter((g.id >> 22) % SHARDS for g in guilds)
    assert sorted(per_shard) == list(range(SHARDS))
    assert max(per_shard.values()) - min(per_shard.values()) <= 1
    again = build_world(scenario, clock=lambda: EPOCH)
    assert list(again.guilds) == list(world.guilds)
    assert [list(g.members) for g in again.guilds.values()] == [list(g.members) for g in guilds]


async def test_gateway_bot_recommends_the_scenarios_shard_count(
    http: aiohttp.ClientSession,
) -> None:
    async with Sandbox(scenario=small_large()) as info:
        headers = {"Authorization": f"Bot {info.bot_token}"}
        async with http.get(f"{info.rest_url}/gateway/bot", headers=headers) as response:
            assert response.status == 200
            assert (await response.json())["shards"] == SHARDS
    async with Sandbox(scenario="demo") as info:  # no `shards`: one per 1,000 guilds
        headers = {"Authorization": f"Bot {info.bot_token}"}
        async with http.get(f"{info.rest_url}/gateway/bot", headers=headers) as response:
            assert (await response.json())["shards"] == 1


@pytest.mark.parametrize(
    ("shape", "says"),
    [
        (GeneratedShape(10, 15, 100, 0, 0.9, 2), "15 members cannot give each of 10 guilds"),
        (GeneratedShape(10, 1_000, 50, 0, 2.0, 2), "the biggest guild would have"),
        (GeneratedShape(0, 10, 10, 0, 0.9, 2), "guilds must be at least 1"),
    ],
)
def test_numbers_that_cannot_be_met_are_refused_saying_why(
    shape: GeneratedShape, says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        guild_sizes(shape)
