"""End to end: automod's invite rule resolves the codes it sees through Discord (the sandbox's
`GET /invites/{code}`), once per code thanks to Redis, and leaves invites to the guild itself
alone while another server's invite is deleted."""

from __future__ import annotations

import typing

import pytest

from tests.support.moderation import configure_moderation, moderation_section, rule
from tests.support.pipeline import WITHIN
from tests.support.sandbox import control
from tests.support.waiting import wait_until
from tests.support.world import channel_named, user_named
from townsquare.core.guard.models import Case
from townsquare.features.moderation.domain.invites import own_invites

if typing.TYPE_CHECKING:
    import aiohttp

    from tests.support.pipeline import Stack

pytestmark = pytest.mark.integration


async def test_own_invites_pass_and_others_are_deleted(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    guild, sandbox, world = stack.guild, stack.sandbox, stack.sandbox.world
    await configure_moderation(
        guild.id, moderation_section(dm_members=False, rules={"invites": rule("delete", 1)})
    )
    await control(http, sandbox.info, "POST", "/invites", {"code": "TownSquare"})
    general = world.channel(channel_named(guild, "general"))
    assert general is not None
    alder, bryony = user_named(sandbox, "alder"), user_named(sandbox, "bryony")
    async with stack.pipeline(("xp", "automod", "jobs")):
        own = [
            world.create_message(general, alder, f"our server: discord.gg/TownSquare ({n})").id
            for n in range(3)
        ]
        other = world.create_message(general, bryony, "free nitro at https://discord.gg/elsewhere")
        await wait_until(
            lambda: other.id not in world.messages, within=WITHIN, what="the other invite deleted"
        )
        await stack.drained("automod")

    assert set(own) <= set(world.messages)
    cases = await Case.filter(guild_id=guild.id).order_by("number")
    assert {c.target_id for c in cases} == {bryony}
    assert any("invite to another server (elsewhere)" in c.reason for c in cases)
    calls = await control(http, sandbox.info, "GET", "/rest-calls")
    lookups = sorted(c["path"] for c in calls if c["route"] == "/api/v10/invites/{code}")
    assert lookups == ["/api/v10/invites/TownSquare", "/api/v10/invites/elsewhere"]

    async def no_discord() -> typing.NoReturn:
        raise AssertionError("a cached code needs no lookup")

    texts = ["discord.gg/TownSquare", "discord.gg/elsewhere"]
    cached = await own_invites(stack.redis, stack.keyspace, guild.id, texts, no_discord)
    assert cached == {"townsquare"}
