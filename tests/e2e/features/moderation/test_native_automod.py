"""End to end: Discord's own AutoMod blocking a message, timing a member out and alerting (three
AUTO_MODERATION_ACTION_EXECUTION dispatches from the sandbox) is one offense on the same
ledger, with the ladder after it."""

from __future__ import annotations

import typing

import pytest

from tests.support.moderation import configure_moderation, moderation_section, with_defaults
from tests.support.pipeline import WITHIN
from tests.support.sandbox import control
from tests.support.waiting import wait_until
from tests.support.world import channel_named, user_named
from townsquare.core.guard.models import Case

if typing.TYPE_CHECKING:
    import aiohttp

    from tests.support.pipeline import Stack

pytestmark = pytest.mark.integration


async def test_discords_automod_actions_are_one_offense(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    guild, sandbox = stack.guild, stack.sandbox
    automod = {"record_native": True, "native_points": 2}
    await configure_moderation(guild.id, moderation_section(automod=automod, dm_members=False))
    cedar = user_named(sandbox, "cedar")
    body = {
        "user_id": str(cedar),
        "channel_id": str(channel_named(guild, "general")),
        "content": "buy cheap followers",
        "matched_keyword": "cheap followers",
        "rule_id": "1234567890",
        "actions": [1, 2, 3],  # block, alert, timeout: three dispatches, one message
    }
    running = with_defaults(stack, automod__record_native="true")
    async with running.pipeline(("xp", "automod", "jobs")):
        await control(http, sandbox.info, "POST", "/automod/executions", body)
        await wait_until(
            lambda: Case.filter(guild_id=guild.id, target_id=cedar).count(),
            within=WITHIN,
            what="the offense recorded",
        )
        await running.drained("automod")
    cases = await Case.filter(guild_id=guild.id).order_by("number")
    assert [(c.action, c.source, c.points) for c in cases] == [
        ("offense", "discord", 2),
        ("warn", "discord", 0),  # the ladder: 0 -> 2 points crosses its warn at 1
    ]
    assert cases[0].content == "buy cheap followers"
    assert "'cheap followers'" in cases[0].reason
