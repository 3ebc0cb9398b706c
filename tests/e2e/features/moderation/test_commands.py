"""End to end: the moderation commands through the sandbox, the real `GatewayBot`, the HTTP
service's internal API (where the kernel's guard decides and acts with the real hikari REST
client), Redis and PostgreSQL."""

from __future__ import annotations

import datetime
import typing

import pytest

from tests.support.moderation import configure_moderation, dms_to, log_entries, moderation_section
from tests.support.waiting import wait_until
from tests.support.world import channel_named
from townsquare.core.audit.models import AuditEntry
from townsquare.core.guard.models import Case, CaseCounter

if typing.TYPE_CHECKING:
    from tests.support.bot import BotRunning
    from tests.support.discord import Discord
    from tests.support.pipeline import Stack

pytestmark = pytest.mark.integration


async def test_actions_execute_record_tell_and_log(
    discord: Discord, stack: Stack, bot_running: BotRunning
) -> None:
    guild = discord.guild
    log = channel_named(guild, "mod-log")
    section = moderation_section(log_channel_id=log, appeal_text="Write to appeals@example.org")
    await configure_moderation(guild.id, section)
    alder, reed, thorn = discord.user("alder"), discord.user("reed"), discord.user("thorn")
    discord.sandbox.world.users[thorn].dms_closed = True

    async with bot_running():
        warned = await discord.run("ada", "/warn", member=alder, reason="rude in #general")
        timed = await discord.run("ada", "/timeout", member=alder, duration="2h", reason="again")
        banned = await discord.run("ada", "/ban", member=reed, reason="raid", duration="1d")
        closed = await discord.run("basil", "/warn", member=thorn, reason="spam")
        unbanned = await discord.run("basil", "/unban", user=reed, reason="appeal granted")

    assert warned.ephemeral and warned.content.startswith(f"Warned <@{alder}> · case 1.")
    assert "They were told by DM." in warned.content
    assert timed.content.startswith(f"Timed out <@{alder}> · case 2.")
    assert banned.content.startswith(f"Banned <@{reed}> · case 3.")
    assert "Their DMs are closed" in closed.content
    assert unbanned.content.startswith(f"Unbanned <@{reed}> · case 5.")

    member = guild.members[alder]
    until = member.communication_disabled_until
    assert until is not None
    assert datetime.timedelta(hours=1, minutes=59) < until - datetime.datetime.now(datetime.UTC)
    assert reed not in guild.members and reed not in guild.bans

    rows = await Case.filter(guild_id=guild.id).order_by("number")
    assert [(c.number, c.action, c.status) for c in rows] == [
        (1, "warn", "executed"),
        (2, "timeout", "executed"),
        (3, "ban", "executed"),
        (4, "warn", "executed"),
        (5, "unban", "executed"),
    ]
    assert [c.dm_status for c in rows] == ["sent", "sent", "sent", "closed", ""]
    assert rows[0].points == section.warn_points and rows[2].expires_at is not None
    audited = await AuditEntry.filter(guild_id=guild.id, action__startswith="moderation.")
    assert len(audited) == 5

    reed_dms = dms_to(discord.sandbox, reed)
    assert len(reed_dms) == 1, "the member is told before the ban, while they share the server"
    [dm] = reed_dms[0].embeds
    assert dm["title"] == "You were banned in Town Square Demo"
    fields = {f["name"]: f["value"] for f in dm["fields"]}
    assert fields["Case"] == "3" and fields["Appeal"] == "Write to appeals@example.org"
    await wait_until(
        lambda: len(log_entries(discord.sandbox, log)) == 5, within=5, what="five log entries"
    )
    titles = [m.embeds[0]["title"] for m in log_entries(discord.sandbox, log)]
    assert titles == [
        "Case 1 · warn",
        "Case 2 · timeout",
        "Case 3 · ban",
        "Case 4 · warn",
        "Case 5 · unban",
    ]


async def test_refusals_say_exactly_why_and_are_recorded(
    discord: Discord, stack: Stack, bot_running: BotRunning
) -> None:
    guild = discord.guild
    await configure_moderation(guild.id, moderation_section())
    basil, bryony, clover = discord.user("basil"), discord.user("bryony"), discord.user("clover")

    async with bot_running():
        no_right = await discord.run("alder", "/kick", member=bryony)
        peer = await discord.run("ada", "/kick", member=basil)
        owner = await discord.run("ada", "/ban", member=discord.user("mayor"))
        bot_below = await discord.run("mayor", "/timeout", member=clover, duration="10m")
        too_long = await discord.run("ada", "/timeout", member=bryony, duration="29d")

    assert no_right.ephemeral and no_right.content == (
        "Not done: you need the Kick Members permission or a moderator role allowed to kick. "
        "(Recorded as case 1.)"
    )
    assert peer.content.startswith(
        "Not done: your highest role Moderator is not above Basil's highest role Moderator."
    )
    assert owner.content.startswith("Not done: nobody can moderate the server owner.")
    assert bot_below.content.startswith(
        "Not done: the bot's highest role Townsquare is not above Clover's highest role "
        "Moderator (move the bot's role higher)."
    )
    assert too_long.ephemeral and too_long.content == "29d is too long: at most 28d."
    assert bryony in guild.members and basil in guild.members
    assert guild.members[clover].communication_disabled_until is None
    statuses = (
        await Case.filter(guild_id=guild.id).order_by("number").values_list("status", flat=True)
    )
    assert statuses == ["blocked"] * 4


async def test_history_pardon_note_kick_and_purge(
    discord: Discord, stack: Stack, bot_running: BotRunning
) -> None:
    guild, world = discord.guild, discord.sandbox.world
    await configure_moderation(guild.id, moderation_section(dm_members=False))
    alder, bryony = discord.user("alder"), discord.user("bryony")
    at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    for number in range(1, 13):  # 12 earlier warnings: two pages of 10
        await Case.create(
            guild_id=guild.id,
            number=number,
            key=f"seed/{number}",
            action="warn",
            source="command",
            actor_kind="user",
            actor_id=discord.user("ada"),
            actor_name="ada",
            target_id=alder,
            reason=f"warning {number}",
            status="executed",
            points=1,
            occurred_at=at + datetime.timedelta(minutes=number),
        )
    await CaseCounter.create(guild_id=guild.id, issued=12)
    channel = world.channel(discord.channel_id)
    assert channel is not None
    spam = [world.create_message(channel, bryony, f"spam {n}").id for n in range(3)]

    async with bot_running():
        first = await discord.run("ada", "/cases", member=alder)
        page_one = dict(first.embeds[0])  # the answer is live: the click edits it
        second = await discord.press("ada", first, "Next")
        edited = await discord.run("ada", "/case", number=3, reason="rude, edited")
        pardoned = await discord.run("ada", "/pardon", case=1, reason="apologised")
        nothing = await discord.run("ada", "/pardon", case=99)
        noted = await discord.run("ada", "/note", member=alder, text="keeps arguing")
        purged = await discord.run("ada", "/purge", count=10, member=bryony)
        kicked = await discord.run("ada", "/kick", member=bryony, reason="spam")
        nosy = await discord.run("alder", "/cases", member=alder)

    assert first.ephemeral and page_one["footer"]["text"] == "Page 1 of 2"
    assert "`#12` **warn**" in page_one["description"]
    assert second.embeds[0]["footer"]["text"] == "Page 2 of 2"
    assert "`#2` **warn**" in second.embeds[0]["description"]
    assert edited.embeds[0]["description"] == "rude, edited"
    assert (
        pardoned.content.startswith("Pardoned · case 13.")
        and "Case 1 no longer counts." in pardoned.content
    )
    assert nothing.content == "There is no case 99 in this server."
    assert noted.content.startswith(f"Noted on <@{alder}> · case 14.")
    assert purged.content.startswith(f"Purged messages <@{bryony}> · case 15.")
    assert not set(spam) & set(world.messages)
    assert (
        kicked.content.startswith(f"Kicked <@{bryony}> · case 16.") and bryony not in guild.members
    )
    assert nosy.content.startswith("Only moderators")
    assert (await Case.get(guild_id=guild.id, number=1)).pardoned
    assert (await Case.get(guild_id=guild.id, number=3)).reason == "rude, edited"
