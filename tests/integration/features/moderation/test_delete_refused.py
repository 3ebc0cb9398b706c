"""Discord refusing automod's bulk delete (found by the chaos suite, issue 17).

hikari wraps a bulk delete's error in `BulkDeleteError`, which is not an HTTP response error,
so the guard did not see Discord's refusal: a 403 (the bot may not manage messages in that
channel) failed the whole automod batch, which was retried five times and dead-lettered,
members' messages with it. Now the refusal is the case's outcome (`failed`, "Discord
refused: Missing Access"), as for every other action, and the batch completes.
"""

from __future__ import annotations

import datetime
import typing

import pytest

from tests.support.moderation import guard_context, moderation_section, rule
from tests.support.world import channel_named, user_named
from townsquare.core.guard.models import Case, CaseStatus
from townsquare.features.moderation.domain.automod import moderate
from townsquare.features.moderation.domain.rules import Message

if typing.TYPE_CHECKING:
    from tests.support.pipeline import Stack

pytestmark = pytest.mark.integration


async def test_a_refused_bulk_delete_is_a_failed_case_not_a_failed_batch(stack: Stack) -> None:
    guild, sandbox = stack.guild, stack.sandbox
    staff = channel_named(guild, "staff-chat")  # hidden from the bot: Discord answers 403
    section = moderation_section(
        automod={"banned_words": ["badword"]}, rules={"words": rule("delete", 1)}
    )
    author = user_named(sandbox, "dahlia")
    now_ms = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
    channel = sandbox.world.channel(staff)
    assert channel is not None
    made = [
        sandbox.world.create_message(channel, author, text)
        for text in ("a badword here", "another BADWORD")
    ]
    batch = [
        Message(guild.id, staff, author, m.id, now_ms + i, frozenset(), m.content, 0)
        for i, m in enumerate(made)
    ]
    async with guard_context(sandbox, stack.redis, stack.keyspace, section) as context:
        outcome = await moderate(context, section, batch)
    assert outcome.offenses == 2
    assert {m.id for m in made} <= set(sandbox.world.messages), "Discord deleted nothing"
    [delete] = await Case.filter(guild_id=guild.id, action="delete")
    assert delete.status == CaseStatus.FAILED
    assert delete.detail == "Discord refused: Missing Access (50001)"
