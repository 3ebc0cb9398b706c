"""Level rewards past the tier's limit are paused by the level jobs themselves: after a
downgrade, a member who levels up (`/xp set` through the real shards and the HTTP service's
internal API) gets the active rewards' roles from the `jobs` worker, not the paused one's;
re-subscribing makes the next level job grant it."""

from __future__ import annotations

import dataclasses
import datetime
import typing

import pytest

from tests.support.pipeline import WITHIN
from tests.support.waiting import wait_until
from tests.support.world import role_named
from townsquare.core.audit.service import Actor
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.premium import PremiumCatalogue
from townsquare.features.premium.domain.service import grant, revoke
from townsquare.features.premium.domain.status import sync_guild
from townsquare.features.xp.domain.models import LevelReward

if typing.TYPE_CHECKING:
    from tests.support.bot import BotRunning
    from tests.support.discord import Discord
    from tests.support.pipeline import Stack

pytestmark = pytest.mark.integration

LEVEL_11_XP, LEVEL_12_XP = 6_000, 7_100
"""Totals at levels 11 and 12 on the default (MEE6) curve: 5,775 and 7,030 XP start them."""


async def test_a_level_job_grants_the_active_rewards_and_skips_the_paused_one(
    stack: Stack, discord: Discord, bot_running: BotRunning
) -> None:
    # The worker's gate asks Redis at every check (no 0.5 s cache), so the job after the
    # re-subscription cannot read the tier from before it.
    premium = stack.settings.premium.model_copy(update={"gate_cache_seconds": 0.0})
    stack = dataclasses.replace(
        stack, settings=stack.settings.model_copy(update={"premium": premium})
    )
    guild, alder = stack.guild, discord.user("alder")
    level_5, level_10 = role_named(guild, "Level 5"), role_named(guild, "Level 10")
    level_25 = role_named(guild, "Level 25")
    catalogue = PremiumCatalogue(stack.settings.premium)
    await ensure_guild(guild.id)

    # On Plus, eleven rewards (the free tier allows ten); the 11th, the highest level's, has
    # a role of its own.
    now = datetime.datetime.now(datetime.UTC)
    await grant(guild.id, "plus", 30, Actor.system(), now=now)
    await sync_guild(stack.redis, stack.keyspace, catalogue, guild.id, now=now)
    for level in range(1, 10):
        await LevelReward.create(guild_id=guild.id, level=level, role_id=level_5)
    await LevelReward.create(guild_id=guild.id, level=10, role_id=level_10)
    await LevelReward.create(guild_id=guild.id, level=11, role_id=level_25)

    # Revoked, and the grace period over: the guild is on Free, its 11th reward paused.
    await revoke(guild.id, Actor.system(), now=now)
    graced = await sync_guild(stack.redis, stack.keyspace, catalogue, guild.id, now=now)
    assert (graced.tier.key, graced.source) == ("plus", "grace")
    after_grace = now + datetime.timedelta(days=stack.settings.premium.grace_days + 1)
    downgraded = await sync_guild(stack.redis, stack.keyspace, catalogue, guild.id, now=after_grace)
    assert (downgraded.tier.key, downgraded.source) == ("free", None)

    def roles() -> set[int]:
        return set(guild.members[alder].role_ids) & {level_5, level_10, level_25}

    async with stack.worker(("jobs",)), bot_running():
        set_to_11 = await discord.run("mayor", "/xp set", member=alder, amount=LEVEL_11_XP)
        await wait_until(
            lambda: roles() == {level_5, level_10}, within=WITHIN, what="the active rewards"
        )
        await stack.drained("jobs")
        on_free = roles()

        # Re-subscribed: the next level job grants the reward that was paused.
        await grant(guild.id, "plus", 30, Actor.system())
        await sync_guild(stack.redis, stack.keyspace, catalogue, guild.id)
        set_to_12 = await discord.run("mayor", "/xp set", member=alder, amount=LEVEL_12_XP)
        await wait_until(
            lambda: roles() == {level_5, level_10, level_25}, within=WITHIN, what="the resumed one"
        )

    assert set_to_11.content.endswith("level 11.")
    assert set_to_12.content.endswith("level 12.")
    assert on_free == {level_5, level_10}  # the job is done, and Level 25 was not given
    assert await LevelReward.filter(guild_id=guild.id).count() == 11  # paused, not deleted
