"""The premium limits of one giveaway through `/giveaway start` (the sandbox, the real hikari
client): on the free tier, more winners or more days than it allows are refused with the
kernel's words and Discord's premium button, and nothing is created; a duration past the hard
ceiling is refused whatever the tier; what fits starts."""

from __future__ import annotations

import typing

import pytest

from townsquare.core.guilds.service import ensure_guild
from townsquare.features.giveaways.domain.models import Giveaway

if typing.TYPE_CHECKING:
    from tests.support.bot import BotRunning
    from tests.support.discord import Answer, Discord
    from tests.support.pipeline import Stack

pytestmark = pytest.mark.integration


def premium_button(answer: Answer) -> dict[str, typing.Any]:
    [[button]] = [row["components"] for row in answer.components]
    return typing.cast("dict[str, typing.Any]", button)


async def test_winners_and_duration_past_the_free_tier_are_refused_with_the_upgrade(
    stack: Stack, discord: Discord, bot_running: BotRunning
) -> None:
    await ensure_guild(stack.guild.id)
    async with stack.worker(("jobs",)), bot_running():
        winners = await discord.run(
            "mayor", "/giveaway start", prize="Mug", duration="1h", winners=6
        )
        month = await discord.run("mayor", "/giveaway start", prize="Mug", duration="30d1h")
        year = await discord.run("mayor", "/giveaway start", prize="Mug", duration="366d")
        assert not await Giveaway.exists()
        fits = await discord.run("mayor", "/giveaway start", prize="Mug", duration="30d", winners=5)
    assert winners.ephemeral and winners.content == "6 of 5 winners on Free; Plus allows 25."
    assert month.content == "31 of 30 days per giveaway on Free; Plus allows 90."
    for refused in (winners, month):
        assert premium_button(refused)["style"] == 6, "Discord's premium button"
    assert year.content == "`duration`: 366d is too long: the longest is 52w 1d."
    assert not year.components
    assert "started in" in fits.content, fits.content
    giveaway = await Giveaway.get()
    assert giveaway.winner_count == 5
    assert (giveaway.ends_at - giveaway.starts_at).days == 30
