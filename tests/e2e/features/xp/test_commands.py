"""End to end: the XP commands (`/rank`, `/leaderboard`, `/xp` and its confirmation buttons)
through the sandbox, the real `GatewayBot`, the HTTP service's internal API, Redis and
PostgreSQL (the bot: `tests/support/bot.py`; the driver: `tests/support/discord.py`)."""

from __future__ import annotations

import io
import typing

import PIL.Image
import pytest

from tests.support.bot import BotRunning, mentioned_ids
from tests.support.discord import Answer
from tests.support.sandbox import WAIT
from tests.support.waiting import wait_until
from townsquare.core.audit.models import AuditEntry
from townsquare.features.xp.domain.rank_card import RankCard, render_rank_card
from townsquare.features.xp.domain.wire import MAX_AMOUNT

if typing.TYPE_CHECKING:
    from tests.support.discord import Discord
    from tests.support.xp import Totals

pytestmark = pytest.mark.integration


async def test_leaderboard_pages_in_order_with_ties_by_user_id(
    discord: Discord, totals: Totals, bot_running: BotRunning
) -> None:
    names = ["ada", "basil", "clover", "dorian", "elsie", "fennel", "gideon", "harper"]
    names += ["iris", "jasper", "kestrel", "lark"]
    ids = [discord.user(name) for name in names]
    # Pairs tie: 1200, 1200, 1100, 1100, ...
    xp = {member: 1200 - (index // 2) * 100 for index, member in enumerate(ids)}
    await totals.put(xp)
    expected = sorted(xp, key=lambda member: (-xp[member], member))

    async with bot_running():
        first = await discord.run("alder", "/leaderboard")
        second = await discord.run("alder", "/leaderboard", page=2)
        refusal = await discord.run("alder", "/leaderboard", page=3)

    [embed] = first.embeds
    assert not first.ephemeral
    assert mentioned_ids(embed["description"]) == expected[:10]
    assert embed["description"].splitlines()[0] == f"`#1` <@{expected[0]}> · level 5 · 1,200 XP"
    assert embed["footer"]["text"] == "Page 1 of 2 · 12 ranked members"
    assert mentioned_ids(second.embeds[0]["description"]) == expected[10:]
    assert second.embeds[0]["description"].startswith("`#11` ")
    assert refusal.ephemeral
    assert refusal.content == "There is no page 3: the leaderboard has pages 1 to 2."


async def test_rank_for_the_invoker_and_for_a_named_member(
    discord: Discord, totals: Totals, bot_running: BotRunning
) -> None:
    ada, harper, iris = (discord.user(name) for name in ("ada", "harper", "iris"))
    await totals.put({ada: 300, harper: 1500, iris: 300})

    async with bot_running():
        own = await discord.run("ada", "/rank")
        named = await discord.run("ada", "/rank", member=harper)
        newcomer = await discord.run("alder", "/rank")

    # Each answer carries the card: a PNG rendered with Pillow, uploaded as a file.
    cards = [card_of(answer) for answer in (own, named, newcomer)]
    for card in cards:
        assert card.format == "PNG"
        assert card.size == (934, 282)
    assert len({card.tobytes() for card in cards}) == 3, "each member gets their own card"
    # The same facts, rendered: the card of `own` is the card core renders for them.
    expected = render_rank_card(RankCard("Ada", 2, 300, 255, 475, 2), None)
    assert cards[0].tobytes() == PIL.Image.open(io.BytesIO(expected)).tobytes()


def card_of(answer: Answer) -> PIL.Image.Image:
    [attachment] = answer.attachments
    assert attachment["filename"] == "rank.png"
    content_type, data = answer.file("rank.png")
    assert content_type == "image/png"
    return PIL.Image.open(io.BytesIO(data))


async def test_xp_set_by_a_manager_changes_the_total_and_is_audited(
    discord: Discord, totals: Totals, bot_running: BotRunning
) -> None:
    guild = discord.guild
    mayor, alder = discord.user("mayor"), discord.user("alder")

    async with bot_running():
        reply = await discord.run("mayor", "/xp set", member=alder, amount=1150)
        added = await discord.run("mayor", "/xp add", member=alder, amount=50)
        removed = await discord.run("mayor", "/xp remove", member=alder, amount=100)
        refused = await discord.run("mayor", "/xp add", member=alder, amount=MAX_AMOUNT + 1)
        reset = await discord.run("mayor", "/xp reset", member=alder)

    assert reply.ephemeral
    assert reply.content == f"Set <@{alder}>'s XP to 1,150: now 1,150 XP, level 5."
    assert added.content == f"Gave 50 XP to <@{alder}>: now 1,200 XP, level 5."
    assert removed.content == f"Took 100 XP from <@{alder}>: now 1,100 XP, level 4."
    assert refused.ephemeral and "must be between 0 and 1,000,000,000" in refused.content
    assert reset.content == f"Reset <@{alder}>: 0 XP, level 0."
    assert await totals.of(alder) == 0
    entries = await AuditEntry.filter(guild_id=guild.id).order_by("id")
    assert [(e.action, e.actor_id, e.target, e.before, e.after) for e in entries] == [
        ("xp.set", mayor, f"member {alder}", {"xp": 0}, {"xp": 1150}),
        ("xp.add", mayor, f"member {alder}", {"xp": 1150}, {"xp": 1200}),
        ("xp.remove", mayor, f"member {alder}", {"xp": 1200}, {"xp": 1100}),
        ("xp.reset_member", mayor, f"member {alder}", {"xp": 1100}, {"xp": 0}),
    ]
    assert all(e.actor_name == "mayor" for e in entries)


async def test_reset_guild_waits_for_the_invokers_confirmation(
    discord: Discord, totals: Totals, bot_running: BotRunning
) -> None:
    guild = discord.guild
    members = [discord.user(name) for name in ("ada", "basil", "clover")]
    await totals.put(dict.fromkeys(members, 500))

    async with bot_running():
        question = await discord.run("mayor", "/xp reset-guild")
        assert question.ephemeral
        assert "Reset **every** member" in question.content
        assert set(question.buttons) == {"Confirm", "Cancel"}
        assert [await totals.of(m) for m in members] == [500] * 3

        # Someone else's click is refused privately and changes nothing.
        refusal = await discord.press("sheriff", question, "Confirm")
        assert refusal.ephemeral
        assert (
            refusal.content
            == f"Only <@{discord.user('mayor')}>, who asked for this, can answer it."
        )
        assert [await totals.of(m) for m in members] == [500] * 3

        confirmed = await discord.press("mayor", question, "Confirm")
        assert confirmed.message.id == question.message.id  # the question is updated

        def done() -> bool:
            return question.content.startswith("Reset the whole server")

        await wait_until(done, within=WAIT, what="the question replaced by the result")

    assert question.content == "Reset the whole server: 3 members back to 0 XP."
    assert not question.components
    assert [await totals.of(m) for m in members] == [0, 0, 0]
    [entry] = await AuditEntry.filter(guild_id=guild.id, action="xp.reset_guild")
    assert (entry.actor_id, entry.before) == (discord.user("mayor"), {"members": 3})


async def test_reset_guild_confirmation_expires(
    discord: Discord, totals: Totals, bot_running: BotRunning
) -> None:
    ada = discord.user("ada")
    await totals.put({ada: 500})
    async with bot_running(confirm_seconds=1.0):
        question = await discord.run("mayor", "/xp reset-guild")
        assert "The buttons work for 1 s." in question.content
        confirm = question.buttons["Confirm"]

        def expired() -> bool:
            return question.content == "Expired: nothing was changed."

        await wait_until(expired, within=WAIT, what="the question to expire")
        assert not question.components
        status, _ = await discord.click("mayor", question.message, confirm)
        assert status == 404  # the button is gone
    assert await totals.of(ada) == 500
