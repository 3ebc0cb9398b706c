"""End to end: a member mentions the bot in a channel, the shard publishes the message (with
its text) to the `ai` stream, a worker answers as a reply; replying to that answer continues
the conversation with its last turns."""

from __future__ import annotations

import contextlib
import typing

import pytest

from tests.support.assistant import RULES, WITHIN
from tests.support.sandbox import control
from tests.support.shards import shards_running
from tests.support.waiting import wait_until
from tests.support.world import channel_named, user_named
from townsquare.features.assistant.domain.retrieval import search_passages

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.support.assistant import AssistantHarness
    from townsquare.sandbox.world.models import Message

pytestmark = pytest.mark.integration


async def say(
    assistant: AssistantHarness, channel: int, content: str, reply_to: int | None = None
) -> int:
    """alder posts `content` in `channel` (a reply to `reply_to`); the message id."""
    sandbox = assistant.sandbox
    body = {"channel_id": str(channel), "author_id": str(user_named(sandbox, "alder"))}
    body["content"] = content
    if reply_to is not None:
        body["reply_to"] = str(reply_to)
    posted = await control(assistant.http, sandbox.info, "POST", "/messages", body)
    return int(posted["id"])


@contextlib.asynccontextmanager
async def shard_and_worker(assistant: AssistantHarness) -> AsyncIterator[None]:
    """A shard (with the assistant's settings: MESSAGE_CONTENT) and an `ai` worker."""
    sandbox = assistant.sandbox
    settings = assistant.settings()
    async with (
        shards_running(settings, assistant.redis_url, assistant.keyspace, sandbox.info),
        assistant.worker(),
    ):
        await wait_until(
            lambda: any(s.outbox is not None for s in sandbox.hub.sessions.values()),
            within=WITHIN,
            what="the shard connected",
        )
        yield


async def test_a_mention_is_answered_and_a_reply_continues_it(
    assistant: AssistantHarness,
) -> None:
    world = assistant.sandbox.world
    general = channel_named(world.guilds[assistant.guild_id], "general")
    media = channel_named(world.guilds[assistant.guild_id], "media")
    await assistant.enable(channel_ids=[general])
    await assistant.document("Server rules", RULES)
    bot = world.application.bot_user_id

    def reply_to(message_id: int) -> Message | None:
        return next(
            (
                m
                for m in world.messages.values()
                if m.author_id == bot and m.referenced_message_id == message_id
            ),
            None,
        )

    async with shard_and_worker(assistant):
        ignored = await say(assistant, media, f"<@{bot}> what are the rules about links?")
        asked = await say(assistant, general, f"<@{bot}> what are the rules about links?")
        await wait_until(lambda: reply_to(asked) is not None, within=WITHIN, what="an answer")
        first = reply_to(asked)
        assert first is not None
        followed = await say(assistant, general, "and spam messages?", reply_to=first.id)
        await wait_until(lambda: reply_to(followed) is not None, within=WITHIN, what="a reply")

    second = reply_to(followed)
    assert second is not None
    assert first.content.startswith("Do not post invite links to other servers. [1]")
    assert first.allowed_mentions is not None and first.allowed_mentions["parse"] == []
    assert second.content.startswith("No spam: one message is enough. [1]")
    assert reply_to(ignored) is None  # #media is not an assistant channel: no reply at all
    requests = await assistant.model_requests("generateContent")
    assert [len(r["contents"]) for r in requests] == [1, 3]  # the second carried the first turn
    assert requests[1]["contents"][0]["parts"][0]["text"] == "what are the rules about links?"


async def test_an_indexed_channel_follows_posts_edits_and_deletions(
    assistant: AssistantHarness,
) -> None:
    world = assistant.sandbox.world
    guild = world.guilds[assistant.guild_id]
    rules, general = channel_named(guild, "rules"), channel_named(guild, "general")
    await assistant.enable(knowledge_channel_ids=[rules])
    bot = world.application.bot_user_id

    async def found(words: str) -> list[str]:
        hits = await search_passages(assistant.guild_id, words, documents_limit=None)
        return [hit.text for hit in hits]

    async with shard_and_worker(assistant):
        posted = await say(assistant, rules, "Voice chat opens at noon every day.")
        await wait_until(lambda: _has(found("voice chat")), within=WITHIN, what="indexed")
        asked = await say(assistant, general, f"<@{bot}> when does voice chat open?")
        await wait_until(
            lambda: any(m.referenced_message_id == asked for m in world.messages.values()),
            within=WITHIN,
            what="the answer",
        )
        world.edit_message(world.messages[posted], content="Voice chat opens at nine.")
        await wait_until(lambda: _has(found("nine")), within=WITHIN, what="re-indexed")
        world.delete_message(world.messages[posted])
        await wait_until(
            lambda: _has(found("voice chat"), empty=True), within=WITHIN, what="forgotten"
        )

    [answer] = [m for m in world.messages.values() if m.referenced_message_id == asked]
    link = f"https://discord.com/channels/{assistant.guild_id}/{rules}/{posted}"
    assert answer.content.startswith("Voice chat opens at noon every day. [1]")
    assert answer.content.endswith(f"[1] #rules — <{link}>")


async def _has(texts: typing.Awaitable[list[str]], *, empty: bool = False) -> bool:
    return not await texts if empty else bool(await texts)
