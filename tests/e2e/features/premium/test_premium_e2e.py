"""Premium end to end: the sandbox's entitlements through the real hikari shards, the `jobs`
pipeline's worker, PostgreSQL and Redis, and the gate answering a slash command through the
HTTP service's internal API (`/level-rewards add`, limited by `xp.level_rewards`)."""

from __future__ import annotations

import asyncio
import io
import time
import typing

import PIL.Image
import pytest

from tests.support.bot import BotRunning
from tests.support.discord_spec import schema_errors
from tests.support.pipeline import enqueue
from tests.support.sandbox import WAIT, control
from tests.support.shards import shards_running
from tests.support.waiting import wait_until
from tests.support.workers import running_worker
from tests.support.world import channel_named, role_named, user_named
from tests.support.xp import configure
from townsquare.core.audit.models import AuditEntry
from townsquare.core.audit.service import Actor
from townsquare.core.events import GuildRecord
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.premium import Gate, PremiumCatalogue
from townsquare.features.premium.domain.models import (
    PremiumEntitlement,
    PremiumGuildState,
    PremiumSubscription,
)
from townsquare.features.premium.tasks import process_records
from townsquare.features.xp.domain.backgrounds import store_background
from townsquare.features.xp.domain.models import LevelReward, RankCardBackground
from townsquare.tasks.registry import load_tasks
from townsquare.tasks.resources import TaskResources

if typing.TYPE_CHECKING:
    import aiohttp

    from tests.support.discord import Answer, Discord
    from tests.support.pipeline import Stack

pytestmark = pytest.mark.integration

FREE_REWARDS = 10
"""The free tier's `xp.level_rewards` (docs/premium.md)."""


def _premium_button(answer: Answer) -> dict[str, typing.Any]:
    [row] = answer.components
    assert not schema_errors("ActionRowComponentForMessageRequest", row)
    [button] = row["components"]
    return typing.cast("dict[str, typing.Any]", button)


async def _tier(stack: Stack) -> str | None:
    raw = await stack.redis.hget(stack.keyspace.key("premium_tiers"), str(stack.guild.id))
    return raw.decode() if raw else None


def _red_png() -> bytes:
    out = io.BytesIO()
    PIL.Image.new("RGB", (1000, 300), "red").save(out, "PNG")
    return out.getvalue()


def _corner(answer: Answer) -> str:
    """What is drawn in the card's corner, outside its panel: `red` or `standard`."""
    content_type, data = answer.file("rank.png")
    assert content_type == "image/png"
    with PIL.Image.open(io.BytesIO(data)) as card:
        red, green, blue = card.convert("RGB").getpixel((4, 4))
    if red > 200 and green < 60 and blue < 60:
        return "red"
    assert (red, green, blue) == (35, 39, 42), (red, green, blue)
    return "standard"


def _dms_to(stack: Stack, user_id: int) -> list[str]:
    world = stack.sandbox.world
    channels = {c.id for c in world.dm_channels.values() if user_id in c.recipient_ids}
    return [m.content for m in world.messages.values() if m.channel_id in channels]


@pytest.mark.timing  # "within a second" is wall-clock time: run alone, not beside 3 workers
async def test_buying_lifts_the_limit_within_a_second_and_ending_pauses_after_the_grace_period(
    stack: Stack, discord: Discord, bot_running: BotRunning, http: aiohttp.ClientSession
) -> None:
    guild, info = stack.guild, stack.sandbox.info
    mayor = discord.user("mayor")
    mod_log = channel_named(guild, "mod-log")
    await ensure_guild(guild.id)
    await configure(guild.id, moderation={"log_channel_id": mod_log})
    level_5 = role_named(guild, "Level 5")
    for level in range(1, FREE_REWARDS + 1):
        await LevelReward.create(guild_id=guild.id, level=level, role_id=level_5)
    level_10 = role_named(guild, "Level 10")

    async with stack.worker(("jobs",)), bot_running():
        refused = await discord.run("mayor", "/level-rewards add", level=20, role=level_10)
        assert refused.ephemeral
        assert refused.content == "10 of 10 level rewards on Free; Plus allows 50."
        # Discord's premium button for the sandbox's SKU (Pro by default; no SKU sells Plus).
        button = _premium_button(refused)
        assert (button["type"], button["style"], str(button["sku_id"])) == (2, 6, str(info.sku_id))
        assert not {"custom_id", "url", "label"} & set(button)

        loop = asyncio.get_running_loop()
        bought = await control(
            http, info, "POST", "/entitlements", {"user_id": str(mayor), "guild_id": str(guild.id)}
        )
        started = loop.time()

        async def allowed() -> bool:
            answer = await discord.run("mayor", "/level-rewards add", level=20, role=level_10)
            return not answer.components

        await wait_until(allowed, within=1.0, interval=0.0, what="the reward allowed")
        assert loop.time() - started < 1.0
        assert await LevelReward.filter(guild_id=guild.id).count() == FREE_REWARDS + 1
        assert await _tier(stack) == "pro"
        shown = await discord.run("alder", "/premium")
        [embed] = shown.embeds
        assert embed["title"] == "Premium: Pro"
        assert {f["name"]: f["value"] for f in embed["fields"]}["From"] == (
            "a Discord subscription"
        )
        assert "11 of 100 level rewards on Pro." in embed["description"].splitlines()
        assert not shown.components  # Pro is the top tier: nothing to buy
        # Pro includes a custom rank-card background: /rank draws it.
        gate = Gate(stack.redis, stack.keyspace, PremiumCatalogue(stack.settings.premium))
        await store_background(guild.id, _red_png(), Actor.system(), gate=gate)
        assert _corner(await discord.run("alder", "/rank")) == "red"

        # Refunded: the grace period starts (Pro kept), the owner and the log are told once.
        await control(http, info, "DELETE", f"/entitlements/{bought['id']}")
        await wait_until(
            lambda: bool(_dms_to(stack, mayor)), within=WAIT, what="the owner's grace notice"
        )
        state = await PremiumGuildState.get(guild_id=guild.id)
        assert (state.tier, state.paid_tier, state.grace_tier) == ("pro", "free", "pro")
        assert state.grace_until is not None
        listed = await discord.run("mayor", "/level-rewards list")
        assert listed.content.startswith("11 of 100 level rewards on Pro.")
        assert "(paused)" not in listed.content

        # After the grace period (simulated time): the sweep, twice, as after a restart.
        after = int(state.grace_until.timestamp() * 1000) + 1000
        for _ in range(2):
            await enqueue(stack.redis, stack.keyspace, "jobs", "premium.sweep", now_ms=after)
            await stack.drained("jobs")
        assert await _tier(stack) is None  # free: no entry
        shown: list[Answer] = []

        async def on_free() -> bool:
            # Each process keeps a guild's tier for premium.gate_cache_seconds (0.5 s).
            shown.append(await discord.run("mayor", "/level-rewards list"))
            return "on Free" in shown[-1].content

        await wait_until(on_free, within=2.0, interval=0.1, what="the HTTP service's gate on Free")
        listed = shown[-1]
        again = await discord.run("mayor", "/level-rewards add", level=30, role=level_10)
        standard = _corner(await discord.run("alder", "/rank"))  # the background is paused
        on_free = await discord.run("alder", "/premium")

    assert listed.content.startswith("11 of 10 level rewards on Free; Plus allows 50.")
    assert listed.content.count("(paused)") == 1
    assert "Level 20: " in next(line for line in listed.content.splitlines() if "paused" in line)
    assert again.content == "11 of 10 level rewards on Free; Plus allows 50."
    assert standard == "standard"
    [embed] = on_free.embeds
    assert embed["title"] == "Premium: Free"
    assert "⚠️ 11 of 10 level rewards on Free; Plus allows 50. The extra ones are paused." in (
        embed["description"].splitlines()
    )
    assert str(_premium_button(on_free)["sku_id"]) == str(info.sku_id)  # buy a higher tier
    assert await RankCardBackground.exists(guild_id=guild.id)  # kept
    assert await LevelReward.filter(guild_id=guild.id).count() == FREE_REWARDS + 1  # kept
    [dm] = _dms_to(stack, mayor)
    assert "Pro premium of **Town Square Demo** has ended" in dm
    logged = [m for m in stack.sandbox.world.messages.values() if m.channel_id == mod_log]
    assert [m.content for m in logged] == [dm]
    actions = await AuditEntry.filter(action="premium.entitlement").count()
    assert actions == 2  # created, then revoked


async def test_entitlements_bought_while_the_shards_were_down_are_reconciled(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    guild, info = stack.guild, stack.sandbox.info
    mayor = user_named(stack.sandbox, "mayor")
    # Nobody listens: the ENTITLEMENT_CREATE events are lost.
    for_guild = await control(
        http, info, "POST", "/entitlements", {"user_id": str(mayor), "guild_id": str(guild.id)}
    )
    for_user = await control(http, info, "POST", "/entitlements", {"user_id": str(mayor)})
    settings, redis_url, keyspace = stack.settings, stack.redis_url, stack.keyspace
    async with (
        running_worker(settings, redis_url, keyspace, load_tasks(), ("jobs",)),
        shards_running(settings, redis_url, keyspace, info),
    ):
        # The shard receives the guild at start-up: its entitlements are reconciled.
        async def pro() -> bool:
            return await _tier(stack) == "pro"

        await wait_until(pro, within=WAIT, what="the guild on Pro")
        # The periodic sweep reconciles every entitlement, users' own too.
        await enqueue(stack.redis, keyspace, "jobs", "premium.sweep")
        await stack.drained("jobs")
    [subscription] = await PremiumSubscription.filter(guild_id=guild.id)
    assert subscription.entitlement_id == int(for_guild["id"])
    assert subscription.tier == "pro"
    own = await PremiumEntitlement.get(id=int(for_user["id"]))
    assert (own.guild_id, own.user_id) == (None, mayor)
    assert await PremiumSubscription.filter(entitlement_id=own.id).count() == 0


async def test_a_shard_start_with_many_guilds_reconciles_every_entitlement_once(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    guild, info = stack.guild, stack.sandbox.info
    mayor = user_named(stack.sandbox, "mayor")
    await control(
        http, info, "POST", "/entitlements", {"user_id": str(mayor), "guild_id": str(guild.id)}
    )
    now_ms = int(time.time() * 1000)
    records = [
        GuildRecord(
            guild_id=guild.id + n,
            name=f"g{n}",
            owner_id=mayor,
            afk_channel_id=None,
            timestamp_ms=now_ms,
        ).model_dump(mode="json")
        for n in range(12)
    ]
    resources = TaskResources(stack.settings, stack.keyspace, stack.redis)
    try:
        assert await process_records(records, resources) == 1  # the demo guild, now Pro
        assert await process_records(records, resources) == 0  # within 10 s: not again
    finally:
        await resources.rest.close()
    assert await _tier(stack) == "pro"
    calls = [
        call
        for call in stack.sandbox.rest.calls
        if call.method == "GET" and call.route.endswith("/entitlements")
    ]
    assert len(calls) == 1  # one paged listing of every entitlement, not one per guild
