"""What goes wrong around a giveaway's end, through the sandbox with the real hikari client,
real Redis and PostgreSQL: winners whose DMs are closed (Discord's 50007), Discord failing
(429, then 5xx whose answers are lost) while the winners are announced, and the bot losing
the giveaway's channel after the start. Time is the giveaways' clock, moved by the test."""

from __future__ import annotations

import typing

import pytest

from tests.support.alerts import channel_texts, dm_texts
from tests.support.giveaways import WITHIN
from tests.support.sandbox import control
from tests.support.waiting import wait_until
from tests.support.world import channel_named, user_named
from tests.support.xp import configure
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.giveaways.domain import jobs
from townsquare.features.giveaways.domain.models import PickOutcome
from townsquare.sandbox.world.models import Overwrite
from townsquare.sandbox.world.permissions import Permission
from townsquare.tasks.alert_delivery import DELIVER_TASK

if typing.TYPE_CHECKING:
    import aiohttp

    from tests.support.bot import BotRunning
    from tests.support.giveaways import Giveaways
    from tests.support.pipeline import Stack
    from townsquare.features.giveaways.domain.clock import Clock
    from townsquare.features.giveaways.domain.models import GiveawayPick
    from townsquare.sandbox.rest.app import RestCall

pytestmark = pytest.mark.integration

ENTRANTS: typing.Final = ("alder", "bryony", "cedar")
MESSAGES_ROUTE: typing.Final = "/api/v10/channels/{channel_id}/messages"


def posts(stack: Stack, channel_id: int) -> list[RestCall]:
    """The bot's create-message calls in `channel_id`, as the sandbox recorded them."""
    path = MESSAGES_ROUTE.replace("{channel_id}", str(channel_id))
    return [c for c in stack.sandbox.rest.calls if c.method == "POST" and c.path == path]


def dm_posts(stack: Stack, user_id: int) -> list[RestCall]:
    world = stack.sandbox.world
    channels = [c.id for c in world.dm_channels.values() if user_id in c.recipient_ids]
    return [call for channel_id in channels for call in posts(stack, channel_id)]


async def winners_told(giveaways: Giveaways, giveaway_id: int) -> list[GiveawayPick]:
    """The winners once each one's DM is recorded (`sent` or `closed`)."""

    async def recorded() -> bool:
        picks = [p for p in await giveaways.picks(giveaway_id) if p.slot is not None]
        return bool(picks) and all(p.dm is not None for p in picks)

    await wait_until(recorded, within=WITHIN, what="every winner's DM recorded")
    return [p for p in await giveaways.picks(giveaway_id) if p.slot is not None]


async def test_winners_with_closed_dms_claim_from_the_announcement(
    stack: Stack, giveaways: Giveaways, giveaway_clock: Clock, bot_running: BotRunning
) -> None:
    world = stack.sandbox.world
    entrants = [user_named(stack.sandbox, name) for name in ENTRANTS]
    for user_id in entrants:
        world.users[user_id].dms_closed = True
    names = dict(zip(entrants, ENTRANTS, strict=True))
    general = channel_named(stack.guild, "general")
    async with stack.worker(("jobs",)), bot_running():
        giveaway = await giveaways.running(stack, entrants, winners=2)
        giveaway_clock.advance(601)
        await giveaways.tick()
        await giveaways.until_state(giveaway.id, "claiming")
        winners = await winners_told(giveaways, giveaway.id)
        [announced] = giveaways.channel_messages(general, "Congratulations")
        claimed = await giveaways.click(names[winners[0].user_id], announced, "Claim")
        assert claimed.content == "🎉 Claimed! **Sticker pack** is yours; the host has been told."
        await giveaways.tick()  # nothing left to announce or to DM again
        await stack.drained("jobs")
    assert [p.dm for p in winners] == ["closed", "closed"]
    picks = await giveaways.picks(giveaway.id)
    assert [p.outcome for p in picks] == [PickOutcome.CLAIMED, PickOutcome.PENDING]
    for pick in winners:
        assert giveaways.dms(pick.user_id) == []
        [refused] = dm_posts(stack, pick.user_id)  # tried once, never again
        assert refused.status == 403
        assert refused.body["nonce"]
    assert len(giveaways.channel_messages(general, "Congratulations")) == 1
    assert not await stack.redis.xlen(stack.keyspace.key("dead_letter", "jobs"))


async def test_discord_failing_while_announcing_retries_and_posts_once(
    stack: Stack, giveaways: Giveaways, giveaway_clock: Clock, http: aiohttp.ClientSession
) -> None:
    entrants = [user_named(stack.sandbox, name) for name in ENTRANTS]
    general = channel_named(stack.guild, "general")
    info = stack.sandbox.info
    async with stack.worker(("jobs",)):
        giveaway = await giveaways.running(stack, entrants, winners=2)
        await stack.drained("jobs")
        fault = {"method": "POST", "route": MESSAGES_ROUTE, "path": f"/api/v10/channels/{general}"}
        # First a rate limit (hikari waits it out), then four 503s whose call went through but
        # whose answer was lost: more than hikari's three retries, so the job fails and the
        # jobs pipeline runs it again.
        limited = await control(
            http,
            info,
            "POST",
            "/faults/rest",
            fault | {"status": 429, "retry_after": 0.5, "count": 1},
        )
        lost = await control(
            http, info, "POST", "/faults/rest", fault | {"status": 503, "when": "after", "count": 4}
        )
        before = len(posts(stack, general))
        giveaway_clock.advance(601)
        await giveaways.tick()
        await giveaways.until_state(giveaway.id, "claiming")
        winners = await winners_told(giveaways, giveaway.id)
        await stack.drained("jobs")
    tried = posts(stack, general)[before:]
    assert [c.fault for c in tried] == [limited["id"], *[lost["id"]] * 4]
    assert [c.status for c in tried] == [429, 503, 503, 503, 503]
    assert len({c.body["nonce"] for c in tried}) == 1, "every attempt is the same post"
    [announced] = giveaways.channel_messages(general, "Congratulations")
    assert all(f"<@{p.user_id}>" in announced.content for p in winners)
    assert all(p.announced_at is not None for p in winners)
    for pick in winners:
        assert len(giveaways.dms(pick.user_id)) == 1


async def test_losing_the_channel_after_the_start_alerts_the_guild_and_dms_the_winners(
    stack: Stack, giveaways: Giveaways, giveaway_clock: Clock
) -> None:
    guild, sandbox = stack.guild, stack.sandbox
    entrants = [user_named(sandbox, name) for name in ENTRANTS]
    general, mod_log = channel_named(guild, "general"), channel_named(guild, "mod-log")
    host = user_named(sandbox, "mayor")
    await ensure_guild(guild.id)
    await configure(guild.id, moderation={"log_channel_id": mod_log})
    async with stack.worker(("jobs",)):
        giveaway = await giveaways.running(stack, entrants, winners=2)
        # A moderator takes the channel away from the bot while the giveaway runs.
        channel = sandbox.world.channel(general)
        assert channel is not None
        denied = Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES
        channel.overwrites.append(
            Overwrite(sandbox.world.application.bot_user_id, 1, deny=int(denied))
        )
        giveaway_clock.advance(601)
        await giveaways.tick()
        await giveaways.until_state(giveaway.id, "claiming")
        winners = await winners_told(giveaways, giveaway.id)
        await jobs.enqueue(stack.redis, stack.keyspace, 10_000, DELIVER_TASK)
        await wait_until(
            lambda: any("could not announce" in t for t in channel_texts(sandbox, mod_log)),
            within=WITHIN,
            what="the guild alert",
        )
        await giveaways.tick()
        await stack.drained("jobs")
    # Also, maybe, an earlier one: the tick could not edit the entry count any more.
    [alert] = [t for t in channel_texts(sandbox, mod_log) if "could not announce" in t]
    assert f"could not announce its winners in <#{general}>" in alert
    assert "give me back View Channel, Send Messages and Embed Links" in alert
    assert [p.dm for p in winners] == ["sent", "sent"]
    for pick in winners:
        [won] = giveaways.dms(pick.user_id)
        assert won.content.startswith("🎉 You won **Sticker pack**")
        [[button]] = [row["components"] for row in won.components]
        assert button["label"] == "Claim"
    [told] = [t for t in dm_texts(sandbox, host) if "I can no longer post in" in t]
    assert told.endswith("so its winners were told by DM only.")
    assert not giveaways.channel_messages(general, "Congratulations")
    assert not await stack.redis.xlen(stack.keyspace.key("dead_letter", "jobs"))
