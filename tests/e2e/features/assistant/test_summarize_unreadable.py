"""`/summarize` in a channel the bot may not read (found by the chaos suite, issue 17).

A moderator summarising #staff-chat, which the bot cannot see: Discord answered the read with
403, the job was retried three times and dead-lettered, and the moderator's answer stayed
"thinking..." for good. Now the moderator is told why, privately.
"""

from __future__ import annotations

import typing

import pytest

from tests.support.assistant import answered
from tests.support.discord import Discord
from tests.support.world import channel_named

if typing.TYPE_CHECKING:
    from tests.support.assistant import AssistantHarness
    from tests.support.bot import BotRunning

pytestmark = pytest.mark.integration


async def test_summarize_in_a_channel_the_bot_cannot_read_says_so(
    assistant: AssistantHarness, bot_running: BotRunning
) -> None:
    await assistant.enable()
    staff = Discord(assistant.sandbox, assistant.http, channel="staff-chat")
    async with bot_running(), assistant.worker():
        answer = await answered(staff, await staff.use("ada", "/summarize", count=10))
    channel = channel_named(staff.guild, "staff-chat")
    assert answer.ephemeral
    assert answer.content == (
        f"I can't read <#{channel}>: I need View Channel and Read Message History there "
        "to summarize it."
    )
    dead = assistant.keyspace.key("dead_letter", "ai")
    assert await assistant.redis.xlen(dead) == 0
