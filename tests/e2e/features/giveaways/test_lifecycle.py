"""A giveaway's whole life through the sandbox with the real hikari client, real Redis and
PostgreSQL: `/giveaway start`, members clicking Enter and Leave (every kind of refusal, bonus
entries, repeated clicks), the entry count edited, the end fired by the tick, the draw
recomputed here from the revealed seed, a claim (with the Claim button of the winner's DM),
an unclaimed slot rerolled, a rerolled winner leaving the server, and the slot ending
unclaimed after its last reroll. Time is the giveaways' clock, moved forward by the test."""

from __future__ import annotations

import hashlib
import re
import typing

import pytest

from tests.support.giveaways import WITHIN, candidate_order
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.sandbox import control
from tests.support.waiting import wait_until
from tests.support.world import channel_named, role_named, user_named
from tests.support.xp import configure
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.premium import clear_guild_tier, store_guild_tier
from townsquare.features.giveaways.domain.models import PickOutcome
from townsquare.features.giveaways.domain.proof import verify_draw

if typing.TYPE_CHECKING:
    import aiohttp

    from tests.support.bot import BotRunning
    from tests.support.discord import Discord
    from tests.support.giveaways import Giveaways
    from tests.support.pipeline import Stack
    from townsquare.features.giveaways.domain.clock import Clock

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

LEVELS: typing.Final = {
    "harper": 5, "lark": 4, "dorian": 6, "elsie": 3, "nova": 3, "orla": 3, "jasper": 9,
    "kestrel": 9, "iris": 1, "milo": 4, "fennel": 50,
}  # fmt: skip
ENTRANTS: typing.Final = ("harper", "lark", "dorian", "elsie", "nova", "orla", "jasper")


def expected_picks(
    order: list[int], ineligible: set[int], slots: int
) -> list[tuple[int, int | None]]:
    """(user, slot or None when skipped) of the first draw: the order, skipping the ineligible."""
    picks: list[tuple[int, int | None]] = []
    slot = 1
    for user_id in order:
        if slot > slots:
            break
        if user_id in ineligible:
            picks.append((user_id, None))
        else:
            picks.append((user_id, slot))
            slot += 1
    return picks


async def test_a_giveaway_from_start_to_its_last_reroll(
    stack: Stack,
    discord: Discord,
    bot_running: BotRunning,
    giveaways: Giveaways,
    giveaway_clock: Clock,
    http: aiohttp.ClientSession,
) -> None:
    guild, redis, keyspace = stack.guild, stack.redis, stack.keyspace
    await ensure_guild(guild.id)
    regular, familiar = role_named(guild, "Level 25"), role_named(guild, "Level 10")
    muted, streamer = role_named(guild, "Muted"), role_named(guild, "Streamer")
    ids = {name: discord.user(name) for name in LEVELS}
    newbie = int(
        (await control(http, stack.sandbox.info, "POST", "/members", {"username": "newbie"}))[
            "user"
        ]["id"]
    )
    guild.members[newbie].role_ids.append(familiar)
    guild.members[ids["milo"]].role_ids.append(muted)
    levels = {str(ids[name]): level for name, level in LEVELS.items()} | {str(newbie): 5}
    await redis.hset(keyspace.key("xp_levels", guild.id), mapping=levels)
    await store_guild_tier(redis, keyspace, guild.id, "pro", free="free")
    general, mod_log = channel_named(guild, "general"), channel_named(guild, "mod-log")
    await configure(guild.id, giveaways={"log_channel_id": mod_log})

    async with stack.worker(("jobs",)), bot_running():
        started = await discord.run(
            "mayor",
            "/giveaway start",
            prize="Nitro",
            duration="1h",
            winners=2,
            channel=general,
            required_roles=f"<@&{regular}> <@&{familiar}>",
            excluded_roles=f"<@&{muted}>",
            min_level=3,
            account_age="7d",
            member_for="1d",
            bonus=f"<@&{streamer}> 2",
            claim_window="5m",
            max_rerolls=2,
        )
        assert started.ephemeral, started.content
        found = re.search(r"Giveaway #(\d+) for \*\*Nitro\*\* started in", started.content)
        assert found, started.content
        giveaway_id = int(found[1])
        giveaway = await giveaways.giveaway(giveaway_id)
        message = giveaways.message(giveaway.message_id)
        [embed] = message.embeds
        commitment = embed["footer"]["text"].rsplit(" ", 1)[-1]
        assert embed["title"] == "🎉 Nitro"
        assert "Level 3 or higher" in embed["fields"][0]["value"]
        assert f"Bonus: <@&{streamer}> +2 entries" in embed["fields"][0]["value"]

        async def enter(name: str) -> str:
            return (await giveaways.click(name, message, "Enter")).content

        assert await enter("fennel") == (
            "You can't enter yet: needs the Level 25 · Regular or Level 10 · Familiar Face role."
        )
        assert await enter("iris") == "You can't enter yet: needs level 3, you are level 1."
        assert (
            await enter("milo") == "You can't enter yet: members with the Muted role can't enter."
        )
        guild_user = stack.sandbox.world.users[newbie]
        refused = (await giveaways.click(guild_user.username, message, "Enter")).content
        assert refused.startswith(
            "You can't enter yet: needs an account at least 1w old, yours is "
        )
        assert "; needs 1d in the server, you have been here " in refused
        assert await enter("dorian") == "You're in (3 entries with your Streamer bonus)."
        assert await enter("harper") == "You're in (1 entry)."
        assert await enter("harper") == "You're already in (1 entry)."
        assert await enter("kestrel") == "You're in (1 entry)."
        left = await giveaways.click("kestrel", message, "Leave")
        assert left.content == "You left the giveaway. You can enter again until it ends."
        assert (await giveaways.click("iris", message, "Leave")).content == (
            "You had not entered this giveaway."
        )
        for name in ("lark", "elsie", "nova", "orla", "jasper"):
            assert (await enter(name)).startswith("You're in ("), name
        assert all(
            answer.ephemeral for answer in [await giveaways.click("harper", message, "Enter")]
        )

        await giveaways.tick()
        await wait_until(
            lambda: "7 entries" in message.embeds[0]["description"],
            within=WITHIN,
            what="the entry count edited",
        )

        # Jasper loses his role before the end: drawn, he is skipped with the reason.
        guild.members[ids["jasper"]].role_ids.remove(regular)
        giveaway_clock.advance(3601)
        await giveaways.tick()
        drawn = await giveaways.until_state(giveaway_id, "claiming")
        assert hashlib.sha256(bytes.fromhex(drawn.seed)).hexdigest() == commitment
        await wait_until(
            lambda: f"Seed `{drawn.seed}`" in message.embeds[0]["fields"][-1]["value"],
            within=WITHIN,
            what="the seed revealed in the embed",
        )
        weights = {"dorian": 3, "elsie": 3}
        entries = [(ids[name], weights.get(name, 1)) for name in ENTRANTS]
        order = candidate_order(drawn.seed, entries)
        picks = await giveaways.picks(giveaway_id)
        expected = expected_picks(order, {ids["jasper"]}, 2)
        assert [(p.user_id, p.slot) for p in picks] == expected
        assert [p.position for p in picks] == list(range(len(picks)))
        for pick in picks:
            if pick.slot is None:
                assert pick.outcome is PickOutcome.SKIPPED
                assert (
                    pick.reason == "needs the Level 25 · Regular or Level 10 · Familiar Face role"
                )
        winners = [p.user_id for p in picks if p.slot is not None]
        announced = await _announcement(giveaways, general, "Congratulations")
        assert all(f"<@{w}>" in announced.content for w in winners)
        assert all(
            "Claim" in giveaways.dms(w)[-1].components[0]["components"][0]["label"] for w in winners
        )

        names = {user_id: name for name, user_id in ids.items()}
        loser = next(name for name in ENTRANTS if ids[name] not in winners)
        not_yours = await giveaways.click(loser, announced, "Claim")
        assert not_yours.content == "You are not a winner of this giveaway."
        # The first winner claims with the Claim button of the bot's DM: an interaction with
        # no guild (the DM's user, not a member), answered privately in the DM.
        [won] = giveaways.dms(winners[0])
        claimed = await giveaways.click(names[winners[0]], won, "Claim")
        assert claimed.interaction.guild_id is None
        assert claimed.message.channel_id == won.channel_id and claimed.ephemeral
        assert claimed.content == "🎉 Claimed! **Nitro** is yours; the host has been told."
        again = await giveaways.click(names[winners[0]], announced, "Claim")
        assert again.content == "You already claimed **Nitro**."
        await wait_until(
            lambda: f"1. <@{winners[0]}> · claimed ✅" in message.embeds[0]["fields"][1]["value"],
            within=WITHIN,
            what="the embed showing the claim",
        )
        await wait_until(
            lambda: any(
                "claimed **Nitro**" in m.content for m in giveaways.dms(discord.user("mayor"))
            ),
            within=WITHIN,
            what="the host told of the claim",
        )
        await wait_until(
            lambda: bool(giveaways.channel_messages(mod_log, "claimed **Nitro**")),
            within=WITHIN,
            what="the claim in the log channel",
        )

        # Slot 2 is never claimed: rerolled once (window ran out), once more (winner left),
        # then it ends unclaimed (max_rerolls 2).
        remaining = [u for u in order if u not in {p.user_id for p in picks}]
        remaining = [u for u in remaining if u != ids["jasper"]]

        async def rerolled(count: int) -> str:
            await giveaways.tick()
            await wait_until(
                lambda: len(giveaways.channel_messages(general, "Rerolled")) == count,
                within=WITHIN,
                what=f"reroll {count} announced",
            )
            return giveaways.channel_messages(general, "Rerolled")[-1].content

        giveaway_clock.advance(301)  # the window runs out
        second = remaining[0]
        assert f"<@{second}>" in await rerolled(1)
        late = await giveaways.click(names[winners[1]], announced, "Claim")
        assert late.content == "This win is no longer yours: it was rerolled."
        await control(http, stack.sandbox.info, "POST", "/members/leave", {"user_id": str(second)})
        third = remaining[1]
        assert f"<@{third}>" in await rerolled(2)  # the winner who left, rerolled at once
        giveaway_clock.advance(301)
        await giveaways.tick()
        ended = await giveaways.until_state(giveaway_id, "ended")
        await wait_until(
            lambda: "unclaimed" in message.embeds[0]["fields"][1]["value"],
            within=WITHIN,
            what="the embed showing the unclaimed slot",
        )

        # Back on the free tier, two requirement kinds are one too many.
        await clear_guild_tier(redis, keyspace, guild.id)
        refused = await discord.run(
            "mayor", "/giveaway start", prize="Mug", duration="1h", min_level=2, member_for="1d"
        )

    assert refused.ephemeral
    assert refused.content == "2 of 1 requirement types on Free; Plus allows 3."
    [[button]] = [row["components"] for row in refused.components]
    assert button["style"] == 6, "Discord's premium button"
    proof = await verify_draw(ended)
    assert proof.ok, proof.problems
    assert proof.candidates == order[: len(proof.candidates)]
    final = await giveaways.picks(ended.id)
    slot_two = [p for p in final if p.slot == 2]
    assert [p.outcome for p in slot_two] == [
        PickOutcome.EXPIRED,
        PickOutcome.LEFT,
        PickOutcome.EXPIRED,
    ]
    assert [p.user_id for p in slot_two] == [winners[1], second, third]
    users = [p.user_id for p in final]
    assert len(users) == len(set(users)), "nobody is ever picked twice"
    [claim] = [p for p in final if p.outcome is PickOutcome.CLAIMED]
    assert (claim.user_id, claim.slot) == (winners[0], 1)
    host_dms = giveaways.dms(discord.user("mayor"))
    assert len([m for m in host_dms if "claimed **Nitro**" in m.content]) == 1
    assert len(giveaways.channel_messages(general, "Congratulations")) == 1
    value = message.embeds[0]["fields"][1]["value"]
    assert f"1. <@{winners[0]}> · claimed ✅" in value
    assert f"2. <@{third}> · unclaimed · rerolled 2 times" in value


async def _announcement(giveaways: Giveaways, channel: int, text: str) -> typing.Any:
    await wait_until(
        lambda: bool(giveaways.channel_messages(channel, text)),
        within=WITHIN,
        what="the announcement",
    )
    [message] = giveaways.channel_messages(channel, text)
    return message


async def test_a_deleted_giveaway_message_cancels_it_and_tells_the_host(
    stack: Stack, bot_running: BotRunning, giveaways: Giveaways
) -> None:
    host = user_named(stack.sandbox, "mayor")
    async with stack.worker(("jobs",)), bot_running():
        giveaway = await giveaways.running(stack, [])
        stack.sandbox.world.delete_message(giveaways.message(giveaway.message_id))
        cancelled = await giveaways.until_state(giveaway.id, "cancelled")
        await wait_until(
            lambda: any("was cancelled: its message" in m.content for m in giveaways.dms(host)),
            within=WITHIN,
            what="the host told",
        )
    assert cancelled.cancel_reason == "its message was deleted"


async def test_end_reroll_cancel_and_list_by_command(
    stack: Stack, discord: Discord, bot_running: BotRunning, giveaways: Giveaways
) -> None:
    entrants = [discord.user(name) for name in ("alder", "bryony", "cedar", "dahlia")]
    general = channel_named(stack.guild, "general")
    async with stack.worker(("jobs",)), bot_running():
        first = await giveaways.running(stack, entrants, winners=1)
        second = await giveaways.running(stack, entrants[:1], winners=1)
        listed = await discord.run("mayor", "/giveaway list")
        assert f"#{first.id} **Sticker pack** · running" in listed.embeds[0]["description"]
        refused = await discord.run("alder", "/giveaway end", id=first.id)
        assert refused.content.startswith("Only members with the Manage Server permission")

        ended = await discord.run("mayor", "/giveaway end", id=first.id)
        assert ended.content == (
            f"Ending giveaway #{first.id} (**Sticker pack**) now: the winners are announced "
            f"in <#{general}>."
        )
        await giveaways.until_state(first.id, "claiming")
        rerolled = await discord.run("mayor", "/giveaway reroll", id=first.id)
        assert rerolled.content.startswith(f"Rerolling giveaway #{first.id}")
        await wait_until(
            lambda: bool(giveaways.channel_messages(general, "Rerolled")),
            within=WITHIN,
            what="the manual reroll announced",
        )
        too_late = await discord.run("mayor", "/giveaway cancel", id=first.id)
        assert too_late.content == f"Giveaway #{first.id} is claiming: too late to cancel."
        cancelled = await discord.run("mayor", "/giveaway cancel", id=second.id)
        assert (
            cancelled.content == f"Cancelled giveaway #{second.id} (**Sticker pack**): nobody wins."
        )
        message = giveaways.message(second.message_id)
        await wait_until(
            lambda: "Cancelled: cancelled by the host" in message.embeds[0]["description"],
            within=WITHIN,
            what="the cancelled embed",
        )
        assert not message.components, "no more Enter button"
        # #rules denies everyone Send Messages, the bot included.
        rules = channel_named(stack.guild, "rules")
        nowhere = await discord.run(
            "mayor", "/giveaway start", prize="Hat", duration="1h", channel=rules
        )
        assert nowhere.ephemeral
        assert nowhere.content.endswith(
            f"could not start: I can't post in <#{rules}>: I am missing View Channel, Send "
            "Messages or Embed Links there."
        ), nowhere.content
        # The refusal is told before the alert is written: wait for it.
        alerts = stack.keyspace.key("alerts")

        async def alerted() -> bool:
            return bool(await stack.redis.xlen(alerts))

        await wait_until(alerted, within=WITHIN, what="the alert")
        [(_, alert)] = await stack.redis.xrange(alerts)
        assert alert[b"source"] == b"giveaways.publish"
    picks = await giveaways.picks(first.id)
    assert [p.outcome for p in picks if p.slot] == [PickOutcome.REPLACED, PickOutcome.PENDING]
